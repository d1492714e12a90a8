/*
 * transport_smtp - the smtp transport of deliverd ("tern-deliverd -t
 * smtp"): jobs from queued go to connection processes, their results go
 * back to queued.
 *
 * Its setup verb reads the DNS configuration, the SASL maps and the TLS
 * policy map, and opens what TLS will read (tls_client_init: OpenSSL's
 * configuration and the CA certificates, read when the first connection
 * process is started); then the skeleton (deliverd.c) chroots it to
 * SPOOL/smtp as tern_user, and it opens the MTA-STS cache inside that
 * chroot (its ready verb), before it reads a job.
 *
 * Why the smtp transport reads smtp_tls_policy_map itself rather than
 * asking lookupd: the answer is needed by a connection process, per next
 * hop, before it connects, and this process has no channel to lookupd
 * (adding one would route every connection through a second daemon for
 * a table that administrators change rarely).  The smtp_sasl_password_maps
 * are already read this way.  The map is opened before the chroot and
 * read through its open descriptor afterwards; when the transport runs
 * unchrooted, map_lookup reopens a map that ternmap replaced.  Inside the
 * chroot the path is out of reach, so a reload restarts the chrooted
 * transport (deliverd.c), which opens the new map.  A map that cannot be
 * read, or an entry that does not parse, defers the mail (4.7.5): it
 * never lowers a level.
 *
 * Why one process per connection rather than non-blocking sessions in
 * one poll loop: a connection runs a long, strictly sequential dialogue
 * (DNS, connect, greeting, EHLO, TLS, MAIL, RCPTs, DATA) where every step
 * has its own timeout; written as blocking code with bounded waits it
 * stays short and obviously right, and a crash or a hostile server
 * affects one connection, never the others.  The cost, a process per open
 * connection, is bounded by smtp_connection_limit; the processes come from
 * a spawner (smtp_spawner.c) so that they share its memory instead of
 * each keeping a copy of what the parent changed since.  The parent
 * blocks only for the spawner's fork, as it did for its own: it routes
 * jobs, forwards results and closes idle connections.
 *
 * Parent and connection process speak the queued protocol on their own
 * socketpair: the parent passes the MSG_QUEUED_DELIVER_SMTP job on (with
 * the message descriptor), the child answers MSG_DELIVERD_SMTP_RESULT
 * frames (passed on to queued) and a MSG_SMTP_CONN_DONE that says whether
 * it keeps the connection open for reuse.  Every frame is decoded and
 * encoded again on the way through (msg_codec.h), so what reaches queued
 * is always within its limits.  The parent ends an idle child by closing
 * the socketpair; the child then says QUIT and exits.  Only the parent
 * decides, so a job can never be handed to a child that is leaving.
 *
 * A frame that does not decode is rejected and logged; the channel stays.
 * A job queued sent that cannot be read is answered with its DONE alone,
 * so queued defers its recipients instead of waiting for them.
 *
 * The lmtp transport (transport_lmtp.c) runs on this same machinery: its
 * connection processes differ only in how they open a connection
 * (smtp_transport_share), and the smtp client speaks LMTP on it.
 *
 * Never: run as root, write to the spool, or report a recipient twice.
 */
#include "config.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "deliverd.h"
#include "deliverd_signals.h"
#include "dns.h"
#include "envelope.h"
#include "ipc.h"
#include "local_loop.h"
#include "log.h"
#include "map.h"
#include "msg.h"
#include "myaddr.h"
#include "msg_codec.h"
#include "qid.h"
#include "mtasts.h"
#include "smtp_client.h"
#include "smtp_dane.h"
#include "smtp_mtasts.h"
#include "smtp_requiretls.h"
#include "smtp_route.h"
#include "smtp_spawner.h"
#include "spool_layout.h"
#include "tls_client.h"
#include "tls_policy.h"
#include "transport_smtp.h"
#include "xmalloc.h"

#define SASL_MAPS_MAX	8
#define SPAWN_RETRY_MS	1000	/* after a connection process failed to start */

/* A job as decoded from MSG_QUEUED_DELIVER_SMTP. */
struct smtp_job {
	uint32_t	 id;
	char		 qid[MSG_QID_MAX + 1];
	char		 sender[MSG_ADDR_MAX + 1];
	char		 envid[MSG_ENVID_MAX + 1];
	uint32_t	 ret, body, smtputf8;
	uint32_t	 tls_request;	/* ENVELOPE_F_REQUIRETLS, _TLS_OPTIONAL */
	uint64_t	 arrival, offset, size;
	char		 nexthop[ROUTE_NEXTHOP_MAX];
	char		 delivered_to[MSG_ADDR_MAX + 1];	/* "" none */
	char		 head[MSG_ADDR_MAX + 32];	/* its field, CRLF */
	size_t		 n;
	struct smtp_rcpt *rcpts;
};

/* The parent's view of a job. */
struct pjob {
	TAILQ_ENTRY(pjob) entry;
	uint32_t	 id;
	uint32_t	 reqid;
	char		 nexthop[ROUTE_NEXTHOP_MAX];
	size_t		 n;
	uint32_t	*index;		/* entry indexes */
	unsigned char	*answered;
	struct ipc_msg	 frame;		/* as received, with the message fd */
};
TAILQ_HEAD(pjob_list, pjob);

/* A connection process. */
struct proc {
	TAILQ_ENTRY(proc) entry;
	pid_t		 pid;
	struct ipc_conn	 conn;
	struct pjob	*job;		/* NULL when idle */
	char		 nexthop[ROUTE_NEXTHOP_MAX];
	int		 kept;		/* idle with an open connection */
	time_t		 idle_since;
	int		 dead;		/* channel gone; waiting to be freed */
};
TAILQ_HEAD(proc_list, proc);

