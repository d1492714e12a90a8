/*
 * msg_codec - the payload of every IPC message type, its limits, and the
 * one encoder and decoder that every tern process uses.
 *
 * msg.h names the types; this header says what each one carries: a struct
 * per payload (fields in wire order, ipc.h's typed encoding) and a named
 * limit for every string and list.  Sender and receiver share the limits
 * by construction, so a frame that one process may send is one that the
 * other accepts.  A sender cuts over-long text to its limit
 * (msg_str_fit) or refuses the value before it encodes; the encoder
 * refuses anything out of bounds rather than produce a frame the receiver
 * would reject, and the decoder rejects the same.  Every limit below is
 * the longest value in octets, without the NUL: a buffer holds MAX + 1.
 *
 * Never: let a receiver size a buffer of its own for an IPC field (use
 * the limits here), or end a channel over a frame that does not decode;
 * a receiver rejects that one request and keeps the peer (ipc.h: only a
 * framing error ends a channel).
 */
#ifndef TERN_MSG_CODEC_H
#define TERN_MSG_CODEC_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dsn_param.h"
#include "envelope.h"
#include "ipc.h"
#include "msg.h"

/* --- limits: one per field, shared by every sender and receiver ---------- */

#define MSG_QID_MAX		(QID_MAX - 1)
#define MSG_ADDR_MAX		(ADDR_TEXT_MAX - 1)	/* addr_format() form,
				   a mailbox user, or an alias target */
#define MSG_DSN_MAX		15	/* "x.y.z" (RFC 3463: at most 9) */
#define MSG_TEXT_MAX		511	/* a reply or error text; fits the
				   queue index's last_error */
#define MSG_RELAY_MAX		(ADDR_DOMAIN_MAX + 64)	/* "host[address]:port"
				   with the longest name and an IPv6 address */
#define MSG_NEXTHOP_MAX		299	/* a domain, or relayhost as set */
#define MSG_ENVID_MAX		DSN_ENVID_MAX	/* RFC 3461 4.4, decoded */
#define MSG_ORCPT_MAX		DSN_ORCPT_MAX	/* "addr-type;xtext" as received */
#define MSG_AUTH_FIELD_MAX	255	/* RFC 4616 3: login or password */
#define MSG_CLIENT_ADDR_MAX	63	/* numeric client address */
#define MSG_QUEUE_LINE_MAX	2000	/* one line of "ternctl queue" */
#define MSG_PATH_MAX		(PATH_MAX - 1)	/* a file name, absolute */
#define MSG_ETRN_DOMAIN_MAX	ADDR_DOMAIN_MAX	/* an ETRN node name, which
				   smtpd's parser refuses when longer */

/* List limits: targets of one MSG_LOOKUPD_RESOLVED, recipients of one
 * local job, of one smtp job (the top of smtp_destination_recipient_limit) */
#define MSG_RESOLVE_TARGETS_MAX	500
#define MSG_LOCAL_RCPTS_MAX	200
#define MSG_SMTP_RCPTS_MAX	200

/* --- payloads, one struct per layout ------------------------------------- */

/*
 * Strings are NUL-terminated.  A decoded string points into the frame's
 * payload (the decoder moves it over its length prefix to terminate it),
 * so it lives as long as the frame, and the frame cannot be decoded
 * twice.  Lists are arrays of n elements: the sender's own for encoding;
 * allocated by the decoder, freed with msg_free().
 */

/* MSG_SMTPD_MESSAGE_OPEN, MSG_MASTER_RELOAD, MSG_MASTER_STOP,
 * MSG_QUEUED_FLUSH, MSG_MASTER_AUTH_COUNTED,
 * MSG_QUEUED_QUEUE_END: no payload (msg_encode_empty, msg_decode_empty).
 * MSG_MASTER_SPAWN, MSG_MASTER_SPAWN_RESPONDER: no payload, with fd: a
 * new smtpd worker's (or the busy responder's) channel to ternd; the
 * pool answers MSG_SMTPD_SPAWNED. */

/* MSG_SMTPD_MESSAGE_COMMIT */
struct msg_commit {
	const char	*qid;
	uint64_t	 size;		/* of the whole file, octets */
	uint32_t	 flags;		/* COMMIT_F_* */
};
/* COMMIT_F_NEXT: answer with MSG_QUEUED_MESSAGE_COMMITTED_NEXT when a new
 * file can be made, so that the next DATA need not wait for an OPEN */
#define COMMIT_F_NEXT	0x1

/* MSG_QUEUED_MESSAGE_COMMITTED_NEXT (with fd: the next file, read-write) */
struct msg_committed_next {
	const char	*qid;		/* the message now durable */
	const char	*next;		/* the new, empty file's queue ID */
};

