/*
 * lookupd - answers recipient questions for smtpd and queued.
 *
 * Started by ternd as "tern-lookupd -c CONFIG [-d] [-v]" with fd 3 its
 * channel to ternd.  ternd hands it one connected socket per client
 * (MSG_MASTER_PEER); lookupd serves every client from one epoll loop,
 * whose wake-up costs the same with two clients or a thousand.
 * It opens the alias maps, then drops to tern_user (no chroot: getpwnam
 * needs /etc/passwd).  Clients are untrusted: a request that does not
 * decode is answered as a temporary failure, an unexpected message is
 * logged and dropped, a broken frame disconnects that client and nothing
 * else, and a client that does not read its replies is not read from
 * until it does, so no client can make lookupd grow without bound or
 * exit.
 */
#include "config.h"

#include <sys/epoll.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "daemon_channel.h"
#include "ipc.h"
#include "log.h"
#include "lookup_auth.h"
#include "lookup_rcpt.h"
#include "lookup_virtual.h"
#include "msg.h"
#include "msg_codec.h"
#include "privsep.h"
#include "settings.h"
#include "xmalloc.h"

#define LOOKUPD_MAX_CLIENTS	4096

struct client {
	struct ipc_conn	 conn;
	uint32_t	 kind;		/* enum peer_kind */
	int		 dead;		/* to be removed after this round */
	uint32_t	 watched;	/* its events in the epoll set */
};

static struct settings settings;
static struct daemon_opts opts;
static struct lookup_ctx ctx;
static struct lookup_auth *auth;
static struct ipc_conn master;
static struct client **clients;
static size_t nclients;
static int epfd = -1;		/* clients (data.ptr) and master (NULL) */

int main(int argc, char **argv);

/* set_nonblock - make fd non-blocking; -1 on failure */
static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -1;
	return 0;
}

/* peer_name - "smtpd" or "queued" for logs */
static const char *
peer_name(uint32_t kind)
{
	return kind == PEER_SMTPD ? "smtpd" : kind == PEER_QUEUED ?
	    "queued" : "client";
}

/* client_drop - disconnect c, logging why when why is not NULL */
static void
client_drop(struct client *c, const char *why)
{
	if (why != NULL)
		log_warn("%s client on fd %d: %s; disconnecting",
		    peer_name(c->kind), c->conn.fd, why);
	else
		log_debug("%s client on fd %d closed", peer_name(c->kind),
		    c->conn.fd);
	ipc_conn_close(&c->conn);
	c->dead = 1;
}

/* client_add - serve a new client on fd (taken over) */
static void
client_add(int fd, uint32_t kind)
{
	struct client *c;

	if (kind != PEER_SMTPD && kind != PEER_QUEUED) {
		log_warn("ternd sent a peer of unknown kind %u", kind);
		close(fd);
		return;
	}
	if (nclients >= LOOKUPD_MAX_CLIENTS) {
		log_warn("too many clients (%d); refusing a new %s",
		    LOOKUPD_MAX_CLIENTS, peer_name(kind));
		close(fd);
		return;
	}
	if (set_nonblock(fd) == -1) {
		log_warn("cannot make the %s socket non-blocking: %s",
		    peer_name(kind), strerror(errno));
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	ipc_conn_init(&c->conn, fd);
	c->kind = kind;
	c->watched = EPOLLIN;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &(struct epoll_event){
	    .events = c->watched, .data.ptr = c }) == -1) {
		log_warn("cannot watch the %s socket: %s", peer_name(kind),
		    strerror(errno));
		ipc_conn_close(&c->conn);
		free(c);
		return;
	}
	clients = xreallocarray(clients, nclients + 1, sizeof(*clients));
	clients[nclients++] = c;
	log_debug("new %s client on fd %d", peer_name(kind), fd);
}

/* reply_verdict - answer request id of c with a verdict of type */
static void
reply_verdict(struct client *c, uint32_t type, uint32_t id, uint32_t v)
{
	struct msg_verdict a = { v };
	struct ipc_msg r;

	if (msg_encode(&r, type, id, &a) == 0)
		ipc_conn_queue(&c->conn, &r);
}

