/*
 * envelope - encode and decode the immutable envelope at the start of
 * every message file.  See envelope.h for the layout.
 *
 * smtpd encodes; queued, deliverd and "ternctl rebuild" decode.  The
 * decoder treats the file as hostile: every length is checked against the
 * bytes present and against the destination buffer (a string that does not
 * fit is an error, never silently truncated), nothing may trail the fields
 * inside the declared length, and no allocation is sized from a count
 * before that count has been checked against the bytes that would back it.
 */
#include "config.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsn_param.h"
#include "envelope.h"
#include "ipc.h"
#include "log.h"
#include "qid.h"
#include "xmalloc.h"

#define ENVELOPE_PREFIX_LEN	16	/* magic, version, length */
#define ENVELOPE_MAGIC_LEN	8
/* ENVID is stored decoded, ORCPT as the client sent it (dsn_param.h). */
#define ENVELOPE_ENVID_MAX	DSN_ENVID_MAX
#define ENVELOPE_ORCPT_MAX	DSN_ORCPT_MAX
/* the smallest encoded recipient: three empty-or-u32 fields */
#define ENVELOPE_RCPT_MIN	12

/*
 * The encoder keeps its own growable buffer instead of a struct ipc_msg:
 * it writes the same typed encoding, but an envelope may legitimately be
 * larger than IPC_MAX_PAYLOAD, where ipc_put_*() would end the process.
 */
struct envbuf {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
};

