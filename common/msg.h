/*
 * msg - every IPC message type, named for who talks to whom about what.
 *
 * Payload layouts are documented beside each type (fields in order, with
 * ipc.h's typed encoding).  A receiver checks the type is one it expects
 * from that peer and decodes with ipc_get_*() + ipc_get_end(); anything
 * else disconnects the peer.
 */
#ifndef TERN_MSG_H
#define TERN_MSG_H

enum msg_type {
	MSG_NONE = 0,

	/* smtpd -> queued */
	MSG_SMTPD_MESSAGE_OPEN = 100,	/* (none) */
	MSG_SMTPD_MESSAGE_COMMIT,	/* str qid, u64 file size */
	MSG_SMTPD_MESSAGE_ABORT,	/* str qid */

	/* queued -> smtpd */
	MSG_QUEUED_MESSAGE_OPENED = 150, /* str qid; fd: the new file (rw) */
	MSG_QUEUED_MESSAGE_COMMITTED,	/* str qid */
	MSG_QUEUED_MESSAGE_FAILED,	/* u32 smtp code, str "x.y.z text" */

	/* smtpd, queued -> lookupd */
	MSG_LOOKUP_RCPT = 200,		/* str address (addr_format form) */
	MSG_LOOKUP_RESOLVE,		/* str address */
	MSG_LOOKUP_AUTH,		/* smtpd: str login, str password */
	MSG_LOOKUP_SENDER_LOGIN,	/* smtpd: str sender (addr_format
					   form, "" for <>), str login */

	/* lookupd -> smtpd, queued */
	MSG_LOOKUPD_RCPT_VERDICT = 250,	/* u32 enum lookup_verdict */
	MSG_LOOKUPD_RESOLVED,		/* u32 enum lookup_verdict, u32 n,
					   n x (u32 enum resolve_kind, str target) */
	MSG_LOOKUPD_AUTH_VERDICT,	/* u32 enum auth_verdict */
	MSG_LOOKUPD_SENDER_VERDICT,	/* u32 enum auth_verdict: may the
					   login use that sender address */

	/* queued -> deliverd */
	MSG_QUEUED_DELIVER_LOCAL = 300,	/* u32 job, str qid, str sender,
					   u64 arrival, u64 body offset,
					   u64 body size (octets), u32 n,
					   n x (u32 rcpt index, str address,
					        str mailbox user);
					   fd: the message file (read-only) */
	MSG_QUEUED_DELIVER_SMTP,	/* u32 job, str qid, str sender,
					   str envid ("" none), u32 enum dsn_ret,
					   u32 enum body_type, u32 smtputf8,
					   u64 arrival, u64 body offset,
					   u64 body size (octets, CRLF form),
					   str nexthop: a domain to MX-resolve,
					     or "[host]:port" / "[host]" to use
					     as is (relayhost),
					   u32 n, n x (u32 entry index,
					     str address, str orcpt ("" none),
					     u32 notify flags);
					   fd: the message file (read-only) */
	/* deliverd -> queued */
	MSG_DELIVERD_RESULT = 350,	/* u32 job, u32 rcpt index,
					   u32 enum deliver_status,
					   str dsn "x.y.z", str text */
	MSG_DELIVERD_JOB_DONE,		/* u32 job */
	MSG_DELIVERD_SMTP_RESULT,	/* u32 job, u32 entry index,
					   u32 enum deliver_status, str dsn,
					   str text (the server's reply, or
					   what went wrong), str relay
					   ("host[ip]:port" or "none"),
					   u32 flags (DELIVERD_F_*) */
	MSG_DELIVERD_SMTP_DONE,		/* u32 job, u32 enum site_status */

