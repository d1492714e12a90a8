/*
 * msg - every IPC message type, named for who talks to whom about what.
 *
 * What each type carries, and the limit of every field, is in
 * msg_codec.h, whose encoder and decoder every sender and receiver uses.
 * A receiver checks that the type is one it expects from that peer; a
 * frame of another type, or one that does not decode, is rejected with a
 * log line and the peer is kept (ipc.h: only a framing error ends a
 * channel).  The decoder accepts the enums and flags below up to their
 * last value (msg_codec.c): a new one goes at the end, and there too.
 */
#ifndef TERN_MSG_H
#define TERN_MSG_H

enum msg_type {
	MSG_NONE = 0,

	/* smtpd -> queued */
	MSG_SMTPD_MESSAGE_OPEN = 100,	/* a new message file, please */
	MSG_SMTPD_MESSAGE_COMMIT,	/* it is written: make it durable */
	MSG_SMTPD_MESSAGE_ABORT,	/* forget it */

	/* queued -> smtpd */
	MSG_QUEUED_MESSAGE_OPENED = 150, /* here it is (with its fd) */
	MSG_QUEUED_MESSAGE_COMMITTED,	/* durable: say 250 */
	MSG_QUEUED_MESSAGE_FAILED,	/* the reply to give instead */
	MSG_QUEUED_MESSAGE_COMMITTED_NEXT, /* durable: say 250; and here is
					   the next message's file (fd) */

	/* smtpd, queued -> lookupd */
	MSG_LOOKUP_RCPT = 200,		/* what is this recipient? */
	MSG_LOOKUP_RESOLVE,		/* where does its mail go? */
	MSG_LOOKUP_AUTH,		/* smtpd: is this login valid? */
	MSG_LOOKUP_SENDER_LOGIN,	/* smtpd: may it use this sender? */

	/* lookupd -> smtpd, queued */
	MSG_LOOKUPD_RCPT_VERDICT = 250,
	MSG_LOOKUPD_RESOLVED,
	MSG_LOOKUPD_AUTH_VERDICT,
	MSG_LOOKUPD_SENDER_VERDICT,

	/* queued -> deliverd */
	MSG_QUEUED_DELIVER_LOCAL = 300,	/* a local job (with the file's fd) */
	MSG_QUEUED_DELIVER_SMTP,	/* an smtp job (with the file's fd) */

	/* deliverd -> queued */
	MSG_DELIVERD_RESULT = 350,	/* one local recipient's result */
	MSG_DELIVERD_JOB_DONE,		/* a local job is over */
	MSG_DELIVERD_SMTP_RESULT,	/* one smtp recipient's result */
	MSG_DELIVERD_SMTP_DONE,		/* an smtp job is over */
	MSG_DELIVERD_FORWARD,		/* a local recipient's .forward
					   addresses, before its result */

	/* smtp connection process -> its deliverd (which also forwards
	 * MSG_QUEUED_DELIVER_SMTP down and MSG_DELIVERD_SMTP_RESULT up) */
	MSG_SMTP_CONN_DONE = 380,	/* the job is over; keep me or not */

	/* smtp deliverd <-> its connection process spawner */
	MSG_SMTP_SPAWN,			/* fork a connection process */
	MSG_SMTP_SPAWNED,		/* its pid, with the deliverd's end of
					   its channel */
	MSG_SMTP_SPAWN_FAILED,		/* none could be made (logged) */

	/* local deliverd <-> its delivery process for one mailbox owner */
	MSG_LOCAL_DELIVERY = 390,	/* write this message (with its fd) */
	MSG_LOCAL_DELIVERED,		/* its result, once it is durable */
	MSG_LOCAL_FORWARD,		/* its .forward addresses, first */