static void
envbuf_put(struct envbuf *b, const void *p, size_t len)
{
	if (len > SIZE_MAX / 2 - b->len)
		fatalx("envelope: encoding too large");
	if (b->len + len > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;

		while (ncap < b->len + len)
			ncap *= 2;
		b->p = xreallocarray(b->p, ncap, 1);
		b->cap = ncap;
	}
	if (len)
		memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void
envbuf_put_u32(struct envbuf *b, uint32_t v)
{
	unsigned char o[4] = { v >> 24, v >> 16, v >> 8, v };

	envbuf_put(b, o, sizeof(o));
}

static void
envbuf_put_u64(struct envbuf *b, uint64_t v)
{
	envbuf_put_u32(b, (uint32_t)(v >> 32));
	envbuf_put_u32(b, (uint32_t)v);
}

/* envbuf_put_str - s bounded by size (a struct member), NULL as "" */
static void
envbuf_put_str(struct envbuf *b, const char *s, size_t size)
{
	size_t len = s == NULL ? 0 : strnlen(s, size);

	if (len > UINT32_MAX)
		fatalx("envelope: field too long");
	envbuf_put_u32(b, (uint32_t)len);
	envbuf_put(b, s, len);
}

static uint32_t
be32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* envelope_free - release what e owns (not e itself) */
void
envelope_free(struct envelope *e)
{
	if (e->rcpts != NULL) {
		for (uint32_t i = 0; i < e->nrcpt; i++)
			free(e->rcpts[i].orcpt);
		free(e->rcpts);
	}
	free(e->envid);
	e->rcpts = NULL;
	e->envid = NULL;
	e->nrcpt = 0;
}

/*
 * envelope_encode - prefix and fields in a new buffer (caller frees).
 * The encoding is only readable when it stays within ENVELOPE_MAX_LEN and
 * has 1..ENVELOPE_MAX_RCPTS recipients; smtpd's recipient limit keeps it
 * there (the worst case recipient takes about 1.4 KB).
 */
void
envelope_encode(const struct envelope *e, unsigned char **out,
    size_t *outlen)
{
	struct envbuf b = { NULL, 0, 0 };
	size_t body;

	envbuf_put(&b, ENVELOPE_MAGIC, ENVELOPE_MAGIC_LEN);
	envbuf_put_u32(&b, ENVELOPE_VERSION);
	envbuf_put_u32(&b, 0);		/* length, filled in below */
	envbuf_put_str(&b, e->qid, sizeof(e->qid));
	envbuf_put_u64(&b, e->arrival);
	envbuf_put_str(&b, e->sender, sizeof(e->sender));
	envbuf_put_str(&b, e->helo, sizeof(e->helo));
	envbuf_put_str(&b, e->client_name, sizeof(e->client_name));
	envbuf_put_str(&b, e->client_addr, sizeof(e->client_addr));
	envbuf_put_str(&b, e->protocol, sizeof(e->protocol));
	envbuf_put_str(&b, e->envid, ENVELOPE_ENVID_MAX);
	envbuf_put_u32(&b, e->ret);
	envbuf_put_u32(&b, e->body);
	envbuf_put_u32(&b, e->nrcpt);
	for (uint32_t i = 0; i < e->nrcpt; i++) {
		const struct envelope_rcpt *r = &e->rcpts[i];

		envbuf_put_str(&b, r->addr, sizeof(r->addr));
		envbuf_put_str(&b, r->orcpt, ENVELOPE_ORCPT_MAX);
		envbuf_put_u32(&b, r->notify);
	}
	envbuf_put_u32(&b, e->flags);	/* last: envelope_flags_offset */
	body = b.len - ENVELOPE_PREFIX_LEN;
	if (body > UINT32_MAX)
		fatalx("envelope: encoding too large");
	b.p[12] = body >> 24;
	b.p[13] = body >> 16;
	b.p[14] = body >> 8;
	b.p[15] = body;
	*out = b.p;
	*outlen = b.len;
}

/*
 * envelope_get_opt - an optional string field: "" becomes NULL, otherwise
 * a new string (owned by the envelope) of at most max octets without NUL.
 */
static int
envelope_get_opt(struct ipc_msg *m, size_t max, char **out)
{
	const unsigned char *p;
	size_t len;

	*out = NULL;
	if (ipc_get_bytes(m, &p, &len) < 0)
		return -1;
	if (len > max || memchr(p, '\0', len) != NULL)
		return -1;
	if (len > 0)
		*out = xstrndup((const char *)p, len);
	return 0;
}

/* envelope_get_rcpts - the recipient count and array */
static int
envelope_get_rcpts(struct ipc_msg *m, struct envelope *e, const char **why)
{
	uint32_t n;

	if (ipc_get_u32(m, &n) < 0) {
		*why = "truncated";
		return -1;
	}
	/*
	 * Check the count against the bytes left before allocating, so a
	 * forged count cannot make the reader allocate megabytes.
	 */
	if (n < 1 || n > ENVELOPE_MAX_RCPTS ||
	    n > (m->len - m->rpos) / ENVELOPE_RCPT_MIN) {
		*why = "bad recipient count";
		return -1;
	}
	e->rcpts = xcalloc(n, sizeof(*e->rcpts));
	e->nrcpt = n;
	for (uint32_t i = 0; i < n; i++) {
		struct envelope_rcpt *r = &e->rcpts[i];

		if (ipc_get_str(m, r->addr, sizeof(r->addr)) < 0 ||
		    envelope_get_opt(m, ENVELOPE_ORCPT_MAX, &r->orcpt) < 0 ||
		    ipc_get_u32(m, &r->notify) < 0) {
			*why = "bad recipient";
			return -1;
		}
		if (r->notify & ~(uint32_t)(NOTIFY_NEVER | NOTIFY_SUCCESS |
		    NOTIFY_FAILURE | NOTIFY_DELAY)) {
			*why = "bad recipient notify flags";
			return -1;
		}
	}
	return 0;
}

/* envelope_get_fields - every field of the encoded envelope in m */
static int
envelope_get_fields(struct ipc_msg *m, struct envelope *e, uint32_t version,
    const char **why)
{
	*why = "bad field";
	if (ipc_get_str(m, e->qid, sizeof(e->qid)) < 0 ||
	    ipc_get_u64(m, &e->arrival) < 0 ||
	    ipc_get_str(m, e->sender, sizeof(e->sender)) < 0 ||
	    ipc_get_str(m, e->helo, sizeof(e->helo)) < 0 ||
	    ipc_get_str(m, e->client_name, sizeof(e->client_name)) < 0 ||
	    ipc_get_str(m, e->client_addr, sizeof(e->client_addr)) < 0 ||
	    ipc_get_str(m, e->protocol, sizeof(e->protocol)) < 0 ||
	    envelope_get_opt(m, ENVELOPE_ENVID_MAX, &e->envid) < 0 ||
	    ipc_get_u32(m, &e->ret) < 0 || ipc_get_u32(m, &e->body) < 0)
		return -1;
	if (e->ret > DSN_RET_HDRS || e->body > BODY_8BITMIME) {
		*why = "bad RET or BODY value";
		return -1;
	}
	if (envelope_get_rcpts(m, e, why) < 0)
		return -1;
	if (version >= 3 && (ipc_get_u32(m, &e->flags) < 0 ||
	    (e->flags & ~(uint32_t)ENVELOPE_F_ALL))) {
		*why = "bad flags";
		return -1;
	}
	if (ipc_get_end(m) < 0) {
		*why = "trailing data";
		return -1;
	}
	return 0;
}

/*
 * envelope_prefix - check the 16-octet prefix at buf; on success the
 * length of the encoded envelope that follows is in *elen.
 */
static int
envelope_prefix(const unsigned char *buf, size_t len, uint32_t *elen,
    const char **why)
{
	if (len < ENVELOPE_PREFIX_LEN) {
		*why = "truncated";
		return -1;
	}
	if (memcmp(buf, ENVELOPE_MAGIC, ENVELOPE_MAGIC_LEN) != 0) {
		*why = "bad magic";
		return -1;
	}
	if (be32_get(buf + 8) < 1 || be32_get(buf + 8) > ENVELOPE_VERSION) {
		*why = "unsupported version";
		return -1;
	}
	*elen = be32_get(buf + 12);
	if (*elen > ENVELOPE_MAX_LEN) {
		*why = "envelope too long";
		return -1;
	}
	return 0;
}

/* envelope_decode - decode the prefix in buf; e is caller's to free */
int
envelope_decode(const unsigned char *buf, size_t len, struct envelope *e,
    size_t *body_offset, char *err, size_t errsize)
{
	struct ipc_msg m;
	const char *why;
	uint32_t elen;

	memset(e, 0, sizeof(*e));
	if (envelope_prefix(buf, len, &elen, &why) < 0)
		goto bad;
	if (len - ENVELOPE_PREFIX_LEN < elen) {
		why = "truncated";
		goto bad;
	}
	/* A read-only view: m is never freed, and never written through. */
	ipc_msg_init(&m, 0, 0);
	m.data = (unsigned char *)(uintptr_t)(buf + ENVELOPE_PREFIX_LEN);
	m.len = elen;
	if (envelope_get_fields(&m, e, be32_get(buf + 8), &why) < 0)
		goto bad;
	e->version = be32_get(buf + 8);
	*body_offset = ENVELOPE_PREFIX_LEN + (size_t)elen;
	return 0;
bad:
	envelope_free(e);
	memset(e, 0, sizeof(*e));
	snprintf(err, errsize, "envelope: %s", why);
	return -1;
}

/*
 * envelope_pread - read exactly len octets at off.  Returns 0, or -1 with
 * a reason in err ("truncated" when the file ends early).
 */
static int
envelope_pread(int fd, unsigned char *buf, size_t len, off_t off,
    char *err, size_t errsize)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = pread(fd, buf + done, len - done, off + (off_t)done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errsize, "envelope: read: %s",
			    strerror(errno));
			return -1;
		}
		if (n == 0) {
			snprintf(err, errsize, "envelope: truncated");
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

/* envelope_read - pread and decode the envelope at the start of fd */
int
envelope_read(int fd, struct envelope *e, off_t *body_offset, char *err,
    size_t errsize)
{
	unsigned char pre[ENVELOPE_PREFIX_LEN], *buf;
	const char *why;
	uint32_t elen;
	size_t off;
	int rv;

	memset(e, 0, sizeof(*e));
	if (envelope_pread(fd, pre, sizeof(pre), 0, err, errsize) < 0)
		return -1;
	if (envelope_prefix(pre, sizeof(pre), &elen, &why) < 0) {
		snprintf(err, errsize, "envelope: %s", why);
		return -1;
	}
	buf = xmalloc(ENVELOPE_PREFIX_LEN + (size_t)elen);
	memcpy(buf, pre, sizeof(pre));
	rv = envelope_pread(fd, buf + ENVELOPE_PREFIX_LEN, elen,
	    ENVELOPE_PREFIX_LEN, err, errsize);
	if (rv == 0)
		rv = envelope_decode(buf, ENVELOPE_PREFIX_LEN + (size_t)elen, e,
		    &off, err, errsize);
	free(buf);
	if (rv == 0)
		*body_offset = (off_t)off;
	return rv;
}

/* envelope_word_ok - 0..max printable ASCII octets, no space (HELO rule) */
static int
envelope_word_ok(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > 126)
			return 0;
	return 1;
}