/* MSG_SMTPD_MESSAGE_ABORT, MSG_QUEUED_MESSAGE_COMMITTED,
 * MSG_QUEUED_MESSAGE_OPENED (with fd: the new file, read-write) */
struct msg_qid {
	const char	*qid;
};

/* MSG_QUEUED_MESSAGE_FAILED */
struct msg_failed {
	uint32_t	 code;		/* SMTP reply code, 400..599 */
	const char	*text;		/* "x.y.z text" */
};

/* MSG_LOOKUP_RCPT, MSG_LOOKUP_RESOLVE */
struct msg_address {
	const char	*address;	/* addr_format() form */
};

/* MSG_LOOKUP_AUTH (smtpd only) */
struct msg_auth {
	const char	*login;
	const char	*password;
};

/* MSG_LOOKUP_SENDER_LOGIN (smtpd only): may login use sender? */
struct msg_sender_login {
	const char	*sender;	/* addr_format() form, "" for <> */
	const char	*login;
};

/* MSG_LOOKUPD_RCPT_VERDICT (enum lookup_verdict),
 * MSG_LOOKUPD_AUTH_VERDICT, MSG_LOOKUPD_SENDER_VERDICT (enum auth_verdict) */
struct msg_verdict {
	uint32_t	 verdict;
};

/* MSG_LOOKUPD_RESOLVED */
struct msg_target {
	uint32_t	 kind;		/* enum resolve_kind */
	const char	*target;	/* mailbox user, or a full address */
};
struct msg_resolved {
	uint32_t	 verdict;	/* enum lookup_verdict */
	uint32_t	 n;		/* MSG_RESOLVE_TARGETS_MAX at most */
	struct msg_target *t;
};

/* MSG_QUEUED_DELIVER_LOCAL, with fd: the message file (read-only) */
struct msg_local_rcpt {
	uint32_t	 index;		/* entry index in the job */
	const char	*address;	/* for Delivered-To */
	const char	*user;		/* the mailbox user, or for a command
					   or file "UID:text" (alias_target.h) */
	uint32_t	 kind;		/* enum resolve_kind, not REMOTE */
};
struct msg_deliver_local {
	uint32_t	 job;
	const char	*qid;
	const char	*sender;	/* "" for <> */
	uint64_t	 arrival;	/* seconds since the epoch */
	uint64_t	 body_offset;	/* where the message starts */
	uint64_t	 body_size;	/* its length: copy exactly this much */
	uint32_t	 n;		/* 1..MSG_LOCAL_RCPTS_MAX */
	struct msg_local_rcpt *rcpts;
};

/* MSG_QUEUED_DELIVER_SMTP, with fd: the message file (read-only) */
struct msg_smtp_rcpt {
	uint32_t	 index;		/* entry index in the job */
	const char	*address;
	const char	*orcpt;		/* "" none */
	uint32_t	 notify;	/* NOTIFY_* or 0 */
};
struct msg_deliver_smtp {
	uint32_t	 job;
	const char	*qid;
	const char	*sender;	/* "" for <> */
	const char	*envid;		/* "" none */
	uint32_t	 ret;		/* enum dsn_ret */
	uint32_t	 body;		/* enum body_type */
	uint32_t	 smtputf8;	/* 0 or 1 */
	uint32_t	 tls_request;	/* ENVELOPE_F_REQUIRETLS or
					   ENVELOPE_F_TLS_OPTIONAL (RFC 8689)
					   or 0 */
	uint64_t	 arrival;
	uint64_t	 body_offset;
	uint64_t	 body_size;	/* CRLF form: send exactly this */
	const char	*nexthop;	/* a domain to MX-resolve, or
					   "[host]:port" / "[host]" to use as
					   is (relayhost) */
	const char	*delivered_to;	/* "", or the local address that
					   forwarded every recipient of the
					   job: each copy gets
					   "Delivered-To:" with it on top */
	uint32_t	 n;		/* 1..MSG_SMTP_RCPTS_MAX */
	struct msg_smtp_rcpt *rcpts;
};

/* MSG_DELIVERD_RESULT (the local transport) */
struct msg_result {
	uint32_t	 job;
	uint32_t	 index;		/* entry index */
	uint32_t	 status;	/* enum deliver_status */
	const char	*dsn;
	const char	*text;
};

/*
 * MSG_DELIVERD_FORWARD (deliverd -> queued: job, and index the entry)
 * and MSG_LOCAL_FORWARD (a delivery process -> deliverd: index is the
 * delivery's id, job 0): the addresses a user's .forward sends the
 * recipient's mail to, as the user wrote them (untrusted), before the
 * recipient's result.
 */