/* reply_resolved - answer MSG_LOOKUP_RESOLVE (TEMPFAIL for address NULL) */
static void
reply_resolved(struct client *c, uint32_t id, const char *address)
{
	struct lookup_targets t = { NULL, 0, 0 };
	struct msg_resolved a = { LOOKUP_TEMPFAIL, 0, NULL };
	struct ipc_msg r;
	size_t i;

	if (address != NULL)
		a.verdict = lookup_rcpt_resolve(&ctx, address, &t);
	a.n = (uint32_t)t.n;
	a.t = xcalloc(t.n + 1, sizeof(*a.t));
	for (i = 0; i < t.n; i++) {
		a.t[i].kind = t.v[i].kind;
		a.t[i].target = t.v[i].target;
	}
	if (msg_encode(&r, MSG_LOOKUPD_RESOLVED, id, &a) != 0) {
		/* Logged; queued hears a temporary failure, not silence. */
		a.verdict = LOOKUP_TEMPFAIL;
		a.n = 0;
		if (msg_encode(&r, MSG_LOOKUPD_RESOLVED, id, &a) != 0)
			fatalx("cannot encode an empty MSG_LOOKUPD_RESOLVED");
	}
	free(a.t);
	lookup_targets_free(&t);
	ipc_conn_queue(&c->conn, &r);
}

/*
 * reply_auth - answer MSG_LOOKUP_AUTH or MSG_LOOKUP_SENDER_LOGIN; one
 * that does not decode, or not from smtpd, gets AUTH_TEMPFAIL.
 */
static void
reply_auth(struct client *c, struct ipc_msg *m)
{
	char vis[MSG_AUTH_FIELD_MAX * 4 + 1];
	struct msg_sender_login sl;
	enum auth_verdict v = AUTH_TEMPFAIL;
	struct msg_auth a;
	const char *why = "only smtpd asks this";

	if (c->kind == PEER_SMTPD && m->type == MSG_LOOKUP_AUTH &&
	    msg_decode(m, MSG_LOOKUP_AUTH, &a, &why) == 0) {
		v = lookup_auth_verify(auth, a.login, a.password);
		log_debug("auth <%s>: %s", log_vis(vis, sizeof(vis), a.login,
		    strlen(a.login)), v == AUTH_GRANTED ? "granted" : "denied");
		why = NULL;
	} else if (c->kind == PEER_SMTPD &&
	    m->type == MSG_LOOKUP_SENDER_LOGIN &&
	    msg_decode(m, MSG_LOOKUP_SENDER_LOGIN, &sl, &why) == 0) {
		v = lookup_auth_sender(auth, sl.sender, sl.login);
		why = NULL;
	}
	if (why != NULL)
		msg_log_reject(peer_name(c->kind), m, why);
	/* The password must not outlive the check: the decoded fields
	 * point into the frame, and this clears them all. */
	if (m->data != NULL)
		explicit_bzero(m->data, m->len);
	reply_verdict(c, m->type == MSG_LOOKUP_AUTH ?
	    MSG_LOOKUPD_AUTH_VERDICT : MSG_LOOKUPD_SENDER_VERDICT, m->id, v);
}

/*
 * client_request - answer one frame.  A request that does not decode is
 * answered as a temporary failure; a frame that is no request is logged
 * and dropped.  The client stays either way.
 */
static void
client_request(struct client *c, struct ipc_msg *m)
{
	char vis[MSG_ADDR_MAX * 4 + 1];
	struct msg_address a;
	const char *why;

	if (m->type == MSG_LOOKUP_AUTH || m->type == MSG_LOOKUP_SENDER_LOGIN) {
		reply_auth(c, m);
		return;
	}
	if (m->type != MSG_LOOKUP_RCPT && m->type != MSG_LOOKUP_RESOLVE) {
		msg_log_reject(peer_name(c->kind), m, "unexpected type");
		return;
	}
	if (msg_decode(m, m->type, &a, &why) != 0) {
		msg_log_reject(peer_name(c->kind), m, why);
		a.address = NULL;
	} else
		log_debug("%s %s <%s>", peer_name(c->kind), m->type ==
		    MSG_LOOKUP_RCPT ? "rcpt" : "resolve",
		    log_vis(vis, sizeof(vis), a.address, strlen(a.address)));
	if (m->type == MSG_LOOKUP_RESOLVE)
		reply_resolved(c, m->id, a.address);
	else
		reply_verdict(c, MSG_LOOKUPD_RCPT_VERDICT, m->id,
		    a.address != NULL ? lookup_rcpt_verdict(&ctx, a.address) :
		    LOOKUP_TEMPFAIL);
}