/* envelope_flags_offset - the flags are the last four octets */
size_t
envelope_flags_offset(size_t prefix_len)
{
	return prefix_len - 4;
}

/*
 * envelope_addr_ok - a is "" (only when null_ok), "postmaster" (only
 * when postmaster_ok), or a mailbox that addr.c parses and formats back
 * to exactly a: the form smtpd stores.  Non-ASCII (UTF-8) only when utf8:
 * the message came with SMTPUTF8.
 */
static int
envelope_addr_ok(const char *a, int null_ok, int postmaster_ok, int utf8)
{
	struct mailaddr m;
	char canon[ADDR_TEXT_MAX];
	size_t len = strnlen(a, ADDR_TEXT_MAX);

	if (len == 0)
		return null_ok;
	if (postmaster_ok && strcmp(a, "postmaster") == 0)
		return 1;
	if (len >= ADDR_TEXT_MAX ||
	    addr_parse_mailbox(a, len, utf8 ? ADDR_P_UTF8 : 0, &m) != ADDR_OK ||
	    addr_format(&m, canon, sizeof(canon)) < 0)
		return 0;
	return strcmp(canon, a) == 0;
}

/* envelope_validate - every field as smtpd would have accepted it */
int
envelope_validate(const struct envelope *e, char *err, size_t errsize)
{
	const char *why = NULL;
	unsigned char ip[16];
	int utf8 = (e->flags & ENVELOPE_F_SMTPUTF8) != 0;

	if (!qid_valid(e->qid))
		why = "bad queue ID";
	else if (!envelope_addr_ok(e->sender, 1, 0, utf8))
		why = "bad sender address";
	else if (!envelope_word_ok(e->helo, HOSTNAME_MAX))
		why = "bad HELO name";
	else if (!envelope_word_ok(e->client_name, HOSTNAME_MAX))
		why = "bad client name";
	else if (e->client_addr[0] != '\0' &&
	    inet_pton(AF_INET, e->client_addr, ip) != 1 &&
	    inet_pton(AF_INET6, e->client_addr, ip) != 1)
		why = "bad client address";
	else if (e->protocol[0] == '\0' ||
	    !envelope_word_ok(e->protocol, ENVELOPE_PROTO_MAX))
		why = "bad protocol name";
	else if (e->envid != NULL && !dsn_envid_valid(e->envid))
		why = "bad ENVID";
	else if (e->nrcpt < 1 || e->nrcpt > ENVELOPE_MAX_RCPTS)
		why = "bad recipient count";
	/* RFC 8689 4.1: with REQUIRETLS the TLS-Required field is ignored */
	else if ((e->flags & ENVELOPE_F_REQUIRETLS) &&
	    (e->flags & ENVELOPE_F_TLS_OPTIONAL))
		why = "REQUIRETLS with TLS-Required: No";
	for (uint32_t i = 0; why == NULL && i < e->nrcpt; i++) {
		const struct envelope_rcpt *r = &e->rcpts[i];

		if (!envelope_addr_ok(r->addr, 0, 1, utf8))
			why = "bad recipient address";
		else if (r->orcpt != NULL &&
		    !dsn_orcpt_valid(r->orcpt, strlen(r->orcpt)))
			why = "bad ORCPT";
	}
	if (why == NULL)
		return 0;
	snprintf(err, errsize, "envelope: %s", why);
	return -1;
}
