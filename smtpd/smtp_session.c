/*
 * smtp_session - one SMTP server session (RFC 5321), start to end.
 *
 * Called by the smtpd main loop for each accepted connection.  The
 * session owns no descriptors but the message file it gets from queued.
 * It must never answer 250 to DATA before queued has answered COMMITTED:
 * that reply is the promise that the message survives a crash.
 *
 * Relay control is decided here, at RCPT, from lookupd's verdict on the
 * address the parser (addr.c) produced: mail for another domain is taken
 * only for relay_domains, from mynetworks, or from an authenticated
 * client.  Credentials go to lookupd; this file never sees a hash.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "envelope.h"
#include "log.h"
#include "msg.h"
#include "msgfile.h"
#include "myaddr.h"
#include "qid.h"
#include "msg_codec.h"
#include "smtp_auth.h"
#include "smtp_bdat.h"
#include "smtp_command.h"
#include "smtp_data.h"
#include "smtp_io.h"
#include "smtp_limits.h"
#include "smtp_peername.h"
#include "smtp_received.h"
#include "smtp_session.h"
#include "tls_server.h"
#include "xmalloc.h"
#include "zmem.h"

#define LOOKUP_TIMEOUT_MS	(60 * 1000)
#define OPEN_TIMEOUT_MS		(60 * 1000)
/* queued answers a commit after one group flush; a stalled disk is the
 * only reason to wait longer, and then the client must hear 451. */
#define COMMIT_TIMEOUT_MS	(300 * 1000)
/* ETRN only marks messages due: queued answers at once when it is well. */
#define ETRN_TIMEOUT_MS		(30 * 1000)
/* Longest pause before a failed AUTH is answered. */
#define AUTH_DELAY_MAX_S	30

/* Command counters for the Postfix-style "disconnect from" line. */
enum session_counter {
	CNT_HELO, CNT_EHLO, CNT_MAIL, CNT_RCPT, CNT_DATA, CNT_BDAT, CNT_RSET,
	CNT_NOOP, CNT_VRFY, CNT_EXPN, CNT_HELP, CNT_QUIT, CNT_STARTTLS,
	CNT_AUTH, CNT_ETRN, CNT_UNKNOWN, CNT_MAX
};
static const char *const counter_names[CNT_MAX] = {
	"helo", "ehlo", "mail", "rcpt", "data", "bdat", "rset", "noop",
	"vrfy", "expn", "help", "quit", "starttls", "auth", "etrn", "unknown"
};

struct session {
	struct smtp_server	*srv;
	const struct settings	*set;
	struct smtp_io		 io;
	struct smtp_limits	 lim;		/* smtp_limits.c (h11) */
	enum smtp_listener_kind	 kind;
	char			 addr[64];
	char			 name[HOSTNAME_MAX + 1];
	int			 trusted;	/* client in mynetworks */
	char			 helo[HOSTNAME_MAX + 1];
	int			 helo_done;
	int			 esmtp;
	int			 errors;
	int			 quit;
	const char		*last_cmd;

	/* TLS and AUTH */
	int			 tls;
	char			 tls_info[160];	/* tls_server_describe() */
	char			 auth_user[SMTP_AUTH_FIELD_MAX + 1];
	const char		*auth_method;	/* NULL: not authenticated */
	int			 auth_failures;
	int			 auth_failures_known;	/* fetched (srv) */

	/* the transaction */
	int			 have_mail;
	char			 sender[ADDR_TEXT_MAX];
	uint64_t		 size_hint;
	int			 body;
	int			 ret;		/* DSN RET, enum dsn_ret */
	int			 smtputf8;	/* MAIL had SMTPUTF8 */
	int			 requiretls;	/* MAIL had REQUIRETLS */
	size_t			 head_len;	/* of the envelope written */
	uint32_t		 head_flags;	/* its flags */
	char			 envid[SMTP_ENVID_MAX + 1];	/* "" none */
	struct envelope_rcpt	*rcpts;
	uint32_t		 nrcpt;
	uint32_t		 naccepted;	/* RCPTs answered 250, repeats
						   included */

	/* BDAT (RFC 3030): the message file while chunks arrive */
	enum { BDAT_NONE, BDAT_OPEN, BDAT_FAILED } bdat;
	int			 bdat_fd;
	char			 bdat_qid[QID_MAX];
	struct smtp_bdat	 bdat_in;
	struct msgfile_writer	 bdat_out;
	/* DATA's message file: 64 KiB of buffer, too big for the stack */
	struct msgfile_writer	 data_out;
	int			 messages;	/* accepted this session */

	int			 total[CNT_MAX];
	int			 ok[CNT_MAX];
};

static int session_sender_check(struct session *s);
static void session_abort(struct session *s, const char *qid);