static const struct settings *set;
static struct dns_config dnscfg;
static struct map *sasl_maps[SASL_MAPS_MAX];
static size_t nsasl;
static struct map *policy_map;		/* smtp_tls_policy_map, or NULL */
static char *policy_map_path;		/* what policy_map was opened as */
static struct pjob_list waiting = TAILQ_HEAD_INITIALIZER(waiting);
static struct proc_list procs = TAILQ_HEAD_INITIALIZER(procs);
static size_t nprocs;
static smtp_connect_fn smtp_child_connect;
/* How a connection process opens its connection (smtp_transport_share). */
static smtp_connect_fn *child_connect = smtp_child_connect;

/* --- decoding (parent and child) ---------------------------------------- */

/* smtp_job_free - release a decoded job */
static void
smtp_job_free(struct smtp_job *j)
{
	for (size_t i = 0; i < j->n; i++) {
		free(j->rcpts[i].address);
		free(j->rcpts[i].orcpt);
	}
	free(j->rcpts);
	j->rcpts = NULL;
	j->n = 0;
}

/* smtp_field_ok - s may stand in a header field: no control octet
 * (UTF-8 of an SMTPUTF8 address is fine) */
static int
smtp_field_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/*
 * smtp_job_decode - MSG_QUEUED_DELIVER_SMTP into j (caller frees with
 * smtp_job_free); 0, or -1 with the reason in *why.
 */
static int
smtp_job_decode(struct ipc_msg *m, struct smtp_job *j, const char **why)
{
	struct msg_deliver_smtp d;

	memset(j, 0, sizeof(*j));
	if (msg_decode(m, MSG_QUEUED_DELIVER_SMTP, &d, why) != 0)
		return -1;
	if (!qid_valid(d.qid)) {
		*why = "bad queue ID";
		msg_free(MSG_QUEUED_DELIVER_SMTP, &d);
		return -1;
	}
	if (!smtp_field_ok(d.delivered_to)) {
		*why = "control character in Delivered-To";
		msg_free(MSG_QUEUED_DELIVER_SMTP, &d);
		return -1;
	}
	j->id = d.job;
	strlcpy(j->qid, d.qid, sizeof(j->qid));
	strlcpy(j->sender, d.sender, sizeof(j->sender));
	strlcpy(j->envid, d.envid, sizeof(j->envid));
	strlcpy(j->nexthop, d.nexthop, sizeof(j->nexthop));
	strlcpy(j->delivered_to, d.delivered_to, sizeof(j->delivered_to));
	if (j->delivered_to[0] != '\0')
		snprintf(j->head, sizeof(j->head), "Delivered-To: %s\r\n",
		    j->delivered_to);
	j->ret = d.ret;
	j->body = d.body;
	j->smtputf8 = d.smtputf8;
	j->tls_request = d.tls_request;
	j->arrival = d.arrival;
	j->offset = d.body_offset;
	j->size = d.body_size;
	j->rcpts = xcalloc(d.n, sizeof(*j->rcpts));
	for (j->n = 0; j->n < d.n; j->n++) {
		struct smtp_rcpt *r = &j->rcpts[j->n];

		r->index = d.rcpts[j->n].index;
		r->address = xstrdup(d.rcpts[j->n].address);
		r->orcpt = xstrdup(d.rcpts[j->n].orcpt);
		r->notify = d.rcpts[j->n].notify;
	}
	msg_free(MSG_QUEUED_DELIVER_SMTP, &d);
	return 0;
}

/* --- the connection process ---------------------------------------------- */

/* The child's one connection, kept between jobs. */
static struct smtp_conn cconn = { .fd = -1 };
static char cconn_nexthop[ROUTE_NEXTHOP_MAX];
static int cconn_mode;		/* the enum smtp_tls_mode it was opened for */

/* smtp_sasl_lookup - "login:password" for nexthop or host; 1 found */
static int
smtp_sasl_lookup(const char *nexthop, const char *host, char *login,
    size_t loginsize, char **password)
{
	static char val[512];
	char key[ROUTE_NEXTHOP_MAX + 4], *colon;
	const char *keys[3];
	size_t i, k;

	snprintf(key, sizeof(key), "[%s]", host);
	keys[0] = nexthop;
	keys[1] = key;
	keys[2] = host;
	for (i = 0; i < nsasl; i++)
		for (k = 0; k < 3; k++) {
			if (map_lookup(sasl_maps[i], keys[k], val,
			    sizeof(val)) != 1 ||
			    (colon = strchr(val, ':')) == NULL)
				continue;
			*colon = '\0';
			strlcpy(login, val, loginsize);
			*password = colon + 1;
			return 1;
		}
	return 0;
}

/*
 * smtp_tls_policy_find - the TLS policy for nexthop: the most specific
 * smtp_tls_policy_map entry (*mapped 1), else the global level.  0, or
 * -1 with the
 * reason in err when the map is set but cannot answer or its entry does
 * not parse (the caller defers: a policy is never guessed lower).
 */
static int
smtp_tls_policy_find(const char *nexthop, struct tls_policy *p, int *mapped,
    char *err, size_t errsize)
{
	static char keys[TLS_POLICY_KEYS_MAX][TLS_NAME_MAX];
	char val[512], why[256];
	int n, i, rc;

	tls_policy_default(set, set->smtp_tls_security_level, p);
	*mapped = 0;
	if (set->smtp_tls_policy_map[0] == '\0')
		return 0;
	if (policy_map == NULL) {
		snprintf(err, errsize, "invalid TLS policy: "
		    "smtp_tls_policy_map cannot be read");
		return -1;
	}
	n = tls_policy_keys(nexthop, keys, TLS_POLICY_KEYS_MAX);
	for (i = 0; i < n; i++) {
		if ((rc = map_lookup(policy_map, keys[i], val,
		    sizeof(val))) == 0)
			continue;
		if (rc == 1 && tls_policy_parse(set, val, p, why,
		    sizeof(why)) == 0) {
			log_debug("TLS policy for %s: %s (%s)", nexthop,
			    tls_level_name(p->level), keys[i]);
			*mapped = 1;
			return 0;
		}
		if (rc == 1)
			log_warn("smtp_tls_policy_map: %s: %s", keys[i], why);
		snprintf(err, errsize, "invalid TLS policy for %.300s%s", keys[i],
		    rc == 1 ? "" : " (lookup failed)");
		return -1;
	}
	return 0;
}