#define MSG_FORWARD_MAX		64	/* addresses of one .forward */
struct msg_forward {
	uint32_t		 job;
	uint32_t		 index;
	uint32_t		 n;
	struct msg_address	*a;
};

/* MSG_DELIVERD_JOB_DONE */
struct msg_job_done {
	uint32_t	 job;
};

/* MSG_DELIVERD_SMTP_RESULT */
struct msg_smtp_result {
	uint32_t	 job;
	uint32_t	 index;		/* entry index */
	uint32_t	 status;	/* enum deliver_status */
	const char	*dsn;
	const char	*text;		/* the server's reply, or what failed */
	const char	*relay;		/* "host[address]:port" or "none" */
	uint32_t	 flags;		/* DELIVERD_F_* */
};

/* MSG_DELIVERD_SMTP_DONE */
struct msg_smtp_done {
	uint32_t	 job;
	uint32_t	 site;		/* enum site_status */
};

/* MSG_SMTP_CONN_DONE (inside the smtp deliverd) */
struct msg_conn_done {
	uint32_t	 job;
	uint32_t	 site;		/* enum site_status */
	uint32_t	 kept;		/* 1: the connection stays open */
};

/* MSG_SMTP_SPAWN, MSG_SMTP_SPAWN_FAILED (inside the smtp deliverd): no
 * payload.  MSG_SMTP_SPAWNED: struct msg_spawned (pid at least 1), with
 * fd: the deliverd's end of the new connection process's channel. */

/* MSG_LOCAL_DELIVERY (inside the local deliverd), with fd: the message
 * file (read-only) */
struct msg_local_delivery {
	uint32_t	 id;		/* the parent's, echoed in the result */
	const char	*sender;	/* Return-Path, "" for <> */
	const char	*address;	/* Delivered-To */
	const char	*maildir;	/* the Maildir to write to */
	const char	*home;		/* the directory that must exist */
	uint64_t	 body_offset;	/* where the message starts */
	uint64_t	 body_size;	/* its length: copy exactly this much */
	const char	*mbox;		/* "", or the mbox file to append to
					 * instead of the Maildir */
	uint32_t	 kind;		/* enum resolve_kind: LOCAL (a
					 * mailbox), COMMAND or FILE */
	const char	*target;	/* "", or the command or file */
	const char	*user;		/* the owner's name, for USER */
	uint32_t	 time_limit;	/* a command's, in seconds */
	const char	*extension;	/* "", or the address's extension
					   (recipient_delimiter) */
};

/* MSG_LOCAL_DELIVERED (inside the local deliverd) */
struct msg_local_delivered {
	uint32_t	 id;		/* of the MSG_LOCAL_DELIVERY */
	uint32_t	 status;	/* enum deliver_status */
	const char	*dsn;
	const char	*text;
};

/* MSG_MASTER_PEER, with fd: the socket */
struct msg_peer {
	uint32_t	 kind;		/* enum peer_kind */
};

/* MSG_SMTPD_STATUS (1 busy, 0 idle), MSG_MASTER_BUSY_MODE (1 the pool is
 * full: answer 421 4.3.2 to every connection; 0 stand by) */
/* MSG_SMTPD_SPAWNED: the worker the pool forked for a MSG_MASTER_SPAWN
 * (same request id); pid 0 when the fork failed */
struct msg_spawned {
	uint32_t	 pid;
};

struct msg_switch {
	uint32_t	 on;
};

/* MSG_SMTPD_CLIENT_CONNECT: a session begins (implies busy) */
struct msg_client_connect {
	uint32_t	 flags;		/* CLIENT_F_* */
	const char	*address;	/* the client's, numeric */
};

/* MSG_MASTER_CLIENT_VERDICT */
struct msg_client_verdict {
	uint32_t	 verdict;	/* enum client_verdict */
	uint32_t	 count;		/* the client's sessions, or its
					   connections in this time unit */
	uint32_t	 auth_failures;	/* its recent failed AUTH attempts */
};

/* MSG_SMTPD_AUTH_FAILURE: one failed AUTH (ternd answers
 * MSG_MASTER_AUTH_COUNTED with the same id) */
struct msg_client {
	const char	*address;
};

/* MSG_QUEUED_QUEUE_ENTRY */
struct msg_queue_line {
	const char	*line;
	uint32_t	 more;		/* 1: the line goes on in the next
					   entry (one longer than the limit) */
};

/* MSG_MASTER_QUEUE_ADMIN (id = control client) */
struct msg_queue_admin {
	uint32_t	 op;		/* enum queue_admin_op */
	uint32_t	 uid;		/* the asking user's, from SO_PEERCRED */
	uint32_t	 flags;		/* QADMIN_F_* */
	const char	*domain;	/* QADMIN_FLUSH: a domain, or "" */
	uint32_t	 n;		/* QADMIN_QIDS_MAX at most */
	struct msg_qid	*qids;
};

