/*
 * transport_lmtp - the lmtp transport of deliverd ("tern-deliverd -t
 * lmtp"): mail for local mailboxes, handed to an LMTP server (RFC 2033)
 * such as Dovecot's when mailbox_transport is set.
 *
 * queued routes every local recipient to this transport instead of the
 * local one, in jobs like the smtp transport's (MSG_QUEUED_DELIVER_SMTP,
 * whose next hop is the mailbox_transport value).  It runs on the smtp
 * transport's machinery (transport_smtp.c: a connection process per open
 * connection, kept for smtp_connection_reuse_time); only the way a
 * connection is opened is its own (lmtp_connect), and the smtp client
 * speaks LMTP on it (smtp_client.c): LHLO, and a result for each
 * recipient after the final dot.
 *
 * It runs as tern_user, never as root: the LMTP server writes the
 * mailboxes with its own privileges.  It is chrooted to spool_dir/empty
 * like the smtp transport when it can work from there: an address, or a
 * Unix socket inside that directory.  A socket elsewhere (Dovecot's
 * /var/run/dovecot/lmtp) or a host name (getaddrinfo needs /etc) cannot be
 * reached from the chroot, so then it runs unchrooted, still as
 * tern_user, and says so in the log.  The decision is made at start;
 * a reload that changes it is logged and takes effect at the next start.
 *
 * Every failure to reach the server is temporary, whatever the server
 * said: the mailbox server is this site's own, and a misconfigured or
 * stopped Dovecot must delay local mail, never bounce it.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "deliverd.h"
#include "lmtp_target.h"
#include "log.h"
#include "msg.h"
#include "smtp_client.h"
#include "smtp_spawner.h"
#include "transport_smtp.h"

/* lmtp_fail - a temporary failure of the connection (why in r) */
static int
lmtp_fail(struct smtp_reply *r, int *site, int reached)
{
	*site = reached ? SITE_OK : SITE_UNREACHABLE;
	r->code = 451;
	if (r->dsn[0] != '4')
		strlcpy(r->dsn, reached ? "4.4.0" : "4.4.1", sizeof(r->dsn));
	return -1;
}

/* lmtp_greet - open c on sa and say LHLO; 0, or -1 (r says why; *greeted
 * set once the server said anything) */
static int
lmtp_greet(struct smtp_conn *c, const char *relay, const struct sockaddr *sa,
    socklen_t salen, struct smtp_reply *r, int *greeted)
{
	enum smtp_step st;

	memset(r, 0, sizeof(*r));
	st = smtp_conn_open_lmtp(c, deliverd_settings(), relay, sa, salen, r);
	if (st == STEP_OK || r->code != 0)
		*greeted = 1;
	if (st == STEP_OK)
		st = smtp_conn_hello(c, 1, NULL, NULL, r);
	return st == STEP_OK ? 0 : -1;
}

/*
 * lmtp_unix_path - where the socket path is from this process: inside
 * the chroot, relative to it; outside, NULL while chrooted.
 */
static const char *
lmtp_unix_path(const char *path)
{
	const char *root = deliverd_chrooted();
	size_t len;

	if (root == NULL)
		return path;
	len = strlen(root);
	if (strncmp(path, root, len) != 0 || path[len] != '/')
		return NULL;
	return path + len;
}

/* lmtp_connect_unix - a Unix socket path */
static int
lmtp_connect_unix(struct smtp_conn *c, const struct lmtp_target *t,
    struct smtp_reply *r, int *site)
{
	struct sockaddr_un sun;
	const char *path = lmtp_unix_path(t->path);
	int greeted = 0;