/* Send a reply, counting 4xx/5xx toward the error limit. */
static void session_reply(struct session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
session_reply(struct session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (line[0] == '4' || line[0] == '5')
		s->errors++;
	smtp_io_reply(&s->io, "%s", line);
}

/* session_bdat_drop - forget a message that BDAT was writing */
static void
session_bdat_drop(struct session *s)
{
	if (s->bdat == BDAT_OPEN) {
		session_abort(s, s->bdat_qid);
		close(s->bdat_fd);
		s->bdat_fd = -1;
	}
	s->bdat = BDAT_NONE;
}

static void
session_reset(struct session *s)
{
	session_bdat_drop(s);
	for (uint32_t i = 0; i < s->nrcpt; i++)
		free(s->rcpts[i].orcpt);
	free(s->rcpts);
	s->rcpts = NULL;
	s->nrcpt = 0;
	s->naccepted = 0;
	s->have_mail = 0;
	s->sender[0] = '\0';
	s->size_hint = 0;
	s->body = BODY_7BIT;
	s->ret = DSN_RET_DEFAULT;
	s->envid[0] = '\0';
	s->smtputf8 = 0;
	s->requiretls = 0;
}

/* The RFC 3848 protocol name for Received: and logs; with SMTPUTF8,
 * RFC 6531 3.7.3's. */
static const char *
session_proto(const struct session *s)
{
	if (!s->esmtp)
		return "SMTP";
	if (s->smtputf8 && s->tls)
		return s->auth_method != NULL ? "UTF8SMTPSA" : "UTF8SMTPS";
	if (s->smtputf8)
		return s->auth_method != NULL ? "UTF8SMTPA" : "UTF8SMTP";
	if (s->tls)
		return s->auth_method != NULL ? "ESMTPSA" : "ESMTPS";
	return s->auth_method != NULL ? "ESMTPA" : "ESMTP";
}

/* AUTH is possible on this listener (once TLS is up, see below). */
static int
session_auth_listener(const struct session *s)
{
	return s->set->smtpd_auth_passwd_map[0] != '\0' &&
	    (s->kind != LISTENER_SMTP || s->set->smtpd_auth_on_smtp);
}

/* AUTH is offered now: the listener allows it and the channel is safe. */
static int
session_auth_offered(const struct session *s)
{
	return session_auth_listener(s) &&
	    (s->tls || s->set->smtpd_auth_over_plaintext);
}

/* Submission (RFC 6409): no mail without authentication. */
static int
session_is_submission(const struct session *s)
{
	return s->kind == LISTENER_SUBMISSION ||
	    s->kind == LISTENER_SUBMISSIONS;
}

/*
 * Postfix's "NOQUEUE: reject: RCPT from host[ip]: CODE ...; from=<> to=<>",
 * and the reason to ternd, which counts refusals for "ternctl stats".
 */
static void
session_log_reject(struct session *s, enum reject_reason why,
    const char *cmd, const char *reply, const char *rcpt)
{
	struct msg_reject r = { why };
	struct ipc_msg m;
	char helo[300];

	if (s->srv->master != NULL && (msg_encode(&m, MSG_SMTPD_REJECT, 0,
	    &r) != 0 || ipc_send(s->srv->master, &m) < 0))
		log_warn("cannot report a rejection to ternd");

	log_vis(helo, sizeof(helo), s->helo, strlen(s->helo));
	log_info("NOQUEUE: reject: %s from %s[%s]: %s; from=<%s>%s%s%s "
	    "proto=%s helo=<%s>", cmd, s->name, s->addr, reply, s->sender,
	    rcpt ? " to=<" : "", rcpt ? rcpt : "", rcpt ? ">" : "",
	    session_proto(s), helo);
}

static void
session_helo(struct session *s, const struct smtp_command *cmd, int esmtp)
{
	size_t len = cmd->arglen < sizeof(s->helo) - 1 ? cmd->arglen :
	    sizeof(s->helo) - 1;

	memcpy(s->helo, cmd->arg, len);
	s->helo[len] = '\0';
	s->helo_done = 1;
	s->esmtp = esmtp;
	session_reset(s);	/* RFC 5321 4.1.4: EHLO implies RSET */
	if (!esmtp) {
		session_reply(s, "250 %s", s->set->myhostname);
		return;
	}
	smtp_io_reply(&s->io, "250-%s", s->set->myhostname);
	smtp_io_reply(&s->io, "250-PIPELINING");
	smtp_io_reply(&s->io, "250-SIZE %llu",
	    (unsigned long long)s->set->message_size_limit);
	smtp_io_reply(&s->io, "250-ENHANCEDSTATUSCODES");
	if (s->srv->tls != NULL && !s->tls)
		smtp_io_reply(&s->io, "250-STARTTLS");
	if (session_auth_offered(s))
		smtp_io_reply(&s->io, "250-AUTH PLAIN LOGIN");
	smtp_io_reply(&s->io, "250-CHUNKING");
	smtp_io_reply(&s->io, "250-ETRN");
	smtp_io_reply(&s->io, "250-DSN");
	smtp_io_reply(&s->io, "250-SMTPUTF8");
	/* RFC 8689 2: only in a session that employs TLS */
	if (s->tls)
		smtp_io_reply(&s->io, "250-REQUIRETLS");
	smtp_io_reply(&s->io, "250 8BITMIME");
}

/*
 * queue_minfree (fsspace.h): refuse the transaction while the spool's
 * file system is short of space, counting 1.5 times a declared SIZE.
 * The reply is temporary (RFC 5321 4.3.2 lists 452 for MAIL; RFC 1870
 * uses it for a SIZE above the space available now): the client keeps
 * the mail and tries again.  0, or -1 after replying.
 */
static int
session_space_check(struct session *s, uint64_t size)
{
	static const char reply[] = "452 4.3.1 Insufficient system storage";
	uint64_t avail, minfree = s->set->queue_minfree;

	if (minfree == 0 || s->srv->space == NULL)
		return 0;
	avail = fsspace_avail(s->srv->space);
	if (fsspace_enough(avail, minfree, size))
		return 0;
	log_warn("not enough free space in the spool: %llu octets < "
	    "queue_minfree %llu + 1.5 x SIZE %llu", (unsigned long long)avail,
	    (unsigned long long)minfree, (unsigned long long)size);
	session_log_reject(s, REJECT_STORAGE, "MAIL", reply, NULL);
	session_reply(s, "%s", reply);
	return -1;
}

static void
session_mail(struct session *s, const struct smtp_command *cmd)
{
	if (!s->helo_done) {
		session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->have_mail) {
		session_reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (cmd->size > s->set->message_size_limit) {
		session_reply(s, "552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	if (session_is_submission(s) && s->auth_method == NULL) {
		session_reply(s, "530 5.7.0 Authentication required");
		return;
	}
	if (addr_format(&cmd->addr, s->sender, sizeof(s->sender)) < 0) {
		session_reply(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	if (s->auth_method != NULL && session_sender_check(s) < 0) {
		s->sender[0] = '\0';
		return;
	}
	if (session_space_check(s, cmd->size) < 0) {
		s->sender[0] = '\0';
		return;
	}
	s->have_mail = 1;
	s->size_hint = cmd->size;
	s->body = cmd->body;
	s->ret = cmd->ret;
	s->smtputf8 = cmd->smtputf8;
	s->requiretls = cmd->requiretls;
	strlcpy(s->envid, cmd->envid, sizeof(s->envid));
	s->ok[CNT_MAIL]++;
	session_reply(s, "250 2.1.0 Ok");
}

/*
 * Ask lookupd about two strings (MSG_LOOKUP_AUTH or _SENDER_LOGIN); the
 * auth_verdict, AUTH_TEMPFAIL when it cannot say.  The request's copy of
 * a password is cleared by ipc_call's free; ours by the caller.
 */
static enum auth_verdict
session_ask_auth(struct session *s, uint32_t type, const char *a,
    const char *b)
{
	struct ipc_msg req, resp;
	struct msg_auth auth = { a, b };
	struct msg_sender_login sl = { a, b };
	struct msg_verdict v;
	uint32_t id = ++s->srv->next_reqid;
	uint32_t want = type == MSG_LOOKUP_AUTH ? MSG_LOOKUPD_AUTH_VERDICT :
	    MSG_LOOKUPD_SENDER_VERDICT;
	const char *why;

	if ((type == MSG_LOOKUP_AUTH ? msg_encode(&req, type, id, &auth) :
	    msg_encode(&req, type, id, &sl)) != 0)
		return AUTH_TEMPFAIL;
	if (ipc_call(s->srv->lookupd, &req, &resp, LOOKUP_TIMEOUT_MS) < 0) {
		log_warn("lookupd did not answer: %s", strerror(errno));
		return AUTH_TEMPFAIL;
	}
	if (msg_decode(&resp, want, &v, &why) != 0) {
		msg_log_reject("lookupd", &resp, why);
		v.verdict = AUTH_TEMPFAIL;
	}
	ipc_msg_free(&resp);
	return (enum auth_verdict)v.verdict;
}

/* The authenticated login may use s->sender: 0, or -1 after replying. */
static int
session_sender_check(struct session *s)
{
	char reply[700];

	switch (session_ask_auth(s, MSG_LOOKUP_SENDER_LOGIN, s->sender,
	    s->auth_user)) {
	case AUTH_GRANTED:
		return 0;
	case AUTH_DENIED:
		snprintf(reply, sizeof(reply), "553 5.7.1 <%s>: Sender address "
		    "rejected: not owned by user %s", s->sender, s->auth_user);
		break;
	default:
		snprintf(reply, sizeof(reply), "451 4.3.0 <%s>: Temporary "
		    "lookup failure", s->sender);
		break;
	}
	session_log_reject(s, reply[0] == '5' ? REJECT_SENDER_LOGIN :
	    REJECT_LOOKUP_FAILURE, "MAIL", reply, NULL);
	session_reply(s, "%s", reply);
	return -1;
}

/* The domain (parsed by addr.c) is one of relay_domains. */
static int
session_relay_domain(const struct session *s, const struct mailaddr *a)
{
	const struct strlist *l = &s->set->relay_domains;

	/* An address literal never names a relay domain. */
	if (a->flags & ADDR_F_LITERAL)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->v[i]);

		if (n > 0 && l->v[i][n - 1] == '.')
			n--;
		if (strlen(a->domain) == n &&
		    strncasecmp(l->v[i], a->domain, n) == 0)
			return 1;
	}
	return 0;
}

/* Ask lookupd what a recipient is; LOOKUP_TEMPFAIL when it cannot say. */
static enum lookup_verdict
session_lookup(struct session *s, const char *rcpt)
{
	struct ipc_msg req, resp;
	struct msg_address a = { rcpt };
	struct msg_verdict v;
	uint32_t id = ++s->srv->next_reqid;
	const char *why;

	if (msg_encode(&req, MSG_LOOKUP_RCPT, id, &a) != 0)
		return LOOKUP_TEMPFAIL;
	if (ipc_call(s->srv->lookupd, &req, &resp, LOOKUP_TIMEOUT_MS) < 0) {
		log_warn("lookupd did not answer: %s", strerror(errno));
		return LOOKUP_TEMPFAIL;
	}
	if (msg_decode(&resp, MSG_LOOKUPD_RCPT_VERDICT, &v, &why) != 0) {
		msg_log_reject("lookupd", &resp, why);
		v.verdict = LOOKUP_TEMPFAIL;
	}
	ipc_msg_free(&resp);
	return (enum lookup_verdict)v.verdict;
}

/* session_rcpt_ok - count an accepted RCPT and answer 250 */
static void
session_rcpt_ok(struct session *s)
{
	s->naccepted++;
	s->ok[CNT_RCPT]++;
	session_reply(s, "250 2.1.5 Ok");
}

/*
 * session_rcpt_known - rcpt was accepted in this transaction already,
 * spelled exactly so (case-insensitively too when local, since local
 * mailboxes and aliases are found case-insensitively).
 */
static int
session_rcpt_known(const struct session *s, const char *rcpt, int local)
{
	for (uint32_t i = 0; i < s->nrcpt; i++)
		if (local ? strcasecmp(s->rcpts[i].addr, rcpt) == 0 :
		    strcmp(s->rcpts[i].addr, rcpt) == 0)
			return 1;
	return 0;
}

static void
session_rcpt(struct session *s, const struct smtp_command *cmd)
{
	char rcpt[ADDR_TEXT_MAX], reply[700];

	if (!s->have_mail) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (addr_format(&cmd->addr, rcpt, sizeof(rcpt)) < 0) {
		session_reply(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	/* Every accepted RCPT counts, repeats included, as in Postfix:
	 * otherwise one address repeated without end costs a reply each. */
	if (s->naccepted >= (uint32_t)s->set->smtpd_recipient_limit) {
		session_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	/* The same address, from the same client in the same transaction,
	 * gets the same verdict: no lookupd round trip for a repeat. */
	if (session_rcpt_known(s, rcpt, 0)) {
		session_rcpt_ok(s);
		return;
	}
	enum lookup_verdict verdict = session_lookup(s, rcpt);

	switch (verdict) {
	case LOOKUP_LOCAL:
	case LOOKUP_ALIAS:
		break;
	case LOOKUP_REMOTE:
		if (s->trusted || s->auth_method != NULL ||
		    session_relay_domain(s, &cmd->addr))
			break;
		snprintf(reply, sizeof(reply),
		    "554 5.7.1 <%s>: Relay access denied", rcpt);
		session_log_reject(s, REJECT_RELAY_DENIED, "RCPT", reply,
		    rcpt);
		session_reply(s, "%s", reply);
		return;
	case LOOKUP_UNKNOWN:
		snprintf(reply, sizeof(reply), "550 5.1.1 <%s>: Recipient "
		    "address rejected: User unknown in local recipient table",
		    rcpt);
		session_log_reject(s, REJECT_UNKNOWN_RECIPIENT, "RCPT", reply,
		    rcpt);
		session_reply(s, "%s", reply);
		return;
	case LOOKUP_LOOP:
		/* RFC 3463 X.4.6: where it goes leads back to itself. */
		snprintf(reply, sizeof(reply), "550 5.4.6 <%s>: Recipient "
		    "address rejected: its rewriting loops", rcpt);
		session_log_reject(s, REJECT_LOOP, "RCPT", reply, rcpt);
		session_reply(s, "%s", reply);
		return;
	case LOOKUP_TEMPFAIL:
	default:
		snprintf(reply, sizeof(reply), "451 4.3.0 <%s>: Temporary "
		    "lookup failure", rcpt);
		session_log_reject(s, REJECT_LOOKUP_FAILURE, "RCPT", reply,
		    rcpt);
		session_reply(s, "%s", reply);
		return;
	}
	/*
	 * user@[one of our addresses] would be relayed straight back here,
	 * again and again until the hop limit: refuse it (Postfix would
	 * take it as local; refusing is simpler and cannot loop).  Only a
	 * client that may relay gets this far with a literal.
	 */
	if (verdict == LOOKUP_REMOTE && (cmd->addr.flags & ADDR_F_LITERAL) &&
	    myaddr_literal_ours(cmd->addr.domain)) {
		snprintf(reply, sizeof(reply), "550 5.4.6 <%s>: Recipient "
		    "address rejected: mail for %s loops back to myself", rcpt,
		    cmd->addr.domain);
		session_log_reject(s, REJECT_LOOP, "RCPT", reply, rcpt);
		session_reply(s, "%s", reply);
		return;
	}
	/*
	 * A repeated recipient is accepted once: one copy is delivered.
	 * Local mailboxes and aliases are found case-insensitively, so
	 * their case variants are the same recipient too; without this a
	 * client could make one message into a thousand local deliveries.
	 */
	if (session_rcpt_known(s, rcpt, verdict != LOOKUP_REMOTE)) {
		session_rcpt_ok(s);
		return;
	}
	s->rcpts = xreallocarray(s->rcpts, s->nrcpt + 1, sizeof(*s->rcpts));
	memset(&s->rcpts[s->nrcpt], 0, sizeof(s->rcpts[0]));
	strlcpy(s->rcpts[s->nrcpt].addr, rcpt, sizeof(s->rcpts[0].addr));
	s->rcpts[s->nrcpt].notify = cmd->notify;
	if (cmd->orcpt[0] != '\0')
		s->rcpts[s->nrcpt].orcpt = xstrdup(cmd->orcpt);
	s->nrcpt++;
	session_rcpt_ok(s);
}

/*
 * A new message file: the one queued handed out with the last commit
 * (no round trip), else one asked for with an OPEN.  Its fd (the
 * caller's), or -1 with reply set.
 */
static int
session_open(struct session *s, char *qid, size_t qidsize, char *reply,
    size_t replysize)
{
	struct ipc_msg req, resp;
	uint32_t id;
	struct msg_failed failed;
	struct msg_qid opened;
	const char *why = "unexpected type";
	int fd = -1;

	if (s->srv->next_fd >= 0) {
		fd = s->srv->next_fd;
		s->srv->next_fd = -1;
		strlcpy(qid, s->srv->next_qid, qidsize);
		return fd;
	}
	id = ++s->srv->next_reqid;
	snprintf(reply, replysize, "451 4.3.0 Error: queue file write error");
	msg_encode_empty(&req, MSG_SMTPD_MESSAGE_OPEN, id);
	if (ipc_call(s->srv->queued, &req, &resp, OPEN_TIMEOUT_MS) < 0) {
		log_warn("queued did not answer: %s", strerror(errno));
		return -1;
	}
	if (resp.type == MSG_QUEUED_MESSAGE_OPENED &&
	    msg_decode(&resp, MSG_QUEUED_MESSAGE_OPENED, &opened, &why) == 0) {
		strlcpy(qid, opened.qid, qidsize);
		fd = ipc_msg_take_fd(&resp);
	}
	else if (resp.type == MSG_QUEUED_MESSAGE_FAILED &&
	    msg_decode(&resp, MSG_QUEUED_MESSAGE_FAILED, &failed, &why) == 0 &&
	    failed.code < 500)
		snprintf(reply, replysize, "%u %s", failed.code, failed.text);
	else
		msg_log_reject("queued", &resp, resp.type ==
		    MSG_QUEUED_MESSAGE_FAILED ? "not a 4xx" : why);
	ipc_msg_free(&resp);
	return fd;
}

static void
session_abort(struct session *s, const char *qid)
{
	struct msg_qid a = { qid };
	struct ipc_msg req;

	if (msg_encode(&req, MSG_SMTPD_MESSAGE_ABORT, ++s->srv->next_reqid,
	    &a) != 0 || ipc_send(s->srv->queued, &req) < 0)
		log_warn("cannot tell queued to drop %s", qid);
}

/*
 * session_keep_next - keep the file queued handed out with a commit for
 * the worker's next message.  One queued should not have sent (a second,
 * or with a bad name) is given back.
 */
static void
session_keep_next(struct session *s, const char *next, struct ipc_msg *resp)
{
	int fd = ipc_msg_take_fd(resp);

	if (!qid_valid(next)) {
		log_warn("queued handed out a next file without a valid queue "
		    "ID; not used");
		close(fd);
		return;
	}
	if (s->srv->next_fd >= 0) {
		log_warn("queued handed out a second next file %s; given back",
		    next);
		close(fd);
		session_abort(s, next);
		return;
	}
	s->srv->next_fd = fd;
	strlcpy(s->srv->next_qid, next, sizeof(s->srv->next_qid));
}

/* Commit: 0 when queued made the message durable, else reply is set. */
static int
session_commit(struct session *s, const char *qid, uint64_t size,
    char *reply, size_t replysize)
{
	struct ipc_msg req, resp;
	uint32_t id = ++s->srv->next_reqid;
	struct msg_commit c = { qid, size, 0 };
	struct msg_committed_next next;
	struct msg_failed failed;
	struct msg_qid done;
	const char *why = "unexpected type";
	int r = -1;

	snprintf(reply, replysize, "451 4.3.0 Error: queue file write error");
	/* A file handed out now skips queued's queue_minfree check at the
	 * next DATA; only an smtpd that checks at MAIL itself takes one. */
	if (s->srv->space != NULL)
		c.flags |= COMMIT_F_NEXT;
	if (msg_encode(&req, MSG_SMTPD_MESSAGE_COMMIT, id, &c) != 0)
		return -1;
	if (ipc_call(s->srv->queued, &req, &resp, COMMIT_TIMEOUT_MS) < 0) {
		log_warn("%s: queued did not confirm the commit: %s", qid,
		    strerror(errno));
		return -1;
	}
	if (resp.type == MSG_QUEUED_MESSAGE_COMMITTED &&
	    msg_decode(&resp, MSG_QUEUED_MESSAGE_COMMITTED, &done, &why) == 0 &&
	    strcmp(done.qid, qid) == 0)
		r = 0;
	else if (resp.type == MSG_QUEUED_MESSAGE_COMMITTED_NEXT &&
	    msg_decode(&resp, MSG_QUEUED_MESSAGE_COMMITTED_NEXT, &next,
	    &why) == 0 && strcmp(next.qid, qid) == 0) {
		r = 0;
		session_keep_next(s, next.next, &resp);
	}
	else if (resp.type == MSG_QUEUED_MESSAGE_FAILED &&
	    msg_decode(&resp, MSG_QUEUED_MESSAGE_FAILED, &failed, &why) == 0)
		snprintf(reply, replysize, "%u %s", failed.code, failed.text);
	else
		msg_log_reject("queued", &resp, resp.type ==
		    MSG_QUEUED_MESSAGE_COMMITTED ? "another queue ID" : why);
	ipc_msg_free(&resp);
	return r;
}

/*
 * session_tag_tls_optional - RFC 8689 4.1: a message without REQUIRETLS
 * whose header says "TLS-Required: No" is tagged so: the envelope flag
 * that tells deliverd to ignore the recipient's TLS policy.  The header
 * comes after the envelope in the file, so the flag is set in place
 * once the header has been read (msgfile_writer_patch keeps the
 * checksum true), before the trailer and the sync.
 */
static void
session_tag_tls_optional(struct session *s, const char *qid,
    struct msgfile_writer *w)
{
	uint32_t f = s->head_flags | ENVELOPE_F_TLS_OPTIONAL;
	unsigned char old[4] = { s->head_flags >> 24, s->head_flags >> 16,
	    s->head_flags >> 8, s->head_flags };
	unsigned char new[4] = { f >> 24, f >> 16, f >> 8, f };

	msgfile_writer_patch(w, envelope_flags_offset(s->head_len), old, new,
	    sizeof(new));
	log_info("%s: tls-required-no: TLS-Required: No in the header; "
	    "recipient TLS policies will be ignored (RFC 8689)", qid);
}

/* Start the queue file with the envelope and the Received: header. */
static void
session_write_head(struct session *s, struct msgfile_writer *w,
    const char *qid)
{
	struct envelope env;
	struct received_info ri;
	unsigned char *prefix;
	size_t plen;
	char recv[2048], tls_using[sizeof(s->tls_info) + 8];
	int rlen;

	snprintf(tls_using, sizeof(tls_using), "using %s", s->tls_info);

	memset(&env, 0, sizeof(env));
	strlcpy(env.qid, qid, sizeof(env.qid));
	env.arrival = (uint64_t)time(NULL);
	strlcpy(env.sender, s->sender, sizeof(env.sender));
	strlcpy(env.helo, s->helo, sizeof(env.helo));
	strlcpy(env.client_name, s->name, sizeof(env.client_name));
	strlcpy(env.client_addr, s->addr, sizeof(env.client_addr));
	strlcpy(env.protocol, session_proto(s), sizeof(env.protocol));
	env.body = (uint32_t)s->body;
	env.ret = (uint32_t)s->ret;
	env.envid = s->envid[0] != '\0' ? s->envid : NULL;
	env.nrcpt = s->nrcpt;
	env.rcpts = s->rcpts;
	env.flags = (s->smtputf8 ? ENVELOPE_F_SMTPUTF8 : 0) |
	    (s->requiretls ? ENVELOPE_F_REQUIRETLS : 0);
	envelope_encode(&env, &prefix, &plen);
	s->head_len = plen;
	s->head_flags = env.flags;
	if (s->requiretls)
		log_info("%s: requiretls: received with REQUIRETLS; relayed "
		    "only over verified TLS (RFC 8689)", qid);

	memset(&ri, 0, sizeof(ri));
	ri.helo = s->helo;
	ri.client_name = s->name;
	ri.client_addr = s->addr;
	ri.myhostname = s->set->myhostname;
	ri.protocol = session_proto(s);
	ri.tls = s->tls ? tls_using : NULL;
	ri.qid = qid;
	ri.rcpt = s->nrcpt == 1 ? s->rcpts[0].addr : NULL;
	ri.when = (time_t)env.arrival;
	rlen = smtp_received_format(&ri, recv, sizeof(recv));

	msgfile_write(w, prefix, plen);
	if (rlen > 0)
		msgfile_write(w, recv, (size_t)rlen);
	free(prefix);
}

/* session_log_client - the "QID: client=" line of a new message */
static void
session_log_client(struct session *s, const char *qid)
{
	char user[SMTP_AUTH_FIELD_MAX * 4 + 1];

	if (s->auth_method != NULL)
		log_info("%s: client=%s[%s], sasl_method=%s, sasl_username=%s",
		    qid, s->name, s->addr, s->auth_method, log_vis(user,
		    sizeof(user), s->auth_user, strlen(s->auth_user)));
	else
		log_info("%s: client=%s[%s]", qid, s->name, s->addr);
}

/* session_fix - the submission fix-ups for qid, or NULL (smtp_data.h) */
static const struct smtp_data_fix *
session_fix(struct session *s, const char *qid)
{
	static struct smtp_data_fix fix;

	fix.myhostname = s->set->myhostname;
	fix.qid = qid;
	fix.when = time(NULL);
	return session_is_submission(s) ? &fix : NULL;
}

/* session_lost - the client went away or was too slow mid-message */
static void
session_lost(struct session *s, int io_status, const char *verb)
{
	s->quit = 1;
	if (io_status == SMTP_IO_TIMEOUT)
		session_reply(s, "421 4.4.2 %s Error: timeout exceeded",
		    s->set->myhostname);
	log_info("%s after %s from %s[%s]", io_status == SMTP_IO_TIMEOUT ?
	    "timeout" : "lost connection", verb, s->name, s->addr);
}

/* session_verdict - the refusal a received message earns, or "" */
static void
session_verdict(struct session *s, const struct smtp_data_result *res,
    char *reply, size_t size)
{
	reply[0] = '\0';
	if (res->too_big)
		snprintf(reply, size,
		    "552 5.3.4 Message size exceeds fixed limit");
	else if (res->line_too_long)
		snprintf(reply, size, "500 5.5.2 Error: line too long "
		    "(limit %d octets)", SMTP_TEXT_LINE_MAX);
	else if (res->bare_newline &&
	    s->set->smtpd_bare_newline == BARE_NEWLINE_REJECT)
		snprintf(reply, size, "550 5.5.2 Error: bare <CR> or "
		    "<LF> received; lines must end in <CR><LF>");
	else if (res->hops > SMTP_MAX_HOPS)
		snprintf(reply, size, "554 5.4.6 Error: too many hops");
}

/*
 * session_finish - the whole message is in out (fd): refuse it, or make
 * it durable through queued and then, and only then, answer 250.  The
 * same end for DATA and BDAT LAST.  Closes fd; the caller ends the
 * transaction.
 */
static void
session_finish(struct session *s, const char *qid, int fd,
    struct msgfile_writer *out, const struct smtp_data_result *res,
    const char *verb)
{
	char reply[600];
	uint64_t size = 0;
	int werr = 0;

	session_verdict(s, res, reply, sizeof(reply));
	/* RFC 8689 4.1: with REQUIRETLS the TLS-Required field is ignored */
	if (reply[0] == '\0' && res->tls_required_no && !s->requiretls)
		session_tag_tls_optional(s, qid, out);
	/* The trailer goes after the last octet and before the sync: a file
	 * that ends in one was written to its end (msgfile.h). */
	if (reply[0] == '\0' && (werr = msgfile_writer_finish(out,
	    &size)) == 0 && fdatasync(fd) < 0)
		werr = errno;
	/* A full disk (or quota) is the client's to wait out: 452, and the
	 * next message, or this one again later, may well fit (RFC 3463
	 * 4.3.1).  Any other write error is ours: 451. */
	if (reply[0] == '\0' && werr != 0) {
		log_warn("%s: cannot write queue file: %s", qid,
		    strerror(werr));
		snprintf(reply, sizeof(reply), "%s", werr == ENOSPC ||
		    werr == EDQUOT ? "452 4.3.1 Insufficient system storage" :
		    "451 4.3.0 Error: queue file write error");
	}
	if (reply[0] == '\0' && session_commit(s, qid, size,
	    reply, sizeof(reply)) == 0) {
		close(fd);
		s->messages++;
		session_reply(s, "250 2.0.0 Ok: queued as %s", qid);
		return;
	}
	/* Whatever happened, the client hears a failure and nothing stays. */
	session_abort(s, qid);
	close(fd);
	log_info("%s: reject: %s from %s[%s]: %s; from=<%s> proto=%s", qid,
	    verb, s->name, s->addr, reply, s->sender, session_proto(s));
	session_reply(s, "%s", reply);
}

/* DATA: receive, make durable through queued, then and only then 250. */
static void
session_data(struct session *s)
{
	struct msgfile_writer *out = &s->data_out;
	struct smtp_data_result res;
	char qid[QID_MAX], reply[600];
	int fd;

	if (s->bdat != BDAT_NONE) {
		/* RFC 3030 2: the transaction is now indeterminate. */
		session_bdat_drop(s);
		s->bdat = BDAT_FAILED;
		session_reply(s, "503 5.5.1 Error: DATA after BDAT; send RSET");
		return;
	}
	if (!s->have_mail) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->nrcpt == 0) {
		session_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if ((fd = session_open(s, qid, sizeof(qid), reply, sizeof(reply))) < 0) {
		session_reply(s, "%s", reply);
		return;
	}
	session_log_client(s, qid);
	msgfile_writer_init(out, fd);
	session_write_head(s, out, qid);
	smtp_io_reply(&s->io, "354 End data with <CR><LF>.<CR><LF>");
	smtp_limits_arm(&s->lim, &s->io, s->set->smtpd_data_timeout);
	int r = smtp_data_receive(&s->io, out, s->set->message_size_limit,
	    s->set->smtpd_bare_newline, session_fix(s, qid), &res);
	smtp_io_set_deadline(&s->io, 0);
	if (r < 0) {
		session_abort(s, qid);
		close(fd);
		session_lost(s, res.io_status, "DATA");
		return;
	}
	int before = s->messages;

	session_finish(s, qid, fd, out, &res, "DATA");
	if (s->messages > before)
		s->ok[CNT_DATA]++;
	session_reset(s);
}

/*
 * session_bdat_start - the first chunk of a transaction: open the queue
 * file as DATA does.  0, or -1 after replying (the chunk is still to be
 * read and dropped).
 */
static int
session_bdat_start(struct session *s)
{
	char reply[600];

	if ((s->bdat_fd = session_open(s, s->bdat_qid, sizeof(s->bdat_qid),
	    reply, sizeof(reply))) < 0) {
		session_reply(s, "%s", reply);
		return -1;
	}
	session_log_client(s, s->bdat_qid);
	msgfile_writer_init(&s->bdat_out, s->bdat_fd);
	session_write_head(s, &s->bdat_out, s->bdat_qid);
	smtp_bdat_begin(&s->bdat_in, &s->bdat_out, s->set->message_size_limit,
	    s->set->smtpd_bare_newline, session_fix(s, s->bdat_qid));
	s->bdat = BDAT_OPEN;
	return 0;
}

/*
 * BDAT chunk-size [LAST] (RFC 3030).  The chunk's octets follow the
 * command line at once, whatever the reply will be, so every path reads
 * them: a refused chunk's data is read and dropped, or it would be
 * taken for commands.  A chunk that fails (sequence, size, disk) fails
 * the transaction: the file is dropped, and later chunks are read and
 * refused with 503 until RSET (or MAIL after it), as RFC 3030 2 says.
 * LAST ends the message exactly like DATA's end (session_finish): 250
 * only once queued has made it durable.
 */
static void
session_bdat(struct session *s, const struct smtp_command *cmd)
{
	const char *refuse = NULL;
	char reply[600];
	int r;

	if (!s->esmtp)
		refuse = "503 5.5.1 Error: send EHLO first";
	else if (s->bdat == BDAT_FAILED)
		refuse = "503 5.5.1 Error: an earlier BDAT failed; send RSET";
	else if (!s->have_mail)
		refuse = "503 5.5.1 Error: need MAIL command";
	else if (s->nrcpt == 0)
		refuse = "554 5.5.1 Error: no valid recipients";
	if (refuse != NULL || (s->bdat == BDAT_NONE &&
	    session_bdat_start(s) < 0)) {
		if (refuse != NULL)
			session_reply(s, "%s", refuse);
		if (s->have_mail)
			s->bdat = BDAT_FAILED;
		refuse = "";
	}
	smtp_limits_arm(&s->lim, &s->io, s->set->smtpd_data_timeout);
	r = smtp_bdat_chunk(&s->io, refuse == NULL ? &s->bdat_in : NULL,
	    cmd->chunk_size);
	smtp_io_set_deadline(&s->io, 0);
	if (r < 0) {
		session_bdat_drop(s);
		session_lost(s, r, "BDAT");
		return;
	}
	if (refuse != NULL)
		return;
	if (cmd->last) {
		int before = s->messages;

		smtp_bdat_end(&s->bdat_in);
		s->bdat = BDAT_NONE;	/* session_finish closes the file */
		session_finish(s, s->bdat_qid, s->bdat_fd, &s->bdat_out,
		    &s->bdat_in.res, "BDAT");
		if (s->messages > before)
			s->ok[CNT_BDAT]++;
		session_reset(s);
		return;
	}
	/* Fail early where the end is sure to fail: no point taking more. */
	session_verdict(s, &s->bdat_in.res, reply, sizeof(reply));
	if (reply[0] == '\0' && s->bdat_out.failed)
		snprintf(reply, sizeof(reply), "%s", s->bdat_out.failed ==
		    ENOSPC || s->bdat_out.failed == EDQUOT ? "452 4.3.1 "
		    "Insufficient system storage" : "451 4.3.0 Error: queue "
		    "file write error");
	if (reply[0] != '\0') {
		log_info("%s: reject: BDAT from %s[%s]: %s; from=<%s> proto=%s",
		    s->bdat_qid, s->name, s->addr, reply, s->sender,
		    session_proto(s));
		session_bdat_drop(s);
		s->bdat = BDAT_FAILED;
		session_reply(s, "%s", reply);
		return;
	}
	s->ok[CNT_BDAT]++;
	session_reply(s, "250 2.0.0 Ok: %llu octets received",
	    (unsigned long long)cmd->chunk_size);
}

static enum session_counter
session_counter_of(enum smtp_verb v)
{
	switch (v) {
	case SMTP_CMD_HELO: return CNT_HELO;
	case SMTP_CMD_EHLO: return CNT_EHLO;
	case SMTP_CMD_MAIL: return CNT_MAIL;
	case SMTP_CMD_RCPT: return CNT_RCPT;
	case SMTP_CMD_DATA: return CNT_DATA;
	case SMTP_CMD_RSET: return CNT_RSET;
	case SMTP_CMD_NOOP: return CNT_NOOP;
	case SMTP_CMD_VRFY: return CNT_VRFY;
	case SMTP_CMD_EXPN: return CNT_EXPN;
	case SMTP_CMD_HELP: return CNT_HELP;
	case SMTP_CMD_QUIT: return CNT_QUIT;
	case SMTP_CMD_STARTTLS: return CNT_STARTTLS;
	case SMTP_CMD_AUTH: return CNT_AUTH;
	case SMTP_CMD_BDAT: return CNT_BDAT;
	case SMTP_CMD_ETRN: return CNT_ETRN;
	default: return CNT_UNKNOWN;
	}
}

/*
 * Start TLS on the connection (STARTTLS or the submissions port).  0, or
 * -1 when the handshake failed and the session must end without a word.
 */
static int
session_tls_start(struct session *s)
{
	char err[256], why[300];
	int r;

	r = smtp_io_tls_accept(&s->io, s->srv->tls, err, sizeof(err));
	if (r != SMTP_IO_OK) {
		log_info("SSL_accept error from %s[%s]: %s", s->name, s->addr,
		    log_vis(why, sizeof(why), err, strlen(err)));
		return -1;
	}
	s->tls = 1;
	tls_server_describe(s->io.ssl, s->tls_info, sizeof(s->tls_info));
	log_info("Anonymous TLS connection established from %s[%s]: %s",
	    s->name, s->addr, s->tls_info);
	return 0;
}

/*
 * STARTTLS (RFC 3207).  Whatever the client sent after the command, in
 * the same packet or later, before the handshake is dropped unread: it
 * came in plaintext and could have been injected by anyone on the path
 * (CVE-2011-0411).  After the handshake the session starts over: HELO,
 * transaction and authentication are forgotten, and EHLO is needed again.
 */
static void
session_starttls(struct session *s)
{
	if (s->srv->tls == NULL) {
		session_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (s->tls) {
		session_reply(s, "554 5.5.1 Error: TLS already active");
		return;
	}
	smtp_io_reply(&s->io, "220 2.0.0 Ready to start TLS");
	if (smtp_io_flush(&s->io) != SMTP_IO_OK) {
		s->quit = 1;
		return;
	}
	if (smtp_io_input_pending(&s->io))
		log_info("discarding plaintext sent after STARTTLS by %s[%s]",
		    s->name, s->addr);
	smtp_io_discard_input(&s->io);
	if (session_tls_start(s) < 0) {
		s->quit = 1;
		s->io.failed = 1;	/* no reply can reach the client now */
		return;
	}
	s->ok[CNT_STARTTLS]++;
	session_reset(s);
	s->helo_done = 0;
	s->esmtp = 0;
	s->helo[0] = '\0';
	s->auth_method = NULL;
	s->auth_user[0] = '\0';
}

/* Sleep before answering the nth failure: delay, 2 delay, 4 delay... */
static void
session_auth_delay(struct session *s)
{
	long d = s->set->smtpd_auth_failure_delay;
	struct timespec ts;

	for (int i = 1; i < s->auth_failures && d > 0 && d < AUTH_DELAY_MAX_S;
	    i++)
		d *= 2;
	if (d > AUTH_DELAY_MAX_S)
		d = AUTH_DELAY_MAX_S;
	if (d <= 0)
		return;
	smtp_io_flush(&s->io);
	ts.tv_sec = d;
	ts.tv_nsec = 0;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The client has used up its failed AUTH attempts: 421, end. */
static void
session_auth_locked_out(struct session *s)
{
	s->errors++;
	smtp_io_reply(&s->io, "421 4.7.0 %s Error: too many failed "
	    "authentication attempts", s->set->myhostname);
	log_info("too many failed authentication attempts from %s[%s]",
	    s->name, s->addr);
	s->quit = 1;
}

/* A failed AUTH: log for fail2ban, pause, 535 or 421 at the limit. */
static void
session_auth_failed(struct session *s, enum smtp_auth_mech m,
    const char *login)
{
	char user[SMTP_AUTH_FIELD_MAX * 4 + 1];

	s->auth_failures++;
	if (s->srv->auth_failure_report != NULL)
		s->srv->auth_failure_report(s->addr);
	/* The shape fail2ban's postfix[mode=auth] filter reads. */
	log_warn("%s[%s]: SASL %s authentication failed: authentication "
	    "failure, sasl_username=%s", s->name, s->addr,
	    smtp_auth_mech_name(m), log_vis(user, sizeof(user), login,
	    strlen(login)));
	session_auth_delay(s);
	if (s->auth_failures >= s->set->smtpd_auth_failure_limit) {
		session_auth_locked_out(s);
		return;
	}
	session_reply(s, "535 5.7.8 Error: authentication failed: "
	    "authentication failure");
}

/* Can AUTH start now?  0, or -1 after the refusal. */
static int
session_auth_allowed(struct session *s)
{
	if (!session_auth_listener(s)) {
		session_reply(s, "503 5.5.1 Error: authentication not enabled");
		return -1;
	}
	if (!session_auth_offered(s)) {
		session_reply(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return -1;
	}
	if (!s->esmtp) {
		session_reply(s, "503 5.5.1 Error: send EHLO first");
		return -1;
	}
	if (s->auth_method != NULL) {
		session_reply(s, "503 5.5.1 Error: already authenticated");
		return -1;
	}
	if (s->have_mail) {
		session_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
		return -1;
	}
	if (s->srv->auth_failures_fetch != NULL && !s->auth_failures_known) {
		uint32_t n = s->srv->auth_failures_fetch();

		s->auth_failures += n > INT32_MAX / 2 ? INT32_MAX / 2 : (int)n;
		s->auth_failures_known = 1;
	}
	/* Over the limit from earlier sessions: no more guesses, whatever
	 * the password would have been. */
	if (s->auth_failures >= s->set->smtpd_auth_failure_limit) {
		session_auth_locked_out(s);
		return -1;
	}
	return 0;
}

/* AUTH mechanism [initial-response] (RFC 4954) */
static void
session_auth(struct session *s, const struct smtp_command *cmd)
{
	char login[SMTP_AUTH_FIELD_MAX + 1], pass[SMTP_AUTH_FIELD_MAX + 1];
	const char *arg = cmd->arg, *init = NULL;
	size_t mlen = 0, ilen = 0;
	enum smtp_auth_mech m;
	enum smtp_auth_status st;

	if (session_auth_allowed(s) < 0)
		return;
	while (mlen < cmd->arglen && arg[mlen] != ' ')
		mlen++;
	if (mlen < cmd->arglen) {
		init = arg + mlen + 1;
		ilen = cmd->arglen - mlen - 1;
	}
	if ((m = smtp_auth_mech_parse(arg, mlen)) == SMTP_AUTH_NONE) {
		session_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	if (init != NULL && ilen == 1 && init[0] == '*') {
		session_reply(s, "501 5.7.0 Authentication aborted");
		return;
	}
	st = smtp_auth_exchange(&s->io, m, init, ilen, login, sizeof(login),
	    pass, sizeof(pass));
	switch (st) {
	case SMTP_AUTH_OK:
		break;
	case SMTP_AUTH_CANCELLED:
		session_reply(s, "501 5.7.0 Authentication aborted");
		return;
	case SMTP_AUTH_IO:
		s->quit = 1;
		return;
	case SMTP_AUTH_TIMEOUT:
		/* Each response line has smtpd_timeout, as a command has. */
		smtp_io_reply(&s->io, "421 4.4.2 %s Error: timeout exceeded",
		    s->set->myhostname);
		log_info("timeout after AUTH from %s[%s]", s->name, s->addr);
		s->quit = 1;
		return;
	case SMTP_AUTH_BAD_BASE64:
		session_reply(s, "501 5.5.2 Cannot decode response");
		return;
	default:
		session_reply(s, "501 5.5.2 Malformed authentication response");
		return;
	}
	enum auth_verdict v = session_ask_auth(s, MSG_LOOKUP_AUTH, login, pass);

	explicit_bzero(pass, sizeof(pass));
	if (v == AUTH_GRANTED) {
		strlcpy(s->auth_user, login, sizeof(s->auth_user));
		s->auth_method = smtp_auth_mech_name(m);
		s->ok[CNT_AUTH]++;
		session_reply(s, "235 2.7.0 Authentication successful");
	} else if (v == AUTH_TEMPFAIL)
		session_reply(s, "454 4.7.0 Temporary authentication failure");
	else
		session_auth_failed(s, m, login);
}

/*
 * ETRN (RFC 1985): queued makes the deferred mail for the domain due now.
 * Only clients in mynetworks may ask (459 for others, RFC 1985 5.2):
 * anyone else could make tern hammer a destination at will.  There are
 * no named queues ("#name"), so those get 458, which RFC 1985 5.2 has
 * for a node that cannot be queued.  The count decides 250 (started)
 * or 251 (nothing waiting).
 */
static void
session_etrn(struct session *s, const struct smtp_command *cmd)
{
	struct msg_etrn e = { cmd->etrn_domain, cmd->etrn_flags };
	struct msg_etrn_done done;
	struct ipc_msg req, resp;
	const char *why = "unexpected type";
	const char *node = cmd->etrn_domain, *at = (cmd->etrn_flags &
	    ETRN_F_SUBDOMAINS) ? "@" : "";

	if (!s->helo_done) {
		session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->have_mail) {
		session_reply(s, "503 5.5.1 Error: MAIL transaction in progress");
		return;
	}
	if (!s->trusted) {
		session_reply(s, "459 4.7.1 Node %s%s not allowed: client not "
		    "authorized to use ETRN", cmd->etrn_queue ? "" : at,
		    cmd->etrn_queue ? "(queue)" : node);
		log_info("reject: ETRN from %s[%s]: not in mynetworks",
		    s->name, s->addr);
		return;
	}
	if (cmd->etrn_queue) {
		session_reply(s, "458 4.3.0 Unable to queue messages for node: "
		    "named queues are not supported");
		return;
	}
	if (msg_encode(&req, MSG_SMTPD_ETRN, ++s->srv->next_reqid, &e) != 0 ||
	    ipc_call(s->srv->queued, &req, &resp, ETRN_TIMEOUT_MS) < 0) {
		log_warn("ETRN: queued did not answer: %s", strerror(errno));
		session_reply(s, "458 4.3.0 Unable to queue messages for node "
		    "%s%s", at, node);
		return;
	}
	if (resp.type != MSG_QUEUED_ETRN_DONE ||
	    msg_decode(&resp, MSG_QUEUED_ETRN_DONE, &done, &why) != 0) {
		if (resp.type != MSG_QUEUED_MESSAGE_FAILED)
			msg_log_reject("queued", &resp, why);
		session_reply(s, "458 4.3.0 Unable to queue messages for node "
		    "%s%s", at, node);
	} else if (done.messages == 0) {
		s->ok[CNT_ETRN]++;
		session_reply(s, "251 2.0.0 OK, no messages waiting for node "
		    "%s%s", at, node);
	} else {
		s->ok[CNT_ETRN]++;
		session_reply(s, "250 2.0.0 OK, queuing for node %s%s started",
		    at, node);
	}
	ipc_msg_free(&resp);
}

/* Run one parsed command. */
static void
session_dispatch(struct session *s, const struct smtp_command *cmd)
{
	enum session_counter c = session_counter_of(cmd->verb);

	s->total[c]++;
	s->last_cmd = smtp_verb_name(cmd->verb);
	switch (cmd->verb) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
		session_helo(s, cmd, cmd->verb == SMTP_CMD_EHLO);
		s->ok[c]++;
		break;
	case SMTP_CMD_MAIL:
		session_mail(s, cmd);
		break;
	case SMTP_CMD_RCPT:
		session_rcpt(s, cmd);
		break;
	case SMTP_CMD_DATA:
		session_data(s);
		break;
	case SMTP_CMD_RSET:
		session_reset(s);
		s->ok[c]++;
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_NOOP:
		s->ok[c]++;
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_CMD_VRFY:
		s->ok[c]++;
		session_reply(s, "252 2.0.0 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		break;
	case SMTP_CMD_EXPN:
		session_reply(s, "502 5.5.1 Error: EXPN not available");
		break;
	case SMTP_CMD_HELP:
		s->ok[c]++;
		session_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA "
		    "BDAT RSET NOOP VRFY HELP QUIT ETRN");
		break;
	case SMTP_CMD_QUIT:
		s->ok[c]++;
		session_reply(s, "221 2.0.0 Bye");
		s->quit = 1;
		break;
	case SMTP_CMD_STARTTLS:
		session_starttls(s);
		break;
	case SMTP_CMD_AUTH:
		session_auth(s, cmd);
		break;
	case SMTP_CMD_ETRN:
		session_etrn(s, cmd);
		break;
	case SMTP_CMD_BDAT:
		session_bdat(s, cmd);
		break;
	default:
		session_reply(s, "502 5.5.1 Error: command not implemented");
		break;
	}
}

static void
session_log_disconnect(struct session *s)
{
	char buf[512];
	size_t off = 0;
	int commands = 0, okc = 0;

	buf[0] = '\0';
	for (int i = 0; i < CNT_MAX; i++) {
		if (s->total[i] == 0)
			continue;
		commands += s->total[i];
		okc += s->ok[i];
		if (s->ok[i] == s->total[i])
			off += (size_t)snprintf(buf + off, sizeof(buf) - off,
			    " %s=%d", counter_names[i], s->total[i]);
		else
			off += (size_t)snprintf(buf + off, sizeof(buf) - off,
			    " %s=%d/%d", counter_names[i], s->ok[i], s->total[i]);
		if (off >= sizeof(buf))
			break;
	}
	if (okc == commands)
		log_info("disconnect from %s[%s]%s commands=%d", s->name, s->addr,
		    buf, commands);
	else
		log_info("disconnect from %s[%s]%s commands=%d/%d", s->name,
		    s->addr, buf, okc, commands);
}

/*
 * The extensions the parser may accept now.  SMTPUTF8 (RFC 6531 3.4):
 * its MAIL parameter whenever a MAIL may come, and a non-ASCII RCPT only
 * in a transaction whose MAIL carried it (else 553 5.6.7).
 */
static int
session_ext(const struct session *s)
{
	if (!s->esmtp)
		return 0;
	return SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_DSN |
	    (session_auth_offered(s) ? SMTP_EXT_AUTH : 0) |
	    (s->smtputf8 || !s->have_mail ? SMTP_EXT_SMTPUTF8 : 0) |
	    (s->tls ? SMTP_EXT_REQUIRETLS : 0);
}

static void
session_peer(struct session *s, const struct sockaddr *peer)
{
	const void *a = NULL;
	int af = peer->sa_family;

	if (af == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)peer)->sin_addr;
	else if (af == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)peer;

		a = &s6->sin6_addr;
		/* Show IPv4-mapped clients as the IPv4 address they are. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			a = &s6->sin6_addr.s6_addr[12];
			af = AF_INET;
		}
	}
	if (a == NULL || inet_ntop(af, a, s->addr, sizeof(s->addr)) == NULL)
		strlcpy(s->addr, "unknown", sizeof(s->addr));
	strlcpy(s->name, "unknown", sizeof(s->name));
	s->trusted = settings_network_match(&s->set->mynetworks, peer);
}

/*
 * The worker's session area (zmem.h), for the life of the process: big
 * buffers, not on the stack.  Between back-to-back sessions its fields
 * are zeroed and its buffers, which are written before they are read,
 * kept with their pages; smtp_session_release() gives every page back
 * once the worker waits for clients.
 */
static struct session *session_area;
static int session_area_written;	/* pages held since the release */

#define SESSION_BUFFER(m) { offsetof(struct session, m), \
	sizeof(((struct session *)NULL)->m) }
static const struct zmem_keep session_buffers[] = {
	SESSION_BUFFER(io.in),
	SESSION_BUFFER(io.out),
	SESSION_BUFFER(bdat_out.buf),
	SESSION_BUFFER(data_out.buf),
};

/* smtp_session_holds_pages - a session wrote pages not yet given back */
int
smtp_session_holds_pages(void)
{
	return session_area_written;
}

/* smtp_session_release - zero the session area by giving its pages back */
void
smtp_session_release(void)
{
	if (session_area == NULL || !session_area_written)
		return;
	zmem_clear(session_area, sizeof(*session_area));
	session_area_written = 0;
}

/* smtp_session_run - serve one client until the session ends */
void
smtp_session_run(struct smtp_server *srv, int fd, const struct sockaddr *peer,
    socklen_t peerlen, enum smtp_listener_kind kind)
{
	struct session *s;
	char line[SMTP_MAIL_LINE_MAX + 1], reply[600];
	struct smtp_command cmd;
	enum smtp_line_end eol;
	int overlong;

	if (session_area == NULL)
		session_area = zmem_new(sizeof(*session_area));
	s = session_area;
	session_area_written = 1;
	s->srv = srv;
	s->set = srv->set;
	s->auth_failures = srv->auth_failures > INT32_MAX ? INT32_MAX :
	    (int)srv->auth_failures;
	s->kind = kind;
	smtp_io_init(&s->io, fd, (int)s->set->smtpd_timeout * 1000);
	smtp_limits_start(&s->lim, s->set);
	smtp_limits_arm(&s->lim, &s->io, s->set->smtpd_timeout);
	session_peer(s, peer);
	/* Before the greeting, as Postfix does, so that every line logged
	 * about this client carries the name; bounded by its own budget
	 * (a black-holed name server costs at most that, once). */
	if (srv->dns != NULL)
		smtp_peername_lookup(srv->dns, peer, s->addr,
		    s->set->smtpd_client_lookup_timeout * 1000, s->name,
		    sizeof(s->name));
	s->last_cmd = "CONNECT";
	log_info("connect from %s[%s]", s->name, s->addr);
	/* RFC 8314: on submissions the handshake comes before anything. */
	if (kind == LISTENER_SUBMISSIONS && (srv->tls == NULL ||
	    session_tls_start(s) < 0)) {
		if (srv->tls == NULL)
			log_warn("submissions connection from %s[%s] without "
			    "a TLS certificate", s->name, s->addr);
		s->io.failed = 1;
		s->quit = 1;
	} else
		smtp_io_reply(&s->io, "220 %s", s->set->smtpd_banner);

	while (!s->quit) {
		ssize_t n;

		/* Limits (smtp_limits.c): the whole command line within
		 * smtpd_timeout, the session within smtpd_session_time_limit. */
		if (smtp_limits_session_over(&s->lim))
			n = SMTP_IO_TIMEOUT;
		else {
			smtp_limits_arm(&s->lim, &s->io, s->set->smtpd_timeout);
			n = smtp_io_getline(&s->io, line, sizeof(line) - 1, &eol,
			    &overlong);
			smtp_limits_arm(&s->lim, &s->io, 0);
		}
		if (n == SMTP_IO_TIMEOUT && smtp_limits_session_over(&s->lim)) {
			smtp_io_reply(&s->io, "421 4.4.2 %s Error: session time "
			    "limit exceeded", s->set->myhostname);
			log_info("session time limit exceeded after %s from "
			    "%s[%s]", s->last_cmd, s->name, s->addr);
			break;
		}
		if (n == SMTP_IO_TIMEOUT) {
			smtp_io_reply(&s->io, "421 4.4.2 %s Error: timeout "
			    "exceeded", s->set->myhostname);
			log_info("timeout after %s from %s[%s]", s->last_cmd,
			    s->name, s->addr);
			break;
		}
		if (n < 0) {
			if (s->total[CNT_QUIT] == 0)
				log_info("lost connection after %s from %s[%s]",
				    s->last_cmd, s->name, s->addr);
			break;
		}
		if (overlong)
			session_reply(s, "500 5.5.2 Error: line too long");
		else if (eol != SMTP_EOL_CRLF &&
		    s->set->smtpd_bare_newline == BARE_NEWLINE_REJECT)
			session_reply(s, "500 5.5.2 Error: bare <CR> or <LF> "
			    "received; lines must end in <CR><LF>");
		else if (smtp_command_parse(line, (size_t)n, session_ext(s),
		    &cmd, reply, sizeof(reply)) != 0) {
			s->total[session_counter_of(cmd.verb)]++;
			session_reply(s, "%s", reply);
		} else {
			session_dispatch(s, &cmd);
			/* An AUTH line may carry the password (PLAIN). */
			if (cmd.verb == SMTP_CMD_AUTH)
				explicit_bzero(line, sizeof(line));
		}
		if (!s->quit && smtp_limits_after_command(&s->lim, s->errors,
		    s->total[CNT_NOOP] + s->total[CNT_RSET] + s->total[CNT_VRFY] +
		    s->total[CNT_EXPN] + s->total[CNT_HELP], s->messages) < 0) {
			smtp_io_reply(&s->io, "421 4.7.0 %s Error: too many junk "
			    "commands", s->set->myhostname);
			log_info("too many junk commands after %s from %s[%s]",
			    s->last_cmd, s->name, s->addr);
			break;
		}
		if (s->errors >= s->set->smtpd_hard_error_limit && !s->quit) {
			smtp_io_reply(&s->io, "421 4.7.0 %s Error: too many errors",
			    s->set->myhostname);
			log_info("too many errors after %s from %s[%s]",
			    s->last_cmd, s->name, s->addr);
			break;
		}
	}
	smtp_io_flush(&s->io);
	smtp_io_tls_end(&s->io);
	session_log_disconnect(s);
	session_reset(s);
	/* Credentials (AUTH) went through the input buffer: they go with
	 * the session. */
	if (s->total[CNT_AUTH] > 0)
		smtp_session_release();
	else
		zmem_zero_except(s, sizeof(*s), session_buffers,
		    sizeof(session_buffers) / sizeof(session_buffers[0]));
	(void)peerlen;
}