/*
 * client_process - answer buffered requests while the client keeps up
 * with its replies.  A reply that does not fit the socket stops
 * processing until POLLOUT says it drained: this bounds the memory one
 * client can pin to one reply.
 */
static void
client_process(struct client *c)
{
	struct ipc_msg m;
	int r;

	while (!ipc_conn_pending(&c->conn)) {
		if ((r = ipc_conn_next(&c->conn, &m)) == 0)
			return;
		if (r == -1) {
			client_drop(c, "malformed frame");
			return;
		}
		client_request(c, &m);
		ipc_msg_free(&m);
		if (ipc_conn_flush(&c->conn) == -1) {
			client_drop(c, strerror(errno));
			return;
		}
	}
}

/* client_io - handle poll results for c */
static void
client_io(struct client *c, short revents)
{
	ssize_t n;

	if (revents & POLLOUT) {
		if (ipc_conn_flush(&c->conn) == -1) {
			client_drop(c, strerror(errno));
			return;
		}
		client_process(c);
		if (c->dead)
			return;
	}
	if (ipc_conn_pending(&c->conn)) {
		/* A peer gone with replies unsent would poll HUP forever. */
		if ((revents & (POLLHUP | POLLERR)) && !(revents & POLLOUT))
			client_drop(c, "connection lost");
		return;
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	n = ipc_conn_read(&c->conn);
	if (n == 0) {
		client_drop(c, NULL);
		return;
	}
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			client_drop(c, strerror(errno));
		return;
	}
	client_process(c);
}

/* clients_reap - free the clients dropped in this round */
static void
clients_reap(void)
{
	size_t i, j;

	for (i = j = 0; i < nclients; i++) {
		if (clients[i]->dead)
			free(clients[i]);
		else
			clients[j++] = clients[i];
	}
	nclients = j;
}

/* lookupd_reload - reread the configuration and reopen the maps */
static void
lookupd_reload(void)
{
	if (daemon_reload(&opts, &settings) == -1)
		return;
	/*
	 * We run as tern_user now: a map still named stays open as it is
	 * (it follows its files by itself, and tern_user may not reach
	 * them); a new one must be readable by tern_user.
	 */
	ctx.aliases = lookup_aliases_reload(ctx.aliases, &settings.alias_maps);
	ctx.virtual = lookup_virtual_reload(ctx.virtual, &settings);
	/* It points into the old settings' strings: reopen it. */
	lookup_auth_close(auth);
	auth = lookup_auth_open(&settings);
	/* Without root the new directory may not be reachable: then the
	 * old descriptor stays (and a warning says so). */
	int fd = settings.mailbox_base[0] == '\0' ? -1 :
	    open(settings.mailbox_base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 || settings.mailbox_base[0] == '\0') {
		if (ctx.mailbox_fd >= 0)
			close(ctx.mailbox_fd);
		ctx.mailbox_fd = fd;
	} else
		log_warn("mailbox_base %s: %s; keeping the previous one",
		    settings.mailbox_base, strerror(errno));
}

/* lookupd_exit - close the maps and exit with status */
static void __attribute__((noreturn))
lookupd_exit(int status)
{
	/*
	 * Nothing on disk needs it, but BDB's private regions hold their
	 * memory by offset, which leak checkers report unless closed.
	 */
	lookup_aliases_close(ctx.aliases);
	lookup_virtual_close(ctx.virtual);
	lookup_auth_close(auth);
	exit(status);
}

/* lookupd_stop - send what is still queued, then exit */
static void __attribute__((noreturn))
lookupd_stop(void)
{
	size_t i;

	for (i = 0; i < nclients; i++)
		if (!clients[i]->dead)
			(void)ipc_conn_flush(&clients[i]->conn);
	log_info("stopping");
	lookupd_exit(0);
}

/* master_reload - MSG_MASTER_RELOAD from ternd */
static void
master_reload(void *arg)
{
	(void)arg;
	lookupd_reload();
}