	/* master <-> children */
	MSG_MASTER_PEER = 400,		/* a new channel (with its fd) */
	MSG_MASTER_RELOAD,		/* reread the configuration */
	MSG_MASTER_STOP,		/* finish current work, exit */
	MSG_SMTPD_STATUS,		/* busy or idle */
	MSG_QUEUED_FLUSH,		/* retry everything now */
	MSG_SMTPD_CLIENT_CONNECT,	/* a session begins; ternd answers
					   with a verdict */
	MSG_MASTER_CLIENT_VERDICT,
	MSG_SMTPD_AUTH_FAILURE,		/* one failed AUTH; ternd answers
					   MSG_MASTER_AUTH_COUNTED */
	MSG_MASTER_BUSY_MODE,		/* busy responder only: on or off */
	MSG_MASTER_QUEUE_ADMIN,		/* id = control client: list, show,
					   hold, release, delete, requeue,
					   flush some, stats (enum
					   queue_admin_op); queued answers
					   with ENTRY frames then END, with
					   the same id */
	MSG_QUEUED_QUEUE_ENTRY,		/* one line of the listing */
	MSG_QUEUED_QUEUE_END,
	MSG_MASTER_SPAWN,		/* to the smtpd pool (with the new
					   worker's ternd channel): fork one */
	MSG_SMTPD_SPAWNED,		/* the pool's answer, same id: its pid */
	MSG_MASTER_SPAWN_RESPONDER,	/* to the smtpd pool (with its ternd
					   channel): fork the busy responder */
	MSG_MASTER_QUEUE_REBUILD,	/* id = control client: queued
					   recovers the queue files the index
					   does not name, then answers like
					   MSG_MASTER_QUEUE_ADMIN */
	MSG_SMTPD_REJECT,		/* one command refused by policy
					   (enum reject_reason; no answer) */
	MSG_SMTPD_ETRN,			/* to queued: deferred mail for this
					   domain is due now (RFC 1985) */
	MSG_QUEUED_ETRN_DONE,		/* its answer, same id: how many
					   messages (or MESSAGE_FAILED) */
	MSG_MASTER_AUTH_COUNTED,	/* the answer to AUTH_FAILURE, same
					   id: it is counted, so the client
					   may be told */
};

/*
 * Messages queued hands the local transport at most (in flight, and
 * resolving), per local delivery process it may run
 * (local_delivery_limit), and in all.  A process writes a batch and
 * syncs once for it while the next batch gathers: with two a process,
 * one owner's four processes wrote about five messages a batch and
 * delivery fell behind acceptance (bench/README.md, item 35).  The
 * total bounds the transport's open message files, which ternd counts
 * when it sets the descriptor limit (fdlimit.c).
 */
#define LOCAL_JOBS_PER_PROCESS	8
#define LOCAL_JOBS_MAX		512

/* What MSG_MASTER_QUEUE_ADMIN asks of queued ("ternctl ..."). */
enum queue_admin_op {
	QADMIN_LIST = 0,	/* queue: one entry per message */
	QADMIN_SHOW = 1,	/* show QID: envelope, recipients, message */
	QADMIN_HOLD = 2,	/* hold QID... | ALL */
	QADMIN_RELEASE = 3,	/* release QID... | ALL */
	QADMIN_DELETE = 4,	/* delete QID... | ALL */
	QADMIN_REQUEUE = 5,	/* requeue QID... | ALL */
	QADMIN_FLUSH = 6,	/* flush QID... or a domain */
	QADMIN_STATS = 7,	/* counters, "name value" lines */
};

/* MSG_MASTER_QUEUE_ADMIN flags */
#define QADMIN_F_ADMIN	0x1	/* the peer is root or in tern_admin_group:
				   every message is its business */
#define QADMIN_F_JSON	0x2	/* QADMIN_LIST: one JSON object a line */
#define QADMIN_F_ALL	0x4	/* every message ("ALL"), not the QIDs */

/* Queue IDs in one MSG_MASTER_QUEUE_ADMIN (ternctl sends more in
 * several requests). */
#define QADMIN_QIDS_MAX	64

/* Why smtpd refused a command (MSG_SMTPD_REJECT), for "ternctl stats". */
enum reject_reason {
	REJECT_UNKNOWN_RECIPIENT = 0,	/* 550 5.1.1 */
	REJECT_RELAY_DENIED = 1,	/* 554 5.7.1 */
	REJECT_SENDER_LOGIN = 2,	/* 553 5.7.1 sender not owned */
	REJECT_LOOKUP_FAILURE = 3,	/* 451 4.3.0 a table failed */
	REJECT_LOOP = 4,		/* 550 5.4.6 mail to ourselves */
	REJECT_STORAGE = 5,		/* 452 4.3.1 the disk is full */
	REJECT_REASONS = 6		/* how many */
};

/* MSG_SMTPD_ETRN flags */
#define ETRN_F_SUBDOMAINS	0x1	/* "ETRN @domain": its subdomains too */

/* MSG_SMTPD_CLIENT_CONNECT flags */
#define CLIENT_F_EXEMPT	0x1	/* in smtpd_client_event_limit_exceptions:
				   count as busy, apply no per-client limit */

