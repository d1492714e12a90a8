/*
 * msg_codec - one table of payload layouts, one encoder and one decoder
 * for every IPC message type (msg_codec.h).
 *
 * Every process links this file, so the limits a sender checks are, by
 * construction, the ones its receiver checks.  The encoder walks a
 * layout over the caller's struct and refuses out-of-bounds fields before
 * it writes a byte; the decoder walks the same layout over an untrusted
 * payload, bounds-checks every field, and never allocates more than a
 * layout's list limit allows.  Neither may ever end the process over a
 * value: a peer's frame is input, and a sender's over-long field is an
 * error its caller handles.
 */
#include "config.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alias_target.h"
#include "log.h"
#include "msg_codec.h"
#include "xmalloc.h"

/* --- the layouts --------------------------------------------------------- */

/*
 * Field descriptors.  _Generic checks at compile time that each member
 * has the type its kind encodes.
 */
#define MEMBER_OFF(T, m, type) \
	_Generic(((T *)0)->m, type: offsetof(T, m))
#define U32(T, m, lo, hi) \
	{ #m, MSGF_U32, MEMBER_OFF(T, m, uint32_t), (lo), (hi), 0, NULL }
#define U64(T, m, hi) \
	{ #m, MSGF_U64, MEMBER_OFF(T, m, uint64_t), 0, (hi), 0, NULL }
#define FLAGS(T, m, mask) \
	{ #m, MSGF_FLAGS, MEMBER_OFF(T, m, uint32_t), 0, (mask), 0, NULL }
#define STR(T, m, lo, hi) \
	{ #m, MSGF_STR, MEMBER_OFF(T, m, const char *), (lo), (hi), 0, NULL }
#define LIST(T, m, n, lo, hi, elem) \
	{ #m, MSGF_LIST, offsetof(T, m), (lo), (hi), \
	  MEMBER_OFF(T, n, uint32_t), &(elem) }
#define NFIELDS(a)	(sizeof(a) / sizeof((a)[0]))
#define LAYOUT(type, T, fd, fields) \
	{ type, #type, sizeof(T), fd, fields, NFIELDS(fields) }
#define EMPTY(type) \
	{ type, #type, 0, MSG_FD_NONE, NULL, 0 }
#define EMPTY_FD(type) \
	{ type, #type, 0, MSG_FD_REQUIRED, NULL, 0 }

#define OFF_MAX		((uint64_t)INT64_MAX)	/* offsets and sizes: off_t */

static const struct msg_field commit_fields[] = {
	STR(struct msg_commit, qid, 1, MSG_QID_MAX),
	U64(struct msg_commit, size, OFF_MAX),
	FLAGS(struct msg_commit, flags, COMMIT_F_NEXT),
};
static const struct msg_field committed_next_fields[] = {
	STR(struct msg_committed_next, qid, 1, MSG_QID_MAX),
	STR(struct msg_committed_next, next, 1, MSG_QID_MAX),
};
static const struct msg_field qid_fields[] = {
	STR(struct msg_qid, qid, 1, MSG_QID_MAX),
};
static const struct msg_field failed_fields[] = {
	U32(struct msg_failed, code, 400, 599),
	STR(struct msg_failed, text, 0, MSG_TEXT_MAX),
};
static const struct msg_field address_fields[] = {
	STR(struct msg_address, address, 0, MSG_ADDR_MAX),
};
static const struct msg_layout address_layout = {
	0, "address", sizeof(struct msg_address), MSG_FD_NONE,
	address_fields, NFIELDS(address_fields)
};
static const struct msg_field forward_fields[] = {
	U32(struct msg_forward, job, 0, UINT32_MAX),
	U32(struct msg_forward, index, 0, UINT32_MAX),
	LIST(struct msg_forward, a, n, 1, MSG_FORWARD_MAX, address_layout),
};
static const struct msg_field auth_fields[] = {
	STR(struct msg_auth, login, 0, MSG_AUTH_FIELD_MAX),
	STR(struct msg_auth, password, 0, MSG_AUTH_FIELD_MAX),
};
static const struct msg_field sender_login_fields[] = {
	STR(struct msg_sender_login, sender, 0, MSG_ADDR_MAX),
	STR(struct msg_sender_login, login, 0, MSG_AUTH_FIELD_MAX),
};
static const struct msg_field rcpt_verdict_fields[] = {
	U32(struct msg_verdict, verdict, 0, LOOKUP_LOOP),
};
static const struct msg_field auth_verdict_fields[] = {
	U32(struct msg_verdict, verdict, 0, AUTH_TEMPFAIL),
};

static const struct msg_field target_fields[] = {
	U32(struct msg_target, kind, RESOLVE_LOCAL, RESOLVE_MAILBOX),
	STR(struct msg_target, target, 1, MSG_ADDR_MAX),
};
static const struct msg_layout target_layout = {
	0, "resolved target", sizeof(struct msg_target), MSG_FD_NONE,
	target_fields, NFIELDS(target_fields)
};
static const struct msg_field resolved_fields[] = {
	U32(struct msg_resolved, verdict, 0, LOOKUP_LOOP),
	LIST(struct msg_resolved, t, n, 0, MSG_RESOLVE_TARGETS_MAX,
	    target_layout),
};

static const struct msg_field local_rcpt_fields[] = {
	U32(struct msg_local_rcpt, index, 0, UINT32_MAX),
	STR(struct msg_local_rcpt, address, 0, MSG_ADDR_MAX),
	STR(struct msg_local_rcpt, user, 0, MSG_ADDR_MAX),
	U32(struct msg_local_rcpt, kind, RESOLVE_LOCAL, RESOLVE_MAILBOX),
};
static const struct msg_layout local_rcpt_layout = {
	0, "local recipient", sizeof(struct msg_local_rcpt), MSG_FD_NONE,
	local_rcpt_fields, NFIELDS(local_rcpt_fields)
};
static const struct msg_field deliver_local_fields[] = {
	U32(struct msg_deliver_local, job, 0, UINT32_MAX),
	STR(struct msg_deliver_local, qid, 1, MSG_QID_MAX),
	STR(struct msg_deliver_local, sender, 0, MSG_ADDR_MAX),
	U64(struct msg_deliver_local, arrival, UINT64_MAX),
	U64(struct msg_deliver_local, body_offset, OFF_MAX),
	U64(struct msg_deliver_local, body_size, OFF_MAX),
	LIST(struct msg_deliver_local, rcpts, n, 1, MSG_LOCAL_RCPTS_MAX,
	    local_rcpt_layout),
};

static const struct msg_field smtp_rcpt_fields[] = {
	U32(struct msg_smtp_rcpt, index, 0, UINT32_MAX),
	STR(struct msg_smtp_rcpt, address, 1, MSG_ADDR_MAX),
	STR(struct msg_smtp_rcpt, orcpt, 0, MSG_ORCPT_MAX),
	FLAGS(struct msg_smtp_rcpt, notify,
	    NOTIFY_NEVER | NOTIFY_SUCCESS | NOTIFY_FAILURE | NOTIFY_DELAY),
};
static const struct msg_layout smtp_rcpt_layout = {
	0, "smtp recipient", sizeof(struct msg_smtp_rcpt), MSG_FD_NONE,
	smtp_rcpt_fields, NFIELDS(smtp_rcpt_fields)
};
static const struct msg_field deliver_smtp_fields[] = {
	U32(struct msg_deliver_smtp, job, 0, UINT32_MAX),
	STR(struct msg_deliver_smtp, qid, 1, MSG_QID_MAX),
	STR(struct msg_deliver_smtp, sender, 0, MSG_ADDR_MAX),
	STR(struct msg_deliver_smtp, envid, 0, MSG_ENVID_MAX),
	U32(struct msg_deliver_smtp, ret, 0, DSN_RET_HDRS),
	U32(struct msg_deliver_smtp, body, 0, BODY_8BITMIME),
	U32(struct msg_deliver_smtp, smtputf8, 0, 1),
	FLAGS(struct msg_deliver_smtp, tls_request,
	    ENVELOPE_F_REQUIRETLS | ENVELOPE_F_TLS_OPTIONAL),
	U64(struct msg_deliver_smtp, arrival, UINT64_MAX),
	U64(struct msg_deliver_smtp, body_offset, OFF_MAX),
	U64(struct msg_deliver_smtp, body_size, OFF_MAX),
	STR(struct msg_deliver_smtp, nexthop, 1, MSG_NEXTHOP_MAX),
	STR(struct msg_deliver_smtp, delivered_to, 0, MSG_ADDR_MAX),
	LIST(struct msg_deliver_smtp, rcpts, n, 1, MSG_SMTP_RCPTS_MAX,
	    smtp_rcpt_layout),
};

static const struct msg_field result_fields[] = {
	U32(struct msg_result, job, 0, UINT32_MAX),
	U32(struct msg_result, index, 0, UINT32_MAX),
	U32(struct msg_result, status, 0, DELIVER_PERMFAIL),
	STR(struct msg_result, dsn, 0, MSG_DSN_MAX),
	STR(struct msg_result, text, 0, MSG_TEXT_MAX),
};
static const struct msg_field job_done_fields[] = {
	U32(struct msg_job_done, job, 0, UINT32_MAX),
};
static const struct msg_field smtp_result_fields[] = {
	U32(struct msg_smtp_result, job, 0, UINT32_MAX),
	U32(struct msg_smtp_result, index, 0, UINT32_MAX),
	U32(struct msg_smtp_result, status, 0, DELIVER_PERMFAIL),
	STR(struct msg_smtp_result, dsn, 0, MSG_DSN_MAX),
	STR(struct msg_smtp_result, text, 0, MSG_TEXT_MAX),
	STR(struct msg_smtp_result, relay, 0, MSG_RELAY_MAX),
	FLAGS(struct msg_smtp_result, flags,
	    DELIVERD_F_TLS | DELIVERD_F_DSN_RELAYED | DELIVERD_F_DELIVERED),
};
static const struct msg_field smtp_done_fields[] = {
	U32(struct msg_smtp_done, job, 0, UINT32_MAX),
	U32(struct msg_smtp_done, site, 0, SITE_DNS_TEMP),
};
static const struct msg_field conn_done_fields[] = {
	U32(struct msg_conn_done, job, 0, UINT32_MAX),
	U32(struct msg_conn_done, site, 0, SITE_DNS_TEMP),
	U32(struct msg_conn_done, kept, 0, 1),
};

static const struct msg_field local_delivery_fields[] = {
	U32(struct msg_local_delivery, id, 0, UINT32_MAX),
	STR(struct msg_local_delivery, sender, 0, MSG_ADDR_MAX),
	STR(struct msg_local_delivery, address, 0, MSG_ADDR_MAX),
	STR(struct msg_local_delivery, maildir, 1, MSG_PATH_MAX),
	STR(struct msg_local_delivery, home, 1, MSG_PATH_MAX),
	U64(struct msg_local_delivery, body_offset, OFF_MAX),
	U64(struct msg_local_delivery, body_size, OFF_MAX),
	STR(struct msg_local_delivery, mbox, 0, MSG_PATH_MAX),
	U32(struct msg_local_delivery, kind, RESOLVE_LOCAL, RESOLVE_MAILBOX),
	STR(struct msg_local_delivery, target, 0, ALIAS_TARGET_MAX),
	STR(struct msg_local_delivery, user, 0, MSG_ADDR_MAX),
	U32(struct msg_local_delivery, time_limit, 0, 7 * 86400),
	STR(struct msg_local_delivery, extension, 0, ADDR_LOCAL_MAX),
};
static const struct msg_field local_delivered_fields[] = {
	U32(struct msg_local_delivered, id, 0, UINT32_MAX),
	U32(struct msg_local_delivered, status, 0, DELIVER_PERMFAIL),
	STR(struct msg_local_delivered, dsn, 0, MSG_DSN_MAX),
	STR(struct msg_local_delivered, text, 0, MSG_TEXT_MAX),
};

static const struct msg_field peer_fields[] = {
	U32(struct msg_peer, kind, PEER_SMTPD, PEER_DELIVERD_LMTP),
};
static const struct msg_field spawned_fields[] = {
	U32(struct msg_spawned, pid, 0, INT32_MAX),
};
static const struct msg_field smtp_spawned_fields[] = {
	U32(struct msg_spawned, pid, 1, INT32_MAX),
};
static const struct msg_field switch_fields[] = {
	U32(struct msg_switch, on, 0, 1),
};
static const struct msg_field client_connect_fields[] = {
	FLAGS(struct msg_client_connect, flags, CLIENT_F_EXEMPT),
	STR(struct msg_client_connect, address, 0, MSG_CLIENT_ADDR_MAX),
};
static const struct msg_field client_verdict_fields[] = {
	U32(struct msg_client_verdict, verdict, 0, CLIENT_DENY_RATE),
	U32(struct msg_client_verdict, count, 0, UINT32_MAX),
	U32(struct msg_client_verdict, auth_failures, 0, UINT32_MAX),
};
static const struct msg_field client_fields[] = {
	STR(struct msg_client, address, 0, MSG_CLIENT_ADDR_MAX),
};
static const struct msg_field queue_line_fields[] = {
	STR(struct msg_queue_line, line, 0, MSG_QUEUE_LINE_MAX),
	U32(struct msg_queue_line, more, 0, 1),
};

static const struct msg_layout qid_layout = {
	0, "queue ID", sizeof(struct msg_qid), MSG_FD_NONE, qid_fields,
	NFIELDS(qid_fields)
};
static const struct msg_field queue_admin_fields[] = {
	U32(struct msg_queue_admin, op, QADMIN_LIST, QADMIN_STATS),
	U32(struct msg_queue_admin, uid, 0, UINT32_MAX),
	FLAGS(struct msg_queue_admin, flags,
	    QADMIN_F_ADMIN | QADMIN_F_JSON | QADMIN_F_ALL),
	STR(struct msg_queue_admin, domain, 0, ADDR_DOMAIN_MAX),
	LIST(struct msg_queue_admin, qids, n, 0, QADMIN_QIDS_MAX, qid_layout),
};
static const struct msg_field reject_fields[] = {
	U32(struct msg_reject, reason, 0, REJECT_REASONS - 1),
};
static const struct msg_field etrn_fields[] = {
	STR(struct msg_etrn, domain, 1, MSG_ETRN_DOMAIN_MAX),
	FLAGS(struct msg_etrn, flags, ETRN_F_SUBDOMAINS),
};
static const struct msg_field etrn_done_fields[] = {
	U32(struct msg_etrn_done, messages, 0, UINT32_MAX),
};

const struct msg_layout msg_layouts[] = {
	EMPTY(MSG_SMTPD_MESSAGE_OPEN),
	LAYOUT(MSG_SMTPD_MESSAGE_COMMIT, struct msg_commit, MSG_FD_NONE,
	    commit_fields),
	LAYOUT(MSG_SMTPD_MESSAGE_ABORT, struct msg_qid, MSG_FD_NONE,
	    qid_fields),
	LAYOUT(MSG_QUEUED_MESSAGE_OPENED, struct msg_qid, MSG_FD_REQUIRED,
	    qid_fields),
	LAYOUT(MSG_QUEUED_MESSAGE_COMMITTED, struct msg_qid, MSG_FD_NONE,
	    qid_fields),
	LAYOUT(MSG_QUEUED_MESSAGE_FAILED, struct msg_failed, MSG_FD_NONE,
	    failed_fields),
	LAYOUT(MSG_QUEUED_MESSAGE_COMMITTED_NEXT, struct msg_committed_next,
	    MSG_FD_REQUIRED, committed_next_fields),
	LAYOUT(MSG_LOOKUP_RCPT, struct msg_address, MSG_FD_NONE,
	    address_fields),
	LAYOUT(MSG_LOOKUP_RESOLVE, struct msg_address, MSG_FD_NONE,
	    address_fields),
	LAYOUT(MSG_LOOKUP_AUTH, struct msg_auth, MSG_FD_NONE, auth_fields),
	LAYOUT(MSG_LOOKUP_SENDER_LOGIN, struct msg_sender_login, MSG_FD_NONE,
	    sender_login_fields),
	LAYOUT(MSG_LOOKUPD_RCPT_VERDICT, struct msg_verdict, MSG_FD_NONE,
	    rcpt_verdict_fields),
	LAYOUT(MSG_LOOKUPD_RESOLVED, struct msg_resolved, MSG_FD_NONE,
	    resolved_fields),
	LAYOUT(MSG_LOOKUPD_AUTH_VERDICT, struct msg_verdict, MSG_FD_NONE,
	    auth_verdict_fields),
	LAYOUT(MSG_LOOKUPD_SENDER_VERDICT, struct msg_verdict, MSG_FD_NONE,
	    auth_verdict_fields),
	LAYOUT(MSG_QUEUED_DELIVER_LOCAL, struct msg_deliver_local,
	    MSG_FD_REQUIRED, deliver_local_fields),
	LAYOUT(MSG_QUEUED_DELIVER_SMTP, struct msg_deliver_smtp,
	    MSG_FD_REQUIRED, deliver_smtp_fields),
	LAYOUT(MSG_DELIVERD_RESULT, struct msg_result, MSG_FD_NONE,
	    result_fields),
	LAYOUT(MSG_DELIVERD_JOB_DONE, struct msg_job_done, MSG_FD_NONE,
	    job_done_fields),
	LAYOUT(MSG_DELIVERD_FORWARD, struct msg_forward, MSG_FD_NONE,
	    forward_fields),
	LAYOUT(MSG_LOCAL_FORWARD, struct msg_forward, MSG_FD_NONE,
	    forward_fields),
	LAYOUT(MSG_DELIVERD_SMTP_RESULT, struct msg_smtp_result, MSG_FD_NONE,
	    smtp_result_fields),
	LAYOUT(MSG_DELIVERD_SMTP_DONE, struct msg_smtp_done, MSG_FD_NONE,
	    smtp_done_fields),
	LAYOUT(MSG_SMTP_CONN_DONE, struct msg_conn_done, MSG_FD_NONE,
	    conn_done_fields),
	EMPTY(MSG_SMTP_SPAWN),
	LAYOUT(MSG_SMTP_SPAWNED, struct msg_spawned, MSG_FD_REQUIRED,
	    smtp_spawned_fields),
	EMPTY(MSG_SMTP_SPAWN_FAILED),
	LAYOUT(MSG_LOCAL_DELIVERY, struct msg_local_delivery, MSG_FD_REQUIRED,
	    local_delivery_fields),
	LAYOUT(MSG_LOCAL_DELIVERED, struct msg_local_delivered, MSG_FD_NONE,
	    local_delivered_fields),
	LAYOUT(MSG_MASTER_PEER, struct msg_peer, MSG_FD_REQUIRED, peer_fields),
	EMPTY(MSG_MASTER_RELOAD),
	EMPTY(MSG_MASTER_STOP),
	LAYOUT(MSG_SMTPD_STATUS, struct msg_switch, MSG_FD_NONE,
	    switch_fields),
	EMPTY(MSG_QUEUED_FLUSH),
	LAYOUT(MSG_SMTPD_CLIENT_CONNECT, struct msg_client_connect,
	    MSG_FD_NONE, client_connect_fields),
	LAYOUT(MSG_MASTER_CLIENT_VERDICT, struct msg_client_verdict,
	    MSG_FD_NONE, client_verdict_fields),
	LAYOUT(MSG_SMTPD_AUTH_FAILURE, struct msg_client, MSG_FD_NONE,
	    client_fields),
	LAYOUT(MSG_MASTER_BUSY_MODE, struct msg_switch, MSG_FD_NONE,
	    switch_fields),
	LAYOUT(MSG_MASTER_QUEUE_ADMIN, struct msg_queue_admin, MSG_FD_NONE,
	    queue_admin_fields),
	EMPTY_FD(MSG_MASTER_SPAWN),
	EMPTY_FD(MSG_MASTER_SPAWN_RESPONDER),
	LAYOUT(MSG_SMTPD_SPAWNED, struct msg_spawned, MSG_FD_NONE,
	    spawned_fields),
	EMPTY(MSG_MASTER_QUEUE_REBUILD),
	LAYOUT(MSG_QUEUED_QUEUE_ENTRY, struct msg_queue_line, MSG_FD_NONE,
	    queue_line_fields),
	EMPTY(MSG_QUEUED_QUEUE_END),
	LAYOUT(MSG_SMTPD_REJECT, struct msg_reject, MSG_FD_NONE,
	    reject_fields),
	LAYOUT(MSG_SMTPD_ETRN, struct msg_etrn, MSG_FD_NONE, etrn_fields),
	LAYOUT(MSG_QUEUED_ETRN_DONE, struct msg_etrn_done, MSG_FD_NONE,
	    etrn_done_fields),
	EMPTY(MSG_MASTER_AUTH_COUNTED),
};
const size_t msg_nlayouts = NFIELDS(msg_layouts);

/* Why the last encode or decode failed (processes are single-threaded). */
static char why_buf[192];

/* msg_layout_find - the layout of type, or NULL */
const struct msg_layout *
msg_layout_find(uint32_t type)
{
	for (size_t i = 0; i < msg_nlayouts; i++)
		if (msg_layouts[i].type == type)
			return &msg_layouts[i];
	return NULL;
}

/* msg_type_name - the type's name for logs */
const char *
msg_type_name(uint32_t type)
{
	const struct msg_layout *l = msg_layout_find(type);

	return l != NULL ? l->name : "unknown";
}

static const char *
why_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* why_set - format the reason of a failure into why_buf */
static const char *
why_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why_buf, sizeof(why_buf), fmt, ap);
	va_end(ap);
	return why_buf;
}

/* --- checking and sizing values (encoder side) ---------------------------- */

static const void *
member(const void *f, size_t off)
{
	return (const char *)f + off;
}

static uint32_t
get_u32(const void *f, size_t off)
{
	uint32_t v;

	memcpy(&v, member(f, off), sizeof(v));
	return v;
}

static uint64_t
get_u64(const void *f, size_t off)
{
	uint64_t v;

	memcpy(&v, member(f, off), sizeof(v));
	return v;
}

static const char *
get_ptr(const void *f, size_t off)
{
	const char *p;

	memcpy(&p, member(f, off), sizeof(p));
	return p;
}

/* value_ok - v lies in the field's range (or its mask) */
static int
value_ok(const struct msg_field *fd, uint64_t v)
{
	if (fd->kind == MSGF_FLAGS)
		return (v & ~fd->hi) == 0;
	return v >= fd->lo && v <= fd->hi;
}

/*
 * layout_check - every field of f within bounds; adds the encoded size to
 * *size.  0, or -1 with the reason in why_buf.
 */
static int
layout_check(const struct msg_layout *l, const void *f, size_t *size)
{
	for (size_t i = 0; i < l->nfields; i++) {
		const struct msg_field *fd = &l->fields[i];
		const char *s;
		uint32_t n;
		size_t len;

		switch (fd->kind) {
		case MSGF_U32:
		case MSGF_FLAGS:
			if (!value_ok(fd, get_u32(f, fd->off))) {
				why_set("%s %" PRIu32 " out of range", fd->name,
				    get_u32(f, fd->off));
				return -1;
			}
			*size += 4;
			break;
		case MSGF_U64:
			if (!value_ok(fd, get_u64(f, fd->off))) {
				why_set("%s out of range", fd->name);
				return -1;
			}
			*size += 8;
			break;
		case MSGF_STR:
			if ((s = get_ptr(f, fd->off)) == NULL) {
				why_set("%s missing", fd->name);
				return -1;
			}
			len = strnlen(s, (size_t)fd->hi + 1);
			if (len < fd->lo || len > fd->hi) {
				why_set("%s not within %" PRIu64 "..%" PRIu64
				    " octets", fd->name, fd->lo, fd->hi);
				return -1;
			}
			*size += 4 + len;
			break;
		case MSGF_LIST:
			n = get_u32(f, fd->count_off);
			if (n < fd->lo || n > fd->hi) {
				why_set("%s: %" PRIu32 " entries, limit %"
				    PRIu64, fd->name, n, fd->hi);
				return -1;
			}
			*size += 4;
			s = get_ptr(f, fd->off);
			if (n > 0 && s == NULL) {
				why_set("%s missing", fd->name);
				return -1;
			}
			for (uint32_t k = 0; k < n; k++)
				if (layout_check(fd->elem,
				    s + (size_t)k * fd->elem->size, size) < 0)
					return -1;
			break;
		}
	}
	return 0;
}

/* layout_put - append the fields of f (already checked) to m */
static void
layout_put(const struct msg_layout *l, const void *f, struct ipc_msg *m)
{
	for (size_t i = 0; i < l->nfields; i++) {
		const struct msg_field *fd = &l->fields[i];
		const char *p;
		uint32_t n;

		switch (fd->kind) {
		case MSGF_U32:
		case MSGF_FLAGS:
			ipc_put_u32(m, get_u32(f, fd->off));
			break;
		case MSGF_U64:
			ipc_put_u64(m, get_u64(f, fd->off));
			break;
		case MSGF_STR:
			ipc_put_str(m, get_ptr(f, fd->off));
			break;
		case MSGF_LIST:
			n = get_u32(f, fd->count_off);
			p = get_ptr(f, fd->off);
			ipc_put_u32(m, n);
			for (uint32_t k = 0; k < n; k++)
				layout_put(fd->elem,
				    p + (size_t)k * fd->elem->size, m);
			break;
		}
	}
}

/* layout_of - the layout for type, checked against the caller's struct */
static const struct msg_layout *
layout_of(uint32_t type, size_t fsize)
{
	const struct msg_layout *l = msg_layout_find(type);

	/* A struct that does not match its type is a bug at the call site. */
	if (l == NULL || l->size != fsize)
		fatalx("msg: no layout of %zu octets for message type %u",
		    fsize, type);
	return l;
}

/* msg_encode_sized - a frame of type with the payload in *f */
int
msg_encode_sized(struct ipc_msg *m, uint32_t type, uint32_t id,
    const void *f, size_t fsize)
{
	const struct msg_layout *l = layout_of(type, fsize);
	size_t size = 0;
	int rc;

	ipc_msg_init(m, type, id);
	rc = layout_check(l, f, &size);
	/* The limits keep every payload within a frame (the unit test
	 * proves it); this keeps ipc_put_*() from ending the process if a
	 * limit is ever raised too far. */
	if (rc == 0 && size > IPC_MAX_PAYLOAD) {
		why_set("payload of %zu octets", size);
		rc = -1;
	}
	if (rc < 0) {
		log_warn("refusing to send %s: %s", l->name, why_buf);
		return -1;
	}
	layout_put(l, f, m);
	return 0;
}

/* msg_encode_empty - a frame of a type without payload */
void
msg_encode_empty(struct ipc_msg *m, uint32_t type, uint32_t id)
{
	const struct msg_layout *l = msg_layout_find(type);

	if (l == NULL || l->nfields != 0)
		fatalx("msg: %s is not an empty message", msg_type_name(type));
	ipc_msg_init(m, type, id);
}

/* --- decoding ----------------------------------------------------------- */

static void
put_u32(void *f, size_t off, uint32_t v)
{
	memcpy((char *)f + off, &v, sizeof(v));
}

static void
put_u64(void *f, size_t off, uint64_t v)
{
	memcpy((char *)f + off, &v, sizeof(v));
}

static void
put_ptr(void *f, size_t off, const void *p)
{
	memcpy((char *)f + off, &p, sizeof(p));
}

/*
 * get_str - the next string field, NUL-terminated in place: its octets
 * move four back, over their own length prefix (already read), which
 * leaves room for the NUL before the next field.  NULL when it is
 * missing, too short or long, or holds a NUL.
 */
static const char *
get_str(struct ipc_msg *m, const struct msg_field *fd)
{
	const unsigned char *p;
	char *s;
	size_t len;

	if (ipc_get_bytes(m, &p, &len) < 0) {
		why_set("%s truncated", fd->name);
		return NULL;
	}
	if (len < fd->lo || len > fd->hi) {
		why_set("%s of %zu octets, not within %" PRIu64 "..%" PRIu64,
		    fd->name, len, fd->lo, fd->hi);
		return NULL;
	}
	if (memchr(p, '\0', len) != NULL) {
		why_set("%s holds a NUL", fd->name);
		return NULL;
	}
	s = (char *)m->data + (p - m->data) - 4;
	memmove(s, p, len);
	s[len] = '\0';
	return s;
}

/* bad_value - the reason for an integer field that failed */
static int
bad_value(const struct msg_field *fd, const struct ipc_msg *m)
{
	why_set("%s %s", fd->name, m->bad ? "truncated" : "out of range");
	return -1;
}

/* layout_get - decode l's fields from m into f; -1 with why_buf set */
static int
layout_get(const struct msg_layout *l, struct ipc_msg *m, void *f)
{
	for (size_t i = 0; i < l->nfields; i++) {
		const struct msg_field *fd = &l->fields[i];
		const char *s;
		uint32_t v32;
		uint64_t v64;
		char *arr;

		switch (fd->kind) {
		case MSGF_U32:
		case MSGF_FLAGS:
			if (ipc_get_u32(m, &v32) < 0 || !value_ok(fd, v32))
				return bad_value(fd, m);
			put_u32(f, fd->off, v32);
			break;
		case MSGF_U64:
			if (ipc_get_u64(m, &v64) < 0 || !value_ok(fd, v64))
				return bad_value(fd, m);
			put_u64(f, fd->off, v64);
			break;
		case MSGF_STR:
			if ((s = get_str(m, fd)) == NULL)
				return -1;
			put_ptr(f, fd->off, s);
			break;
		case MSGF_LIST:
			if (ipc_get_u32(m, &v32) < 0 || !value_ok(fd, v32))
				return bad_value(fd, m);
			/* Bounded by the limit, so a forged count cannot make
			 * the reader allocate much. */
			arr = v32 > 0 ? xcalloc(v32, fd->elem->size) : NULL;
			put_ptr(f, fd->off, arr);
			for (uint32_t k = 0; k < v32; k++) {
				/* What is decoded so far is released too. */
				put_u32(f, fd->count_off, k + 1);
				if (layout_get(fd->elem, m,
				    arr + (size_t)k * fd->elem->size) < 0)
					return -1;
			}
			put_u32(f, fd->count_off, v32);
			break;
		}
	}
	return 0;
}

/* layout_release - free the lists of f (and of their elements) */
static void
layout_release(const struct msg_layout *l, void *f)
{
	for (size_t i = 0; i < l->nfields; i++) {
		const struct msg_field *fd = &l->fields[i];
		char *arr;
		uint32_t n;

		if (fd->kind != MSGF_LIST)
			continue;
		memcpy(&arr, (char *)f + fd->off, sizeof(arr));
		memcpy(&n, (char *)f + fd->count_off, sizeof(n));
		for (uint32_t k = 0; arr != NULL && k < n; k++)
			layout_release(fd->elem,
			    arr + (size_t)k * fd->elem->size);
		free(arr);
		put_ptr(f, fd->off, NULL);
		put_u32(f, fd->count_off, 0);
	}
}

/* fd_ok - m carries a descriptor exactly when its layout says so */
static int
fd_ok(const struct msg_layout *l, const struct ipc_msg *m)
{
	if (l->fd == MSG_FD_REQUIRED && m->fd < 0) {
		why_set("no descriptor");
		return 0;
	}
	if (l->fd == MSG_FD_NONE && m->fd >= 0) {
		why_set("an unexpected descriptor");
		return 0;
	}
	return 1;
}

/* msg_decode_sized - m's payload into *f; -1 with *why */
int
msg_decode_sized(struct ipc_msg *m, uint32_t type, void *f, size_t fsize,
    const char **why)
{
	const struct msg_layout *l = layout_of(type, fsize);

	memset(f, 0, fsize);
	*why = why_buf;
	if (m->type != type) {
		why_set("a %s where a %s was expected", msg_type_name(m->type),
		    l->name);
		return -1;
	}
	if (!fd_ok(l, m))
		return -1;
	m->rpos = 0;
	m->bad = 0;
	if (layout_get(l, m, f) < 0) {
		layout_release(l, f);
		return -1;
	}
	if (ipc_get_end(m) < 0) {
		why_set("%zu octets after the last field", m->len - m->rpos);
		layout_release(l, f);
		return -1;
	}
	return 0;
}

/* msg_decode_empty - 0 when m is of type and carries nothing */
int
msg_decode_empty(struct ipc_msg *m, uint32_t type, const char **why)
{
	const struct msg_layout *l = msg_layout_find(type);

	if (l == NULL || l->nfields != 0)
		fatalx("msg: %s is not an empty message", msg_type_name(type));
	*why = why_buf;
	if (m->type != type) {
		why_set("a %s where a %s was expected", msg_type_name(m->type),
		    l->name);
		return -1;
	}
	if (!fd_ok(l, m))
		return -1;
	if (m->len != 0) {
		why_set("%zu octets of payload", m->len);
		return -1;
	}
	return 0;
}

/* msg_free - release the lists a decode allocated in *f */
void
msg_free(uint32_t type, void *f)
{
	const struct msg_layout *l = msg_layout_find(type);

	if (l != NULL && f != NULL)
		layout_release(l, f);
}

/* --- helpers for receivers and senders ------------------------------------ */

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* msg_peek_u32 - the payload's first u32, whatever follows */
int
msg_peek_u32(const struct ipc_msg *m, uint32_t *v)
{
	if (m->len < 4)
		return -1;
	*v = be32(m->data);
	return 0;
}

/* msg_peek_result - job, index and status of a result frame */
int
msg_peek_result(const struct ipc_msg *m, uint32_t *job, uint32_t *index,
    uint32_t *status)
{
	if ((m->type != MSG_DELIVERD_RESULT &&
	    m->type != MSG_DELIVERD_SMTP_RESULT) || m->len < 12)
		return -1;
	*job = be32(m->data);
	*index = be32(m->data + 4);
	*status = be32(m->data + 8);
	return *status <= DELIVER_PERMFAIL ? 0 : -1;
}

/* msg_log_reject - log a frame from peer that was rejected, and why */
void
msg_log_reject(const char *peer, const struct ipc_msg *m, const char *why)
{
	log_warn("rejected %s (type %u, request %u) from %s: %s",
	    msg_type_name(m->type), m->type, m->id, peer, why);
}

/* msg_str_fit - s, or its start cut at a character boundary plus "..." */
const char *
msg_str_fit(const char *s, size_t max, char *buf, size_t bufsize)
{
	size_t keep;

	if (strnlen(s, max + 1) <= max)
		return s;
	if (bufsize <= max || max < 3)
		fatalx("msg_str_fit: buffer of %zu for %zu octets", bufsize,
		    max);
	keep = max - 3;
	/* s[keep] is the first octet dropped: when it continues a UTF-8
	 * sequence, drop that whole character. */
	while (keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80)
		keep--;
	memcpy(buf, s, keep);
	memcpy(buf + keep, "...", 4);
	return buf;
}