/* master_stop - MSG_MASTER_STOP from ternd */
static void
master_stop(void *arg)
{
	(void)arg;
	lookupd_stop();
}

/* master_peer - MSG_MASTER_PEER: a new client from ternd */
static void
master_peer(void *arg, uint32_t kind, int fd)
{
	(void)arg;
	client_add(fd, kind);
}

/* master_io - handle poll results for the ternd channel */
static void
master_io(short revents)
{
	static const struct daemon_channel_ops ops = {
		.stop = master_stop, .reload = master_reload,
		.peer = master_peer,
	};

	if ((revents & POLLOUT) && ipc_conn_flush(&master) == -1)
		fatal("write to ternd");
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	switch (daemon_channel_read(&master, &ops)) {
	case DAEMON_CHANNEL_CLOSED:
		log_info("ternd closed the channel; exiting");
		lookupd_exit(0);
	case DAEMON_CHANNEL_ERROR:
		fatal("read from ternd");
	case DAEMON_CHANNEL_MALFORMED:
		fatalx("malformed frame from ternd");
	default:
		break;
	}
}

/*
 * watch - fd's events in the epoll set: output while replies wait (a
 * client that does not read them is not read from), else input.  *was
 * holds what is set now.
 */
static void
watch(int fd, void *ptr, uint32_t *was, int pending)
{
	uint32_t want = pending ? EPOLLOUT : EPOLLIN;

	if (ptr == NULL)
		want = EPOLLIN | (pending ? EPOLLOUT : 0);
	if (want == *was)
		return;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &(struct epoll_event){
	    .events = want, .data.ptr = ptr }) == -1)
		fatal("epoll_ctl");
	*was = want;
}

/* poll_events - epoll's event bits as poll's, for the handlers */
static short
poll_events(uint32_t ev)
{
	return (short)(((ev & EPOLLIN) ? POLLIN : 0) |
	    ((ev & EPOLLOUT) ? POLLOUT : 0) | ((ev & EPOLLHUP) ? POLLHUP : 0) |
	    ((ev & EPOLLERR) ? POLLERR : 0));
}

/* lookupd_loop - serve ternd and the clients until told to stop */
static void __attribute__((noreturn))
lookupd_loop(void)
{
	struct epoll_event ev[64];
	uint32_t master_watched = EPOLLIN;
	short master_events;
	int i, n;

	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, master.fd, &(struct epoll_event){
	    .events = master_watched, .data.ptr = NULL }) == -1)
		fatal("epoll_ctl");
	for (;;) {
		watch(master.fd, NULL, &master_watched,
		    ipc_conn_pending(&master));
		if ((n = epoll_wait(epfd, ev, 64, -1)) == -1) {
			if (errno == EINTR)
				continue;
			fatal("epoll_wait");
		}
		/* Clients first, master after: a client it adds is not in
		 * this round's events, and one dropped here stays allocated
		 * (dead) until clients_reap. */
		master_events = 0;
		for (i = 0; i < n; i++) {
			struct client *c = ev[i].data.ptr;

			if (c == NULL) {
				master_events = poll_events(ev[i].events);
				continue;
			}
			if (c->dead)
				continue;
			client_io(c, poll_events(ev[i].events));
			if (!c->dead)
				watch(c->conn.fd, c, &c->watched,
				    ipc_conn_pending(&c->conn));
		}
		clients_reap();
		if (master_events != 0)
			master_io(master_events);
	}
}

int
main(int argc, char **argv)
{
	daemon_init(argc, argv, "lookupd", &opts, &settings);
	daemon_channel_open(&master);
	ctx.settings = &settings;
	ctx.mailbox_fd = -1;
	if (settings.mailbox_base[0] != '\0' && (ctx.mailbox_fd =
	    open(settings.mailbox_base, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		log_warn("mailbox_base %s: %s", settings.mailbox_base,
		    strerror(errno));
	/* Open the maps as root, in case they are not world-readable. */
	ctx.aliases = lookup_aliases_open(&settings.alias_maps);
	ctx.virtual = lookup_virtual_open(&settings);
	auth = lookup_auth_open(&settings);
	/* No chroot: getpwnam() needs /etc/passwd and NSS. */
	privsep_drop(settings.tern_user, NULL);
	log_info("started");
	lookupd_loop();
}
