/*
 * envelope - the immutable envelope at the start of every message file.
 *
 * File layout (all integers big-endian):
 *   "TERNMSG\n"  8-octet magic
 *   u32 version (ENVELOPE_VERSION)
 *   u32 length of the encoded envelope that follows
 *   encoded envelope (ipc.h typed encoding, fields below in order)
 *   message body: the header and content exactly as received, CRLF lines,
 *   dot-stuffing removed, starting with tern's Received: header.
 *   trailer (since version 2): proof that the file is complete; see
 *   msgfile.h, which writes and checks whole files.
 *
 * The file is written by smtpd (it holds the only writable descriptor) and
 * read by queued at commit, by deliverd, and by "ternctl rebuild"; each
 * reader treats it as untrusted and decodes with bounds checks.
 */
#ifndef TERN_ENVELOPE_H
#define TERN_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "addr.h"

#define ENVELOPE_MAGIC		"TERNMSG\n"
#define ENVELOPE_VERSION	3	/* 2: a trailer follows the body;
					   3: flags follow the recipients */
#define ENVELOPE_MAX_LEN	(4 * 1024 * 1024)
#define ENVELOPE_MAX_RCPTS	100000
#define QID_MAX			32
#define HOSTNAME_MAX		255
#define ENVELOPE_PROTO_MAX	15	/* "ESMTPSA", "local", ... */

/* DSN NOTIFY flags (RFC 3461) */
#define NOTIFY_NEVER	0x01
#define NOTIFY_SUCCESS	0x02
#define NOTIFY_FAILURE	0x04
#define NOTIFY_DELAY	0x08

enum dsn_ret { DSN_RET_DEFAULT = 0, DSN_RET_FULL = 1, DSN_RET_HDRS = 2 };
enum body_type { BODY_7BIT = 0, BODY_8BITMIME = 1 };

struct envelope_rcpt {
	char		addr[ADDR_TEXT_MAX];	/* addr_format() form */
	char		*orcpt;			/* ORCPT or NULL, owned */
	uint32_t	notify;			/* NOTIFY_* or 0 = default */
};

struct envelope {
	char			qid[QID_MAX];
	uint64_t		arrival;	/* seconds since the epoch */
	char			sender[ADDR_TEXT_MAX];	/* "" for <> */
	char			helo[HOSTNAME_MAX + 1];
	char			client_name[HOSTNAME_MAX + 1];
	char			client_addr[64];	/* numeric */
	char			protocol[ENVELOPE_PROTO_MAX + 1];
						/* SMTP, ESMTP, ESMTPS, ... */
	char			*envid;		/* DSN ENVID or NULL, owned */
	uint32_t		ret;		/* enum dsn_ret */
	uint32_t		body;		/* enum body_type */
	uint32_t		nrcpt;
	struct envelope_rcpt	*rcpts;		/* owned */
	uint32_t		flags;		/* ENVELOPE_F_* (version 3) */
	uint32_t		version;	/* as read (decoders set it) */
};

/* envelope flags */
#define ENVELOPE_F_SMTPUTF8	0x1	/* received with SMTPUTF8 (RFC 6531
					   3.4): only for servers that offer
					   it */
#define ENVELOPE_F_REQUIRETLS	0x2	/* received with REQUIRETLS (RFC
					   8689 4.1): relayed only over
					   verified TLS to a server that
					   offers REQUIRETLS */
#define ENVELOPE_F_TLS_OPTIONAL	0x4	/* "TLS-Required: No" in the header
					   (RFC 8689 3): recipient TLS
					   policies are ignored; never with
					   ENVELOPE_F_REQUIRETLS */
#define ENVELOPE_F_ALL		(ENVELOPE_F_SMTPUTF8 | \
				 ENVELOPE_F_REQUIRETLS | \
				 ENVELOPE_F_TLS_OPTIONAL)

/* envelope_free - release what e owns (not e itself) */
void envelope_free(struct envelope *e);

/*
 * envelope_encode - the file prefix (magic, version, length, envelope) in
 * a new buffer (*out, caller frees) of *outlen octets.
 */
void envelope_encode(const struct envelope *e, unsigned char **out,
    size_t *outlen);

/*
 * envelope_flags_offset - where the flags are in an encoded prefix of
 * prefix_len octets (they are its last field, a u32): smtpd sets a flag
 * there that only the message's header decides, after the body was
 * written (msgfile_writer_patch).
 */
size_t envelope_flags_offset(size_t prefix_len);

/*
 * envelope_read - read and decode the envelope at the start of fd (pread,
 * does not move the offset).  On success fills *e (caller frees with
 * envelope_free) and *body_offset; returns 0.  Returns -1 with a reason in
 * err on a short, truncated, oversized or malformed envelope.
 */
int envelope_read(int fd, struct envelope *e, off_t *body_offset,
    char *err, size_t errsize);

/*
 * envelope_decode - decode from a memory buffer holding at least the
 * whole prefix; same contract as envelope_read.
 */
int envelope_decode(const unsigned char *buf, size_t len,
    struct envelope *e, size_t *body_offset, char *err, size_t errsize);

/*
 * envelope_validate - check every field as smtpd checked it when a
 * client sent it: queue ID syntax, sender and recipients in the
 * canonical form of addr_format() (addr.c), ENVID and ORCPT by
 * dsn_param.c's rules, HELO name and client name as printable ASCII
 * words, the client address numeric, the protocol a word.  Used by
 * queued on every file it accepts or recovers, so a compromised smtpd or
 * a damaged file cannot smuggle CR, LF or control octets into an
 * outbound command, a header or a log line.  0, or -1 with why in err.
 */
int envelope_validate(const struct envelope *e, char *err, size_t errsize);

#endif