/*
 * smtp_child_connect - walk the route's addresses until one takes a
 * transaction; the open connection ends up in c.  0 connected, -1 with
 * why (status, dsn, text in r) and *site.
 */
static int
smtp_child_connect(struct smtp_conn *c, const char *qid, const char *nexthop,
    int tls_mode, struct smtp_reply *r, int *site)
{
	static struct smtp_route rt;
	static struct tls_dane dane;
	static struct smtp_mtasts sts;
	char login[256], *password = NULL, domain[ROUTE_NEXTHOP_MAX];
	struct tls_policy pol, hpol;
	struct smtp_requiretls_tally tally;
	enum smtp_tls_mode mode = (enum smtp_tls_mode)tls_mode;
	enum smtp_tls_level level;
	enum smtp_step st;
	int i, notls, greeted = 0, have, port, literal = 0, tlsa_failed = 0;
	int mapped, by_sts;

	if (smtp_tls_policy_find(nexthop, &pol, &mapped, r->text,
	    sizeof(r->text)) != 0) {
		r->code = 450;
		strlcpy(r->dsn, "4.7.5", sizeof(r->dsn));
		*site = SITE_OK;
		return -1;
	}
	if (smtp_route_nexthop_parse(nexthop, domain, sizeof(domain), &port,
	    &literal, 25) != 0)
		strlcpy(domain, nexthop, sizeof(domain));
	smtp_route_resolve(set, &dnscfg, nexthop, &rt);
	if (rt.n == 0) {
		r->code = rt.status == DELIVER_PERMFAIL ? 550 : 450;
		strlcpy(r->dsn, rt.dsn, sizeof(r->dsn));
		strlcpy(r->text, rt.text, sizeof(r->text));
		*site = rt.site;
		return -1;
	}
	memset(&tally, 0, sizeof(tally));
	smtp_dane_forget();
	/* MTA-STS: its MX filter here; per host below, only where DANE
	 * does not apply (RFC 8461 2: DANE wins).  TLS-Required: No asks
	 * that it be ignored (RFC 8689 4.1): then it is not even looked
	 * up, and the connection serves only such mail (smtp_child_job). */
	smtp_mtasts_find(set, &dnscfg, qid, nexthop, mapped,
	    smtp_tls_mode_ignores_policy(mode), &sts);
	if (smtp_mtasts_route(&sts, qid, &rt, r) != 0) {
		log_info("%s: %s", qid, r->text);
		*site = SITE_OK;
		return -1;
	}
	for (i = 0; i < rt.n; i++) {
		notls = 0;
		have = smtp_sasl_lookup(nexthop, rt.t[i].host, login,
		    sizeof(login), &password);
		/* RFC 8689: REQUIRETLS raises the level, TLS-Required: No
		 * may lower it, and then DANE is not asked at all
		 * (smtp_requiretls.h says where not). */
		level = smtp_requiretls_level(mode, pol.level, literal ||
		    (set->relayhost != NULL &&
		    strcasecmp(set->relayhost, nexthop) == 0), have, qid,
		    domain, rt.t[i].host);
		/* dane is may, encrypt or dane itself for this host, as
		 * DNSSEC says; a signed host whose TLSA lookup fails is
		 * skipped, never tried at a lower level. */
		if (level == SMTP_TLS_DANE && smtp_dane_level(&dnscfg, qid,
		    &rt, &rt.t[i], domain, &dane, &level, r->text,
		    sizeof(r->text)) != 0) {
			r->code = 0;	/* made up here, as smtp_client's */
			strlcpy(r->dsn, "4.7.5", sizeof(r->dsn));
			tlsa_failed = 1;
			/* Not judged for REQUIRETLS: the verdict waits. */
			tally.tried++;
			continue;
		}
		hpol = pol;
		hpol.level = level;
		if (level != SMTP_TLS_DANE)
			smtp_mtasts_host(&sts, rt.t[i].host,
			    mode == SMTP_TLS_MODE_REQUIRED, &hpol);
		by_sts = hpol.level != level;
		level = hpol.level;
		/* Credentials go only over TLS at level encrypt or higher:
		 * never in plaintext, never after a fallback to it; nor
		 * does REQUIRETLS, where DANE left an unsigned host at may. */
		if ((have || mode == SMTP_TLS_MODE_REQUIRED) &&
		    !tls_level_encrypts(level))
			level = SMTP_TLS_ENCRYPT;
again:
		st = smtp_conn_open(c, set, rt.t[i].host,
		    (struct sockaddr *)&rt.t[i].ss, rt.t[i].len, r);
		c->tls_level = level;
		c->tls_dane = level == SMTP_TLS_DANE ? &dane : NULL;
		tls_policy_names(&hpol, rt.t[i].host, domain, &c->tls_names);
		if (st == STEP_OK || r->code != 0)
			greeted = 1;
		if (st == STEP_OK)
			st = smtp_conn_hello(c, notls, have ? login : NULL,
			    password, r);
		if (st == STEP_TLS_RETRY) {
			/* "may": a failed handshake falls back to plaintext. */
			log_info("%s: TLS failed; trying again in plaintext",
			    rt.t[i].host);
			notls = 1;
			goto again;
		}
		if (st == STEP_OK && by_sts && c->tls_verified)
			c->tls_auth_by = "mta-sts";
		if (st == STEP_OK &&
		    smtp_requiretls_check(c, mode, qid, r) != 0) {
			/* RFC 8689 4.2.1: QUIT, and on to the next host. */
			smtp_conn_close(c, 1);
			smtp_requiretls_host_failed(&tally, c, 1, r);
			continue;
		}
		if (st == STEP_OK) {
			if (c->tls_dane == NULL)
				smtp_mtasts_check(&sts, qid, c);
			return 0;
		}
		if (mode == SMTP_TLS_MODE_REQUIRED)
			smtp_requiretls_host_failed(&tally, c, 0, r);
		log_debug("%s: %s", qid, r->text);
	}
	smtp_mtasts_reason(&sts, r);
	*site = greeted ? SITE_OK : tlsa_failed ? SITE_DNS_TEMP :
	    SITE_UNREACHABLE;
	if (smtp_requiretls_verdict(&tally, mode, r))
		return -1;
	/* The last host's verdict stands; only a 5xx from it is permanent. */
	if (r->code == 0 || r->code / 100 != 5)
		r->code = 450;
	if (r->dsn[0] != (r->code / 100 == 5 ? '5' : '4'))
		snprintf(r->dsn, sizeof(r->dsn), "%c.4.1",
		    r->code / 100 == 5 ? '5' : '4');
	return -1;
}

