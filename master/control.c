/*
 * control - serving ternctl on SPOOL/run/control (see control.h).
 *
 * Called from ternd's main loop only.  Every client is non-blocking with
 * a bounded request (one line), a bounded answer and a deadline, and at
 * most CONTROL_CLIENTS are served at once, so a client that connects and
 * says nothing, or never reads, costs a slot for a few seconds and
 * nothing more.  What a client may do depends only on what the kernel
 * says of its peer (control_admin): root, ternd's own user (which
 * matters when ternd runs unprivileged in tests) and members of
 * tern_admin_group are administrators; anyone else may make only the
 * requests that control_request.h lists for anyone.
 *
 * Group membership comes from SO_PEERGROUPS: the supplementary groups
 * the kernel recorded for the peer when it connected, which the peer
 * cannot forge.  Reading /proc/PID/status instead would race with the
 * pid being reused, and the group database (getgrouplist) says what a
 * user would get at login, not what the connecting process holds; it is
 * only the fallback for kernels without SO_PEERGROUPS (before 4.13).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "control_request.h"
#include "log.h"
#include "xmalloc.h"

#define CONTROL_CLIENTS		16
#define CONTROL_REQ_MAX		CONTROL_LINE_MAX
#define PEER_GROUPS_MAX		65536	/* the kernel's NGROUPS_MAX */
#define CONTROL_OUT_MAX		(64 * 1024 * 1024)
#define CONTROL_DEADLINE	30	/* seconds for a whole exchange */

struct client {
	int		 fd;
	uint32_t	 id;
	uid_t		 uid;
	int		 admin;		/* may change anything */
	time_t		 deadline;
	char		 req[CONTROL_REQ_MAX];
	size_t		 reqlen;
	int		 waiting;	/* for queued's listing */
	int		 answered;	/* "ok" sent: queued's answer began */
	int		 done;		/* close once out is written */
	char		*out;
	size_t		 outlen, outoff, outcap;
	char		*tail;		/* ternd's own lines after queued's */
};

static int lfd = -1;
static char sockpath[4096];
static struct client clients[CONTROL_CLIENTS];
static uint32_t next_id;
static const struct control_ops *ops;
static gid_t admin_gid;
static int have_admin_gid;

/* control_admin_group - members of gid are administrators (have 0: none) */
void
control_admin_group(gid_t gid, int have)
{
	admin_gid = gid;
	have_admin_gid = have;
}

/* peer_in_group - is the peer on fd (uid, primary gid) in admin_gid? */
static int
peer_in_group(int fd, uid_t uid, gid_t gid)
{
	gid_t small[64], *g = small;
	socklen_t len = sizeof(small);
	int n = 0, in = 0;

	if (!have_admin_gid)
		return 0;
	if (gid == admin_gid)
		return 1;
#ifdef SO_PEERGROUPS
	int rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);

	if (rc < 0 && errno == ERANGE && len > 0 &&
	    len <= PEER_GROUPS_MAX * sizeof(gid_t)) {
		g = xmalloc(len);
		rc = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len);
	}
	if (rc < 0 && errno == ENOPROTOOPT) {
		if (g != small)
			free(g);
		goto database;
	}
	n = rc < 0 ? 0 : (int)(len / sizeof(gid_t));
	for (int i = 0; i < n && !in; i++)
		in = g[i] == admin_gid;
	if (g != small)
		free(g);
	return in;
database:
#endif
	{
		struct passwd *pw = getpwuid(uid);

		n = (int)(sizeof(small) / sizeof(small[0]));
		if (pw == NULL || getgrouplist(pw->pw_name, gid, small, &n) < 0)
			return 0;
		for (int i = 0; i < n && !in; i++)
			in = small[i] == admin_gid;
	}
	(void)fd;
	return in;
}

/* control_open - the listening socket, mode 0666: rights are per request */
int
control_open(const char *spool, const struct control_ops *o)
{
	struct sockaddr_un sun;

	ops = o;
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		clients[i].fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sockpath, sizeof(sockpath), "%s/%s", spool,
	    CONTROL_SOCKET) >= sizeof(sun.sun_path)) {
		log_warn("control socket path too long: %s", sockpath);
		return -1;
	}
	strlcpy(sun.sun_path, sockpath, sizeof(sun.sun_path));
	unlink(sockpath);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(sockpath, 0666) < 0 || listen(lfd, 16) < 0) {
		log_warn("control socket %s: %s", sockpath, strerror(errno));
		if (lfd >= 0)
			close(lfd);
		lfd = -1;
		return -1;
	}
	return 0;
}