	/* master <-> children */
	MSG_MASTER_PEER = 400,		/* u32 enum peer_kind; fd: socket */
	MSG_MASTER_RELOAD,		/* (none): reread the configuration */
	MSG_MASTER_STOP,		/* (none): finish current work, exit */
	MSG_SMTPD_STATUS,		/* u32 1 = busy, 0 = idle */
	MSG_QUEUED_FLUSH,		/* (none): retry everything now */
	MSG_SMTPD_CLIENT_CONNECT,	/* u32 flags (CLIENT_F_*), str client
					   address: a session begins (implies
					   busy); ternd answers with a verdict */
	MSG_MASTER_CLIENT_VERDICT,	/* u32 enum client_verdict, u32 count
					   (the client's sessions, or its
					   connections in this time unit),
					   u32 the client's recent failed
					   AUTH attempts */
	MSG_SMTPD_AUTH_FAILURE,		/* str client address: one failed
					   AUTH (no answer) */
	MSG_MASTER_BUSY_MODE,		/* u32 1 = the pool is full: answer
					   421 4.3.2 to every connection,
					   0 = stand by (busy responder only) */
	MSG_MASTER_QUEUE_LIST,		/* (none), id = control client:
					   queued answers with ENTRY frames
					   then END, with the same id */
	MSG_QUEUED_QUEUE_ENTRY,		/* str one line of the listing */
	MSG_QUEUED_QUEUE_END,		/* (none) */
	MSG_MASTER_QUEUE_REBUILD,	/* (none), id = control client: queued
					   recovers the queue files the index
					   does not name, then answers like
					   MSG_MASTER_QUEUE_LIST */
};

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
 * line (status, queue, flush, reload, stop) and reads until end of file;
 * the answer's first line is "ok" or "error: reason" (master/control.c).
 */
#define CONTROL_SOCKET	"run/control"

enum lookup_verdict {
	LOOKUP_UNKNOWN = 0,	/* local domain, no such user: 550 5.1.1 */
	LOOKUP_LOCAL = 1,	/* local user or mailbox */
	LOOKUP_ALIAS = 2,	/* an alias in alias_maps */
	LOOKUP_REMOTE = 3,	/* not a local domain: relay policy decides */
	LOOKUP_TEMPFAIL = 4,	/* a table could not be read: 451 4.3.0 */
};

enum auth_verdict {
	AUTH_DENIED = 0,	/* wrong login or password; sender not owned */
	AUTH_GRANTED = 1,
	AUTH_TEMPFAIL = 2,	/* the map could not be read: 454 4.7.0 */
};

enum resolve_kind {
	RESOLVE_LOCAL = 1,	/* target = mailbox user (local part) */
	RESOLVE_REMOTE = 2,	/* target = full address for the smtp transport */
};

enum deliver_status {
	DELIVER_OK = 0,
	DELIVER_TEMPFAIL = 1,
	DELIVER_PERMFAIL = 2,
};

/*
 * What MSG_MASTER_PEER hands over.  ternd creates every channel: smtpd and
 * deliverd get theirs at fixed descriptors (daemon.h); lookupd and queued
 * get each of theirs as a MSG_MASTER_PEER, also when a peer is restarted.
 */
/* flags in MSG_DELIVERD_SMTP_RESULT */
#define DELIVERD_F_TLS		0x1	/* the session used TLS */
#define DELIVERD_F_DSN_RELAYED	0x2	/* server lacked DSN: NOTIFY=SUCCESS
					   gets a "relayed" notification */

/* How the whole destination fared, for the scheduler's dead-site logic. */
enum site_status {
	SITE_OK = 0,		/* talked SMTP to at least one host */
	SITE_UNREACHABLE = 1,	/* no host answered (connect/greeting) */
	SITE_DNS_TEMP = 2,	/* DNS temporary failure */
};

enum peer_kind {
	PEER_SMTPD = 1,		/* to lookupd or queued: a new smtpd */
	PEER_QUEUED = 2,	/* to lookupd: queued's lookup channel */
	PEER_LOOKUPD = 3,	/* to queued: its (new) channel to lookupd */
	PEER_DELIVERD = 4,	/* to queued: a (new) local deliverd */
	PEER_DELIVERD_SMTP = 5,	/* to queued: a (new) smtp deliverd */
};

#endif