/*
 * smtp_child_result - one MSG_DELIVERD_SMTP_RESULT to the parent.  A
 * server's reply and a host name can be longer than queued keeps: they
 * are cut to the limits here, never sent whole to be rejected.
 */
static void
smtp_child_result(struct ipc_conn *pc, uint32_t reqid,
    const struct smtp_job *j, const struct smtp_rcpt *r, const char *relay,
    uint32_t flags)
{
	char text[MSG_TEXT_MAX + 1], rel[MSG_RELAY_MAX + 1];
	struct msg_smtp_result res = {
		.job = j->id, .index = r->index, .status = (uint32_t)r->status,
		.dsn = r->dsn, .flags = flags,
		.text = msg_str_fit(r->text, MSG_TEXT_MAX, text, sizeof(text)),
		.relay = msg_str_fit(relay, MSG_RELAY_MAX, rel, sizeof(rel)),
	};
	struct ipc_msg m;

	/* Refused (and logged) only for a bug: the parent then reports the
	 * recipient as deferred when the job is done. */
	if (msg_encode(&m, MSG_DELIVERD_SMTP_RESULT, reqid, &res) != 0)
		return;
	if (ipc_send(pc, &m) != 0)
		_exit(1);
}

/*
 * smtp_child_loop - a forwarded copy (j carries Delivered-To: ADDR) of a
 * message whose header already holds "Delivered-To: ADDR" has been sent
 * on from ADDR before and came back: a mail loop through another server
 * (an alias or .forward here, one there that sends it back).  It is
 * returned (5.4.6), as local delivery returns one (local_loop.h), rather
 * than sent round again until the hop limit.  0 to send; -1 with why in
 * r (code 550 or, when the file cannot be read, 450).
 */
static int
smtp_child_loop(const struct smtp_job *j, int fd, struct smtp_reply *r)
{
	int loop;

	if (j->delivered_to[0] == '\0' || (loop = local_loop_check(fd,
	    (off_t)j->offset, (off_t)j->size, j->delivered_to)) == 0)
		return 0;
	r->code = loop == 1 ? 550 : 450;
	strlcpy(r->dsn, loop == 1 ? "5.4.6" : "4.3.0", sizeof(r->dsn));
	if (loop == 1)
		snprintf(r->text, sizeof(r->text), "mail forwarding loop for "
		    "%s: already delivered to it (Delivered-To)",
		    j->delivered_to);
	else
		strlcpy(r->text, "cannot read queue file", sizeof(r->text));
	return -1;
}

/*
 * smtp_child_deliver - the transaction of job j on the kept connection,
 * or on a new one when none is kept, the kept one serves another next
 * hop or TLS mode, or it turns out stale (the server closed it while it
 * waited: SMTP_CONN_STALE, nothing taken).  1 when a transaction ran
 * (results in j->rcpts; *kept says whether to keep the connection), 0
 * when no connection could be had (why in r, site set).
 */
static int
smtp_child_deliver(struct smtp_job *j, const struct smtp_msg *msg, int mode,
    struct smtp_reply *r, int *site, int *kept)
{
	int rc;

	/* A connection serves only jobs of the TLS mode it was opened
	 * for: one that TLS-Required: No let through a failed policy, or
	 * opened without looking MTA-STS up, must never carry other mail,
	 * and REQUIRETLS checked its host at connect. */
	if (cconn.fd != -1 && (strcasecmp(cconn_nexthop, j->nexthop) != 0 ||
	    cconn_mode != mode))
		smtp_conn_close(&cconn, 0);
	if (cconn.fd != -1) {
		rc = smtp_conn_deliver(&cconn, msg, j->rcpts, j->n);
		if (rc != SMTP_CONN_STALE) {
			*kept = rc == 0 && set->smtp_connection_reuse_time > 0;
			return 1;
		}
		log_info("%s: a new connection to %s instead", j->qid,
		    j->nexthop);
		smtp_conn_close(&cconn, 0);
		memset(r, 0, sizeof(*r));
	}
	if (child_connect(&cconn, j->qid, j->nexthop, mode, r, site) != 0)
		return 0;
	strlcpy(cconn_nexthop, j->nexthop, sizeof(cconn_nexthop));
	cconn_mode = mode;
	/* A new connection is never stale (smtp_conn_deliver). */
	rc = smtp_conn_deliver(&cconn, msg, j->rcpts, j->n);
	*kept = rc == 0 && set->smtp_connection_reuse_time > 0;
	return 1;
}