static void
client_drop(struct client *c)
{
	close(c->fd);
	c->fd = -1;
	free(c->out);
	c->out = NULL;
	free(c->tail);
	c->tail = NULL;
}

/* control_close - stop serving */
void
control_close(void)
{
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i].fd >= 0)
			client_drop(&clients[i]);
	if (lfd >= 0) {
		close(lfd);
		unlink(sockpath);
	}
	lfd = -1;
}

static void
client_out(struct client *c, const char *s)
{
	size_t len = strlen(s);

	if (c->outlen + len > CONTROL_OUT_MAX)
		return;
	if (c->outlen + len > c->outcap) {
		while (c->outlen + len > c->outcap)
			c->outcap = c->outcap ? c->outcap * 2 : 1024;
		c->out = xreallocarray(c->out, c->outcap, 1);
	}
	memcpy(c->out + c->outlen, s, len);
	c->outlen += len;
}

/*
 * client_fail - end a client waiting for queued with an error line: the
 * first line when nothing was answered yet, else a last line that tells
 * ternctl the answer is incomplete.
 */
static void
client_fail(struct client *c, const char *why)
{
	client_out(c, "error: ");
	client_out(c, why);
	client_out(c, c->answered ? "; the answer is incomplete\n" :
	    " before it answered\n");
	c->waiting = 0;
	c->done = 1;
}

static void
client_accept(void)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct client *c = NULL;
	int fd;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) >= 0) {
		len = sizeof(cred);
		for (int i = 0; i < CONTROL_CLIENTS && c == NULL; i++)
			if (clients[i].fd < 0)
				c = &clients[i];
		if (c == NULL || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred,
		    &len) < 0) {
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->id = ++next_id;
		c->uid = cred.uid;
		c->admin = cred.uid == 0 || cred.uid == geteuid() ||
		    peer_in_group(fd, cred.uid, cred.gid);
		c->deadline = time(NULL) + CONTROL_DEADLINE;
		c = NULL;
	}
}

/* client_to_queued - pass request r to queued; 0, or -1 (answered) */
static int
client_to_queued(struct client *c, const struct control_req *r)
{
	struct msg_qid qids[QADMIN_QIDS_MAX];
	struct msg_queue_admin a = { r->op, (uint32_t)c->uid, r->flags,
	    r->domain, r->nqids, qids };

	if (c->admin)
		a.flags |= QADMIN_F_ADMIN;
	for (uint32_t i = 0; i < r->nqids; i++)
		qids[i].qid = r->qids[i];
	if (ops->queue_ask(c->id, r->cmd == CTL_REBUILD ?
	    MSG_MASTER_QUEUE_REBUILD : MSG_MASTER_QUEUE_ADMIN, &a) < 0) {
		client_out(c, "error: queued is not running\n");
		return -1;
	}
	/* "ok" waits for queued's first line: a queued that dies first
	 * makes it an error (control_queue_abort). */
	c->done = 0;
	c->waiting = 1;
	return 0;
}

static void
client_request(struct client *c)
{
	struct control_req r;
	char buf[4096];

	c->done = 1;
	if (control_request_parse(c->req, &r, buf, sizeof(buf)) < 0) {
		client_out(c, "error: ");
		client_out(c, buf);
		client_out(c, "\n");
		return;
	}
	if (r.cmd == CTL_STATUS) {
		client_out(c, "ok\n");
		ops->status(buf, sizeof(buf));
		client_out(c, buf);
		return;
	}
	if (r.admin_only && !c->admin) {
		log_warn("control: %s refused to uid %ld", r.name, (long)c->uid);
		client_out(c, "error: permission denied\n");
		return;
	}
	log_info("control: %s (uid %ld)", r.name, (long)c->uid);
	if (r.cmd == CTL_STATS) {
		ops->stats(buf, sizeof(buf));
		c->tail = xstrdup(buf);
	}
	if (r.to_queued || r.cmd == CTL_REBUILD) {
		(void)client_to_queued(c, &r);
		return;
	}
	client_out(c, "ok\n");
	if (r.cmd == CTL_FLUSH)
		ops->flush();
	else if (r.cmd == CTL_RELOAD)
		ops->reload();
	else
		ops->stop();
}