/* MSG_SMTPD_REJECT */
struct msg_reject {
	uint32_t	 reason;	/* enum reject_reason */
};

/* MSG_SMTPD_ETRN */
struct msg_etrn {
	const char	*domain;	/* checked RFC 5321 Domain syntax */
	uint32_t	 flags;		/* ETRN_F_* */
};

/* MSG_QUEUED_ETRN_DONE */
struct msg_etrn_done {
	uint32_t	 messages;	/* made due now (0: none waiting) */
};

/* --- the codec ------------------------------------------------------------ */

/*
 * How a payload is laid out, for the codec, the unit test and the fuzzer;
 * callers use the functions below.
 */
enum msg_field_kind { MSGF_U32, MSGF_U64, MSGF_FLAGS, MSGF_STR, MSGF_LIST };

struct msg_layout;
struct msg_field {
	const char		*name;
	enum msg_field_kind	 kind;
	size_t			 off;	/* of the member (list: its array) */
	uint64_t		 lo, hi; /* value range; string: length range;
					   flags: hi is the mask; list: count */
	size_t			 count_off; /* list: of its uint32_t count */
	const struct msg_layout	*elem;		/* list: one element */
};

enum msg_fd { MSG_FD_NONE, MSG_FD_REQUIRED };

struct msg_layout {
	uint32_t		 type;	/* 0 for a list element */
	const char		*name;
	size_t			 size;	/* of the struct; 0 without fields */
	enum msg_fd		 fd;
	const struct msg_field	*fields;
	size_t			 nfields;
};

/* Every message type of msg.h, once. */
extern const struct msg_layout msg_layouts[];
extern const size_t msg_nlayouts;

/* msg_layout_find - the layout of type, or NULL for an unknown type */
const struct msg_layout *msg_layout_find(uint32_t type);
/* msg_type_name - "MSG_..." for logs; "unknown" for an unknown type */
const char *msg_type_name(uint32_t type);

/*
 * msg_encode - a new frame m of type with request id and the payload in
 * *f (the struct for type).  0, or -1 (logged; m holds no payload) when a
 * field is out of its bounds: nothing is sent that the receiver would
 * reject.  Attach a descriptor after, in m->fd.
 */
#define msg_encode(m, type, id, f) \
	msg_encode_sized((m), (type), (id), (f), sizeof(*(f)))
int msg_encode_sized(struct ipc_msg *m, uint32_t type, uint32_t id,
    const void *f, size_t fsize) __attribute__((warn_unused_result));
/* msg_encode_empty - a new frame of a type without payload */
void msg_encode_empty(struct ipc_msg *m, uint32_t type, uint32_t id);

/*
 * msg_decode - the payload of m, which must be of type, into *f.  0, or
 * -1 with the reason in *why (static text, until the next call) when m
 * is of another type, has a field out of bounds, trailing octets, or a
 * descriptor it should not have (or lacks one it should).  The strings
 * in *f point into m; lists must be released with msg_free.
 */
#define msg_decode(m, type, f, why) \
	msg_decode_sized((m), (type), (f), sizeof(*(f)), (why))
int msg_decode_sized(struct ipc_msg *m, uint32_t type, void *f,
    size_t fsize, const char **why);
/* msg_decode_empty - 0 when m is of type and carries nothing */
int msg_decode_empty(struct ipc_msg *m, uint32_t type, const char **why);
/* msg_free - release the lists a decode allocated in *f (of type) */
void msg_free(uint32_t type, void *f);

/*
 * msg_peek_u32 - the first field of m's payload when it is a u32 (the job
 * of every job, result and done message), whether or not the rest
 * decodes: a receiver uses it to end the job a bad frame belongs to.
 * 0, or -1.  Also msg_peek_result: job, index and status of a result that
 * did not decode (status within enum deliver_status).  Both work after a
 * failed msg_decode too: it moves strings only, and these come first.
 */
int msg_peek_u32(const struct ipc_msg *m, uint32_t *v);
int msg_peek_result(const struct ipc_msg *m, uint32_t *job, uint32_t *index,
    uint32_t *status);

/* msg_log_reject - one log line: a frame from peer rejected, and why */
void msg_log_reject(const char *peer, const struct ipc_msg *m,
    const char *why);

/*
 * msg_str_fit - s, or when it is longer than max octets, its start cut at
 * a character boundary (UTF-8 sequences stay whole) with "..." appended,
 * in buf (bufsize > max).  For text from outside, such as a server's reply.
 */
const char *msg_str_fit(const char *s, size_t max, char *buf, size_t bufsize);

#endif