/* smtp_child_job - deliver one job on the kept or a new connection */
static void
smtp_child_job(struct ipc_conn *pc, uint32_t reqid, struct smtp_job *j, int fd)
{
	struct smtp_msg msg = { .sender = j->sender, .envid = j->envid,
	    .ret = j->ret, .body = j->body, .smtputf8 = j->smtputf8,
	    .size = j->size, .fd = fd, .offset = (off_t)j->offset,
	    .head = j->head, .headlen = strlen(j->head),
	    .requiretls = (j->tls_request & ENVELOPE_F_REQUIRETLS) != 0 };
	int mode = (int)smtp_tls_mode_of(j->tls_request, j->sender);
	struct msg_conn_done done;
	struct smtp_reply r;
	struct ipc_msg m;
	int site = SITE_OK, kept = 0, connected = 0;
	uint32_t flags;
	size_t i;

	memset(&r, 0, sizeof(r));
	if (smtp_child_loop(j, fd, &r) != 0) {
		/* Reported as not kept: the parent's view stays simple. */
		if (cconn.fd != -1)
			smtp_conn_close(&cconn, 1);
	} else
		connected = smtp_child_deliver(j, &msg, mode, &r, &site, &kept);
	if (connected) {
		flags = cconn.ssl != NULL ? DELIVERD_F_TLS : 0;
		for (i = 0; i < j->n; i++) {
			uint32_t f = flags;

			/* LMTP's success is the delivery itself. */
			if (j->rcpts[i].status == DELIVER_OK && cconn.lmtp)
				f |= DELIVERD_F_DELIVERED;
			else if (j->rcpts[i].status == DELIVER_OK &&
			    !(cconn.ext & EXT_DSN) &&
			    (j->rcpts[i].notify & NOTIFY_SUCCESS))
				f |= DELIVERD_F_DSN_RELAYED;
			smtp_child_result(pc, reqid, j, &j->rcpts[i],
			    cconn.relay, f);
		}
		if (!kept)
			smtp_conn_close(&cconn, 1);
	} else {
		for (i = 0; i < j->n; i++) {
			j->rcpts[i].status = r.code / 100 == 5 ?
			    DELIVER_PERMFAIL : DELIVER_TEMPFAIL;
			strlcpy(j->rcpts[i].dsn, r.dsn, sizeof(j->rcpts[i].dsn));
			strlcpy(j->rcpts[i].text, r.text,
			    sizeof(j->rcpts[i].text));
			smtp_child_result(pc, reqid, j, &j->rcpts[i], "none",
			    0);
		}
	}
	done.job = j->id;
	done.site = (uint32_t)site;
	done.kept = kept ? 1 : 0;
	if (msg_encode(&m, MSG_SMTP_CONN_DONE, reqid, &done) != 0 ||
	    ipc_send(pc, &m) != 0)
		_exit(1);
}

/* smtp_child_main - serve jobs from the parent until it closes the channel */
static void __attribute__((noreturn))
smtp_child_main(int fd)
{
	struct ipc_conn pc;
	struct ipc_msg m;
	struct smtp_job j;
	const char *why;
	int msgfd;

	ipc_conn_init(&pc, fd);
	for (;;) {
		if (ipc_recv(&pc, &m, -1) != 0)
			break;
		/* The parent checked the job; one it cannot have sent is a
		 * bug, and this process serves no one else. */
		if (smtp_job_decode(&m, &j, &why) != 0) {
			log_warn("connection process: malformed job: %s", why);
			_exit(1);
		}
		msgfd = ipc_msg_take_fd(&m);
		smtp_child_job(&pc, m.id, &j, msgfd);
		close(msgfd);
		smtp_job_free(&j);
		ipc_msg_free(&m);
	}
	smtp_conn_close(&cconn, 1);
	_exit(0);
}

/* --- the parent ------------------------------------------------------------ */

/* smtp_pjob_free - release a parent job (closes its message fd) */
static void
smtp_pjob_free(struct pjob *pj)
{
	ipc_msg_free(&pj->frame);
	free(pj->index);
	free(pj->answered);
	free(pj);
}

/* smtp_done_send - MSG_DELIVERD_SMTP_DONE for job: queued ends it */
static void
smtp_done_send(uint32_t reqid, uint32_t job, uint32_t site)
{
	struct msg_smtp_done done = { job, site };
	struct ipc_msg m;

	if (msg_encode(&m, MSG_DELIVERD_SMTP_DONE, reqid, &done) == 0)
		deliverd_queued_send(&m);
}

/*
 * smtp_pjob_finish - a temporary failure (dsn, text) for every entry not
 * yet answered, then DONE with site: queued hears of each entry exactly
 * once.
 */
static void
smtp_pjob_finish(struct pjob *pj, uint32_t site, const char *dsn,
    const char *text)
{
	struct msg_smtp_result r = { .job = pj->id, .status = DELIVER_TEMPFAIL,
	    .dsn = dsn, .text = text, .relay = "none", .flags = 0 };
	struct ipc_msg m;

	for (size_t i = 0; i < pj->n; i++) {
		if (pj->answered[i])
			continue;
		r.index = pj->index[i];
		if (msg_encode(&m, MSG_DELIVERD_SMTP_RESULT, pj->reqid,
		    &r) == 0)
			deliverd_queued_send(&m);
	}
	smtp_done_send(pj->reqid, pj->id, site);
}

/*
 * smtp_job_reject - a frame from queued that is not a job we can run:
 * logged, and when it names a job, that job is answered as done without
 * results, so queued defers its recipients now rather than never.
 */
static void
smtp_job_reject(const struct ipc_msg *m, const char *why)
{
	uint32_t job;

	msg_log_reject("queued", m, why);
	if (m->type == MSG_QUEUED_DELIVER_SMTP && msg_peek_u32(m, &job) == 0)
		smtp_done_send(m->id, job, SITE_OK);
}