static void
client_read(struct client *c)
{
	ssize_t n;
	char *nl;

	n = read(c->fd, c->req + c->reqlen, sizeof(c->req) - 1 - c->reqlen);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_drop(c);
		return;
	}
	if (n < 0)
		return;
	c->reqlen += (size_t)n;
	c->req[c->reqlen] = '\0';
	if ((nl = memchr(c->req, '\n', c->reqlen)) == NULL) {
		if (c->reqlen == sizeof(c->req) - 1 ||
		    memchr(c->req, '\0', c->reqlen) != NULL)
			client_drop(c);
		return;
	}
	*nl = '\0';
	if (nl > c->req && nl[-1] == '\r')
		nl[-1] = '\0';
	client_request(c);
}

static void
client_write(struct client *c)
{
	ssize_t n;

	if (c->outoff < c->outlen) {
		n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			client_drop(c);
			return;
		}
		if (n > 0)
			c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen && c->done)
		client_drop(c);
}

/* control_pollfds - slots needed */
size_t
control_pollfds(void)
{
	return lfd >= 0 ? 1 + CONTROL_CLIENTS : 0;
}

/* control_fill - the fds to poll; also drops clients past deadline */
size_t
control_fill(struct pollfd *pfd)
{
	time_t now = time(NULL);
	size_t n = 0;

	if (lfd < 0)
		return 0;
	pfd[n].fd = lfd;
	pfd[n++].events = POLLIN;
	for (int i = 0; i < CONTROL_CLIENTS; i++) {
		struct client *c = &clients[i];

		if (c->fd >= 0 && now > c->deadline) {
			if (c->waiting) {
				client_fail(c, "queued did not answer in time");
				client_write(c);	/* what fits now */
			}
			if (c->fd >= 0)
				client_drop(c);
		}
		if (c->fd < 0)
			continue;
		pfd[n].fd = c->fd;
		if (!c->done && !c->waiting)
			pfd[n].events = POLLIN;		/* the request */
		else if (c->outoff < c->outlen || c->done)
			pfd[n].events = POLLOUT;	/* the answer */
		else
			pfd[n].events = 0;		/* queued is listing */
		n++;
	}
	return n;
}

static struct client *
client_by_fd(int fd)
{
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i].fd == fd)
			return &clients[i];
	return NULL;
}

/* control_events - accept, read requests, write answers */
void
control_events(const struct pollfd *pfd, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct client *c;

		if (pfd[i].revents == 0)
			continue;
		if (pfd[i].fd == lfd) {
			client_accept();
			continue;
		}
		if ((c = client_by_fd(pfd[i].fd)) == NULL)
			continue;
		if (pfd[i].revents & (POLLERR | POLLNVAL))
			client_drop(c);
		else if (pfd[i].revents & POLLOUT)
			client_write(c);
		else if (pfd[i].revents & (POLLIN | POLLHUP))
			client_read(c);
	}
}

static struct client *
client_by_id(uint32_t id)
{
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].id == id &&
		    clients[i].waiting)
			return &clients[i];
	return NULL;
}

/* client_answered - queued's answer begins: the "ok" line goes first */
static void
client_answered(struct client *c)
{
	if (!c->answered) {
		client_out(c, "ok\n");
		c->answered = 1;
	}
}

/* control_queue_line - one line of the listing (or a piece of one) */
void
control_queue_line(uint32_t client, const char *line, int more)
{
	struct client *c = client_by_id(client);

	if (c != NULL) {
		client_answered(c);
		client_out(c, line);
		if (!more)
			client_out(c, "\n");
		/* A long listing is sent while it grows. */
		client_write(c);
	}
}

/* control_queue_end - the listing is complete */
void
control_queue_end(uint32_t client)
{
	struct client *c = client_by_id(client);

	if (c != NULL) {
		client_answered(c);
		if (c->tail != NULL)
			client_out(c, c->tail);
		c->waiting = 0;
		c->done = 1;
	}
}

/* control_queue_abort - queued is gone: every client waiting fails */
void
control_queue_abort(void)
{
	for (int i = 0; i < CONTROL_CLIENTS; i++)
		if (clients[i].fd >= 0 && clients[i].waiting)
			client_fail(&clients[i], "queued stopped");
}