	if (path == NULL) {
		snprintf(r->text, sizeof(r->text), "LMTP socket %s is outside "
		    "the chroot of this process (mailbox_transport changed "
		    "since tern started?)", t->path);
		strlcpy(r->dsn, "4.3.5", sizeof(r->dsn));
		return lmtp_fail(r, site, 0);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if (lmtp_greet(c, t->path, (struct sockaddr *)&sun, sizeof(sun), r,
	    &greeted) == 0)
		return 0;
	return lmtp_fail(r, site, greeted);
}

/* lmtp_connect_inet - each address of the host in turn, until one greets */
static int
lmtp_connect_inet(struct smtp_conn *c, const char *qid,
    const struct lmtp_target *t, struct smtp_reply *r, int *site)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8], relay[SMTP_RELAY_MAX], addr[INET6_ADDRSTRLEN];
	int greeted = 0, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = t->numeric ? AI_NUMERICHOST : 0;
	snprintf(port, sizeof(port), "%d", t->port);
	if (!t->numeric && deliverd_chrooted() != NULL) {
		snprintf(r->text, sizeof(r->text), "cannot look up LMTP host "
		    "%s from the chroot (mailbox_transport changed since tern "
		    "started?)", t->host);
		strlcpy(r->dsn, "4.3.5", sizeof(r->dsn));
		return lmtp_fail(r, site, 0);
	}
	if ((e = getaddrinfo(t->host, port, &hints, &res)) != 0) {
		snprintf(r->text, sizeof(r->text), "LMTP host %s: %s", t->host,
		    gai_strerror(e));
		strlcpy(r->dsn, "4.4.3", sizeof(r->dsn));
		return lmtp_fail(r, site, 0);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
		    NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		snprintf(relay, sizeof(relay), "%s[%s]:%d", t->host, addr,
		    t->port);
		if (lmtp_greet(c, relay, ai->ai_addr, ai->ai_addrlen, r,
		    &greeted) == 0) {
			freeaddrinfo(res);
			return 0;
		}
		log_debug("%s: %s", qid, r->text);
	}
	freeaddrinfo(res);
	return lmtp_fail(r, site, greeted);
}

/* lmtp_connect - smtp_connect_fn: nexthop is queued's mailbox_transport */
static int
lmtp_connect(struct smtp_conn *c, const char *qid, const char *nexthop,
    int tls_mode, struct smtp_reply *r, int *site)
{
	struct lmtp_target t;
	char err[200];

	/* LMTP is the last hop, on this host or a trusted network, spoken
	 * without TLS: REQUIRETLS (RFC 8689 2, 4.4) asks nothing of it. */
	(void)tls_mode;
	if (lmtp_target_parse(nexthop, &t, err, sizeof(err)) != 0 ||
	    t.kind == LMTP_TARGET_NONE) {
		snprintf(r->text, sizeof(r->text), "mailbox_transport %s: %s",
		    nexthop, t.kind == LMTP_TARGET_NONE ? "not set" : err);
		strlcpy(r->dsn, "4.3.5", sizeof(r->dsn));
		return lmtp_fail(r, site, 0);
	}
	if (t.kind == LMTP_TARGET_UNIX)
		return lmtp_connect_unix(c, &t, r, site);
	return lmtp_connect_inet(c, qid, &t, r, site);
}

/* lmtp_chroot_why - why the target cannot be reached from the chroot,
 * or NULL when it can */
static const char *
lmtp_chroot_why(const struct settings *set)
{
	struct lmtp_target t;
	char root[1100], err[200];
	size_t len;

	if (lmtp_target_parse(set->mailbox_transport, &t, err,
	    sizeof(err)) != 0)
		return NULL;
	if (t.kind == LMTP_TARGET_INET && !t.numeric)
		return "mailbox_transport names a host, which only the "
		    "system's resolver outside the chroot can look up";
	if (t.kind != LMTP_TARGET_UNIX)
		return NULL;
	len = (size_t)snprintf(root, sizeof(root), "%s/empty/",
	    set->spool_dir);
	if (len < sizeof(root) && strncmp(t.path, root, len) == 0)
		return NULL;
	return "the LMTP socket of mailbox_transport is outside the chroot";
}

/* lmtp_setup - decide on the chroot; the connection processes are the
 * smtp transport's, connecting with lmtp_connect */
static void
lmtp_setup(void)
{
	const char *why = lmtp_chroot_why(deliverd_settings());

	if (why != NULL)
		deliverd_chroot_skip(why);
	smtp_transport_share(lmtp_connect);
}

/* lmtp_reload - a target that the chroot decision no longer fits is
 * logged: it works after the next start */
static void
lmtp_reload(void)
{
	const struct settings *set = deliverd_settings();

	/* Connection processes made from now on get the new settings. */
	smtp_spawner_stop();
	if (deliverd_chrooted() != NULL && lmtp_chroot_why(set) != NULL)
		log_warn("mailbox_transport %s cannot be reached from the "
		    "chroot; restart tern to use it", set->mailbox_transport);
}

const struct transport_ops lmtp_transport_ops = {
	.name = "lmtp",
	.privilege = TRANSPORT_CHROOT,
	.setup = lmtp_setup,
	.job = smtp_job,
	.poll = smtp_poll,
	.events = smtp_events,
	.reaped = smtp_reaped,
	.busy = smtp_busy,
	.reload = lmtp_reload,
	.stop = smtp_stop,
};