/* smtp_job - check a job frame and queue it for a connection */
void
smtp_job(struct ipc_msg *m)
{
	struct msg_deliver_smtp d;
	struct pjob *pj;
	const char *why;

	if (msg_decode(m, MSG_QUEUED_DELIVER_SMTP, &d, &why) != 0) {
		smtp_job_reject(m, why);
		return;
	}
	if (!qid_valid(d.qid)) {
		msg_free(MSG_QUEUED_DELIVER_SMTP, &d);
		smtp_job_reject(m, "bad queue ID");
		return;
	}
	pj = xcalloc(1, sizeof(*pj));
	/* The child gets the job as decoded, encoded afresh, and the
	 * message's descriptor. */
	if (msg_encode(&pj->frame, MSG_QUEUED_DELIVER_SMTP, m->id, &d) != 0) {
		free(pj);
		msg_free(MSG_QUEUED_DELIVER_SMTP, &d);
		smtp_job_reject(m, "cannot pass it on");
		return;
	}
	pj->frame.fd = ipc_msg_take_fd(m);
	pj->id = d.job;
	pj->reqid = m->id;
	strlcpy(pj->nexthop, d.nexthop, sizeof(pj->nexthop));
	pj->n = d.n;
	pj->index = xcalloc(d.n, sizeof(*pj->index));
	pj->answered = xcalloc(d.n, 1);
	for (size_t i = 0; i < d.n; i++)
		pj->index[i] = d.rcpts[i].index;
	log_debug("%s: job %u to %s, %zu recipient(s)", d.qid, d.job,
	    d.nexthop, pj->n);
	msg_free(MSG_QUEUED_DELIVER_SMTP, &d);
	TAILQ_INSERT_TAIL(&waiting, pj, entry);
}

/* smtp_spawner_prepare - in the spawner (smtp_spawner.c), once: the
 * channels and handlers of this process are none of a connection
 * process's business */
static void
smtp_spawner_prepare(void)
{
	struct proc *o;

	deliverd_signals_child();
	close(DAEMON_FD_MASTER);
	close(DAEMON_FD_QUEUED);
	TAILQ_FOREACH(o, &procs, entry)
		if (!o->dead)
			close(o->conn.fd);
}

/* smtp_proc_spawn - a new connection process; NULL when none was made */
static struct proc *
smtp_proc_spawn(void)
{
	static const struct smtp_spawner_ops ops = {
		.prepare = smtp_spawner_prepare,
		.child = smtp_child_main,
	};
	struct proc *p;
	char err[512];
	pid_t pid;
	int fd;

	/* TLS is set up at the first connection, not at start
	 * (tls_client.c), and before the spawner is forked so that every
	 * connection process shares it. */
	if (tls_client_ready(err, sizeof(err)) != 0)
		fatalx("TLS: %s", err);
	if ((fd = smtp_spawner_spawn(&ops, &pid)) == -1)
		return NULL;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	p = xcalloc(1, sizeof(*p));
	p->pid = pid;
	ipc_conn_init(&p->conn, fd);
	TAILQ_INSERT_TAIL(&procs, p, entry);
	nprocs++;
	return p;
}

/* smtp_proc_close - end a process's channel: an idle child QUITs and exits */
static void
smtp_proc_close(struct proc *p)
{
	if (p->dead)
		return;
	ipc_conn_close(&p->conn);
	p->dead = 1;
}

/* smtp_proc_assign - hand pj to p */
static void
smtp_proc_assign(struct proc *p, struct pjob *pj)
{
	TAILQ_REMOVE(&waiting, pj, entry);
	p->job = pj;
	p->kept = 0;
	strlcpy(p->nexthop, pj->nexthop, sizeof(p->nexthop));
	ipc_conn_queue(&p->conn, &pj->frame);
	pj->frame.fd = -1;
}

/* smtp_jobs_dispatch - waiting jobs to kept, new or recycled processes;
 * 1 when a job waits because no process could be started */
static int
smtp_jobs_dispatch(void)
{
	struct pjob *pj, *next;
	struct proc *p, *idle;

	for (pj = TAILQ_FIRST(&waiting); pj != NULL; pj = next) {
		next = TAILQ_NEXT(pj, entry);
		idle = NULL;
		TAILQ_FOREACH(p, &procs, entry) {
			if (p->dead || p->job != NULL)
				continue;
			if (p->kept && strcasecmp(p->nexthop, pj->nexthop) == 0)
				break;
			idle = p;
		}
		if (p == NULL && nprocs >= (size_t)set->smtp_connection_limit) {
			/*
			 * At the limit: an idle connection elsewhere makes
			 * room once its process has exited.
			 */
			if (idle != NULL)
				smtp_proc_close(idle);
			return 0;
		}
		if (p == NULL && nprocs < (size_t)set->smtp_connection_limit &&
		    (p = smtp_proc_spawn()) == NULL) {
			log_warn("cannot start a connection process");
			return 1;
		}
		if (p != NULL)
			smtp_proc_assign(p, pj);
	}
	return 0;
}

/* smtp_pjob_entry - position of entry index idx in pj, or -1 */
static long
smtp_pjob_entry(const struct pjob *pj, uint32_t idx)
{
	for (size_t i = 0; i < pj->n; i++)
		if (pj->index[i] == idx)
			return (long)i;
	return -1;
}

/* smtp_result_pass - a child's result for pj, on to queued */
static void
smtp_result_pass(struct pjob *pj, const struct msg_smtp_result *r)
{
	struct ipc_msg m;

	if (msg_encode(&m, MSG_DELIVERD_SMTP_RESULT, pj->reqid, r) == 0)
		deliverd_queued_send(&m);
}

/*
 * smtp_proc_result - a MSG_DELIVERD_SMTP_RESULT from a child.  One that
 * does not decode still names its recipient and status: a delivery that
 * was made is reported as made (so it is not made twice), any other is
 * deferred; one that names nothing is dropped, and the job's end defers
 * the recipient.
 */