/* What ternd says about a new client connection. */
enum client_verdict {
	CLIENT_ALLOW = 0,
	CLIENT_DENY_CONCURRENCY = 1,	/* smtpd_client_connection_limit */
	CLIENT_DENY_RATE = 2,		/* smtpd_client_connection_rate_limit */
};

/*
 * The control socket, relative to spool_dir: ternctl sends one request
 * line (a command and its arguments, separated by one space, at most
 * CONTROL_LINE_MAX octets with the newline) and reads until end of
 * file; the answer's first line is "ok" or "error: reason"
 * (master/control.c, which lists the commands).
 */
#define CONTROL_SOCKET		"run/control"
#define CONTROL_LINE_MAX	4096

enum lookup_verdict {
	LOOKUP_UNKNOWN = 0,	/* local domain, no such user: 550 5.1.1 */
	LOOKUP_LOCAL = 1,	/* local user or mailbox */
	LOOKUP_ALIAS = 2,	/* an alias in alias_maps */
	LOOKUP_REMOTE = 3,	/* not a local domain: relay policy decides */
	LOOKUP_TEMPFAIL = 4,	/* a table could not be read: 451 4.3.0 */
	LOOKUP_LOOP = 5,	/* virtual_alias_map loops: 550 5.4.6 */
};

enum auth_verdict {
	AUTH_DENIED = 0,	/* wrong login or password; sender not owned */
	AUTH_GRANTED = 1,
	AUTH_TEMPFAIL = 2,	/* the map could not be read: 454 4.7.0 */
};

enum resolve_kind {
	RESOLVE_LOCAL = 1,	/* target = mailbox user (local part), or
				   with a '/', a virtual mailbox path
				   (virtual_path.h) */
	RESOLVE_REMOTE = 2,	/* target = full address for the smtp transport */
	RESOLVE_COMMAND = 3,	/* target = "UID:command" (alias_target.h) */
	RESOLVE_FILE = 4,	/* target = "UID:/path" (alias_target.h) */
	RESOLVE_OWNER = 5,	/* not delivered: "owner-NAME@myhostname",
				   where the bounces of the other targets of
				   alias NAME go */
	RESOLVE_MAILBOX = 6,	/* target = mailbox user of an alias's
				   "\name" (alias_target.h): delivered to
				   its mailbox without its .forward */
};

enum deliver_status {
	DELIVER_OK = 0,
	DELIVER_TEMPFAIL = 1,
	DELIVER_PERMFAIL = 2,
};

/* flags in MSG_DELIVERD_SMTP_RESULT */
#define DELIVERD_F_TLS		0x1	/* the session used TLS */
#define DELIVERD_F_DSN_RELAYED	0x2	/* server lacked DSN: NOTIFY=SUCCESS
					   gets a "relayed" notification */
#define DELIVERD_F_DELIVERED	0x4	/* an LMTP server put it in the
					   mailbox: NOTIFY=SUCCESS gets a
					   "delivered" notification */

/* How the whole destination fared, for the scheduler's dead-site logic. */
enum site_status {
	SITE_OK = 0,		/* talked SMTP to at least one host */
	SITE_UNREACHABLE = 1,	/* no host answered (connect/greeting) */
	SITE_DNS_TEMP = 2,	/* DNS temporary failure */
};

/*
 * What MSG_MASTER_PEER hands over.  ternd creates every channel: smtpd and
 * deliverd get theirs at fixed descriptors (daemon.h); lookupd and queued
 * get each of theirs as a MSG_MASTER_PEER, also when a peer is restarted.
 */
enum peer_kind {
	PEER_SMTPD = 1,		/* to lookupd or queued: a new smtpd */
	PEER_QUEUED = 2,	/* to lookupd: queued's lookup channel */
	PEER_LOOKUPD = 3,	/* to queued: its (new) channel to lookupd */
	PEER_DELIVERD = 4,	/* to queued: a (new) local deliverd */
	PEER_DELIVERD_SMTP = 5,	/* to queued: a (new) smtp deliverd */
	PEER_SMTPD_QUEUED = 6,	/* to a new smtpd worker: its channel to
				   queued */
	PEER_SMTPD_LOOKUPD = 7,	/* to a new smtpd worker: its channel to
				   lookupd */
	PEER_DELIVERD_LMTP = 8,	/* to queued: a (new) lmtp deliverd */
};

#endif