static void
smtp_proc_result(struct proc *p, struct ipc_msg *m, const char *peer)
{
	struct msg_smtp_result r;
	struct pjob *pj = p->job;
	uint32_t job, idx, status;
	const char *why;
	long e;

	if (msg_decode(m, MSG_DELIVERD_SMTP_RESULT, &r, &why) != 0) {
		msg_log_reject(peer, m, why);
		if (pj == NULL ||
		    msg_peek_result(m, &job, &idx, &status) != 0 ||
		    job != pj->id)
			return;
		memset(&r, 0, sizeof(r));
		r.job = job;
		r.index = idx;
		r.status = status == DELIVER_OK ? DELIVER_OK : DELIVER_TEMPFAIL;
		r.dsn = status == DELIVER_OK ? "2.0.0" : "4.3.0";
		r.text = "the delivery process's report could not be read";
		r.relay = "none";
	}
	if (pj == NULL || r.job != pj->id ||
	    (e = smtp_pjob_entry(pj, r.index)) < 0 || pj->answered[e]) {
		msg_log_reject(peer, m, "a result for no recipient it has");
		return;
	}
	pj->answered[e] = 1;
	smtp_result_pass(pj, &r);
}

/* smtp_proc_done - a MSG_SMTP_CONN_DONE: the child's job is over */
static void
smtp_proc_done(struct proc *p, struct ipc_msg *m, const char *peer)
{
	struct msg_conn_done d;
	struct pjob *pj = p->job;
	const char *why;

	if (msg_decode(m, MSG_SMTP_CONN_DONE, &d, &why) != 0) {
		msg_log_reject(peer, m, why);
		if (pj == NULL)
			return;
		/* It says the job is over, not how: nothing is held against
		 * the site, and the connection is not trusted for another. */
		d.job = pj->id;
		d.site = SITE_OK;
		d.kept = 0;
	} else if (pj == NULL || d.job != pj->id) {
		msg_log_reject(peer, m, "not the job it has");
		return;
	}
	smtp_pjob_finish(pj, d.site, "4.3.0",
	    "connection process gave no result");
	p->job = NULL;
	smtp_pjob_free(pj);
	p->kept = d.kept != 0;
	p->idle_since = time(NULL);
	if (!p->kept)
		smtp_proc_close(p);
}

/* smtp_proc_input - read a child's frames; a child gone mid-job fails it */
static void
smtp_proc_input(struct proc *p)
{
	struct ipc_msg m;
	char peer[64];
	ssize_t n;
	int rc = 0;

	n = ipc_conn_read(&p->conn);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	snprintf(peer, sizeof(peer), "connection process %ld", (long)p->pid);
	if (n > 0) {
		while (!p->dead && (rc = ipc_conn_next(&p->conn, &m)) == 1) {
			if (m.type == MSG_DELIVERD_SMTP_RESULT)
				smtp_proc_result(p, &m, peer);
			else if (m.type == MSG_SMTP_CONN_DONE)
				smtp_proc_done(p, &m, peer);
			else
				msg_log_reject(peer, &m, "unexpected type");
			ipc_msg_free(&m);
		}
		if (rc != -1)
			return;
		/* Only a broken frame ends the channel. */
		log_warn("%s sent a malformed frame", peer);
		kill(p->pid, SIGKILL);
	}
	if (p->job != NULL) {
		log_warn("%s died during a job", peer);
		smtp_pjob_finish(p->job, SITE_OK, "4.3.0",
		    "delivery process died during the delivery");
		smtp_pjob_free(p->job);
		p->job = NULL;
	}
	smtp_proc_close(p);
}

/* smtp_reaped - a child has exited: its slot can be freed */
void
smtp_reaped(pid_t pid, int wstatus)
{
	struct proc *p;

	if (smtp_spawner_reaped(pid, wstatus))
		return;
	TAILQ_FOREACH(p, &procs, entry) {
		if (p->pid != pid)
			continue;
		p->pid = 0;
		if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) != SIGKILL)
			log_warn("connection process %ld killed by signal %d",
			    (long)pid, WTERMSIG(wstatus));
		return;
	}
}

/* smtp_procs_free - free the entries of dead, finished, reaped children */
static void
smtp_procs_free(void)
{
	struct proc *p, *next;

	for (p = TAILQ_FIRST(&procs); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (p->dead && p->job == NULL && p->pid == 0) {
			/*
			 * The slot is free only once the process is gone: a
			 * closing connection still counts against the limit.
			 */
			TAILQ_REMOVE(&procs, p, entry);
			nprocs--;
			free(p);
		}
	}
}

/* smtp_procs_idle - close kept connections idle too long; ms to the next */
static int
smtp_procs_idle(void)
{
	struct proc *p;
	time_t now = time(NULL), next = 0, due;

	TAILQ_FOREACH(p, &procs, entry) {
		if (p->dead || p->job != NULL || !p->kept)
			continue;
		due = p->idle_since + set->smtp_connection_reuse_time;
		if (now >= due || deliverd_stopping())
			smtp_proc_close(p);
		else if (next == 0 || due < next)
			next = due;
	}
	if (next == 0)
		return -1;
	return (int)((next - now) * 1000 + 50);
}

/* smtp_procs_flush - send what the children can take */
static void
smtp_procs_flush(void)
{
	struct proc *p;

	TAILQ_FOREACH(p, &procs, entry)
		if (!p->dead && ipc_conn_pending(&p->conn) &&
		    ipc_conn_flush(&p->conn) == -1)
			smtp_proc_input(p);
}

/* smtp_busy - true while a child holds a job */
int
smtp_busy(void)
{
	struct proc *p;

	TAILQ_FOREACH(p, &procs, entry)
		if (p->job != NULL)
			return 1;
	return 0;
}

/* smtp_poll - route jobs, close idle connections, name the channels */
int
smtp_poll(void)
{
	struct proc *p;
	int timeout, retry = 0;

	/* Slots first: a child reaped just now (deliverd_reap, before this)
	 * may be the only event that frees one for a waiting job, and
	 * nothing would wake the loop again to hand it out. */
	smtp_procs_free();
	if (!deliverd_stopping())
		retry = smtp_jobs_dispatch();
	timeout = smtp_procs_idle();
	/* Nothing else may wake the loop for a job that no process could
	 * be started for: try again in a second. */
	if (retry && (timeout < 0 || timeout > SPAWN_RETRY_MS))
		timeout = SPAWN_RETRY_MS;
	smtp_procs_flush();
	TAILQ_FOREACH(p, &procs, entry) {
		if (p->dead)
			continue;
		deliverd_poll_add(p->conn.fd, POLLIN |
		    (ipc_conn_pending(&p->conn) ? POLLOUT : 0), p);
	}
	return timeout;
}

/* smtp_events - a child's channel is readable or gone */
void
smtp_events(void *arg, short revents)
{
	if (revents & (POLLIN | POLLHUP | POLLERR))
		smtp_proc_input(arg);
}

/* smtp_stop - the loop is over: idle children say QUIT and exit */
void
smtp_stop(void)
{
	struct proc *p;

	TAILQ_FOREACH(p, &procs, entry)
		smtp_proc_close(p);
	smtp_spawner_stop();
}

/*
 * smtp_policy_open - open smtp_tls_policy_map when it names another file
 * than the open one.  On failure the map stays closed and its mail is
 * deferred (smtp_tls_policy_find) until it can be read.
 */
static void
smtp_policy_open(void)
{
	const char *path = set->smtp_tls_policy_map;
	char err[512];

	if (policy_map_path != NULL && strcmp(policy_map_path, path) == 0)
		return;
	map_close(policy_map);
	policy_map = NULL;
	free(policy_map_path);
	policy_map_path = xstrdup(path);
	if (path[0] != '\0' &&
	    (policy_map = map_open(path, err, sizeof(err))) == NULL)
		log_warn("smtp_tls_policy_map: %s; mail whose TLS policy it "
		    "would give is deferred", err);
}

/* smtp_reload - a new configuration: a renamed policy map is opened
 * (reachable only when not chrooted; otherwise its mail is deferred) */
static void
smtp_reload(void)
{
	smtp_policy_open();
	/* Connection processes made from now on get the new settings. */
	smtp_spawner_stop();
}

/* smtp_setup - everything that needs the file system, before the chroot */
static void
smtp_setup(void)
{
	char err[512];
	size_t i;

	set = deliverd_settings();
	if (dns_config_load(&dnscfg, set->dns_servers.v, set->dns_servers.n,
	    "/etc/resolv.conf", err, sizeof(err)) != 0)
		fatalx("%s", err);
	dnscfg.local_zones = !set->dns_query_local_zones;
	dnscfg.dnssec = set->dns_dnssec;
	/* Our own listeners, never to be delivered to (smtp_route.c). */
	myaddr_load(set);
	/* The CA certificates only when some level may verify (see
	 * tls_client_init for why not always); MTA-STS, on by default,
	 * needs them for its HTTPS fetch and its enforce mode.  Only
	 * opened here: they are read at the first connection. */
	if (tls_client_init(tls_level_verifies(set->smtp_tls_security_level) ||
	    set->smtp_tls_policy_map[0] != '\0' || set->smtp_mta_sts ||
	    set->smtp_tls_CAfile[0] != '\0' || set->smtp_tls_CApath[0] != '\0',
	    set->smtp_tls_CAfile, set->smtp_tls_CApath, err, sizeof(err)) != 0)
		fatalx("TLS: %s", err);
	smtp_policy_open();
	for (i = 0; i < set->smtp_sasl_password_maps.n && i < SASL_MAPS_MAX;
	    i++) {
		sasl_maps[nsasl] = map_open(set->smtp_sasl_password_maps.v[i],
		    err, sizeof(err));
		if (sasl_maps[nsasl] == NULL)
			log_warn("smtp_sasl_password_maps: %s", err);
		else
			nsasl++;
	}
}

/* smtp_ready - the MTA-STS cache, opened inside the chroot (mtasts.c) */
static void
smtp_ready(void)
{
	char dir[1100], err[1200];

	if (!set->smtp_mta_sts)
		return;
	if (deliverd_chrooted() != NULL)
		strlcpy(dir, "/" SPOOL_MTASTS_CACHE, sizeof(dir));
	else
		snprintf(dir, sizeof(dir), "%s/%s/%s", set->spool_dir,
		    SPOOL_SMTP_ROOT, SPOOL_MTASTS_CACHE);
	if (mtasts_cache_open(dir, err, sizeof(err)) != 0)
		log_warn("mta-sts: no policy cache: %s", err);
}

/* smtp_transport_share - the connection processes connect with connect */
void
smtp_transport_share(smtp_connect_fn *connect)
{
	set = deliverd_settings();
	child_connect = connect;
}

/* Chrooted, a reload restarts the process (deliverd.c); unchrooted, DNS
 * servers, the CA certificates and the SASL maps need a restart, the
 * rest applies at once. */
const struct transport_ops smtp_transport_ops = {
	.name = "smtp",
	.privilege = TRANSPORT_CHROOT,
	.root = SPOOL_SMTP_ROOT,
	.setup = smtp_setup,
	.ready = smtp_ready,
	.job = smtp_job,
	.poll = smtp_poll,
	.events = smtp_events,
	.reaped = smtp_reaped,
	.busy = smtp_busy,
	.reload = smtp_reload,
	.stop = smtp_stop,
};
