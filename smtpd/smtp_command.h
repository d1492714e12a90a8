/*
 * smtp_command - parse one SMTP command line (RFC 5321 4.1, with the
 * parameters of SIZE, 8BITMIME, DSN, SMTPUTF8, REQUIRETLS and AUTH).
 *
 * Pure functions, no I/O: the session hands in a line without its CRLF and
 * gets a parsed command or the exact reply to send.  The parser is strict
 * where RFC 5321 is (no space after the colon in "MAIL FROM:<...>" is
 * required to be absent; tolerated as Postfix does) and never reads past
 * len.
 */
#ifndef TERN_SMTP_COMMAND_H
#define TERN_SMTP_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "dsn_param.h"
#include "msg_codec.h"
#include "smtp_proto.h"

/* ENVID and ORCPT as accepted are what a job can pass on (msg_codec.h) */
#define SMTP_ENVID_MAX		MSG_ENVID_MAX
#define SMTP_ORCPT_MAX		MSG_ORCPT_MAX

enum smtp_verb {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO, SMTP_CMD_EHLO, SMTP_CMD_MAIL, SMTP_CMD_RCPT,
	SMTP_CMD_DATA, SMTP_CMD_RSET, SMTP_CMD_NOOP, SMTP_CMD_QUIT,
	SMTP_CMD_VRFY, SMTP_CMD_EXPN, SMTP_CMD_HELP, SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH, SMTP_CMD_BDAT, SMTP_CMD_ETRN,
};

/* what the session has advertised (limits what MAIL/RCPT may carry) */
#define SMTP_EXT_SIZE		0x01
#define SMTP_EXT_8BITMIME	0x02
#define SMTP_EXT_DSN		0x04
#define SMTP_EXT_SMTPUTF8	0x08
#define SMTP_EXT_AUTH		0x10
#define SMTP_EXT_REQUIRETLS	0x20	/* advertised only over TLS */

struct smtp_command {
	enum smtp_verb	verb;
	/* argument text after the verb (HELO domain, VRFY string, AUTH...),
	 * pointing into the caller's line; not NUL-terminated */
	const char	*arg;
	size_t		 arglen;

	/* MAIL and RCPT */
	struct mailaddr	 addr;

	/* MAIL parameters */
	uint64_t	 size;		/* SIZE=, 0 when absent */
	int		 body;		/* enum body_type (envelope.h) */
	int		 ret;		/* enum dsn_ret */
	char		 envid[SMTP_ENVID_MAX + 1];	/* xtext decoded */
	int		 smtputf8;
	int		 requiretls;	/* RFC 8689 2 */
	char		 auth[ADDR_TEXT_MAX];	/* AUTH= value, decoded */

	/* RCPT parameters */
	uint32_t	 notify;	/* NOTIFY_* (envelope.h), 0 absent */
	char		 orcpt[SMTP_ORCPT_MAX + 1];	/* "rfc822;addr" as sent */

	/* BDAT chunk-size [LAST] (RFC 3030 2) */
	uint64_t	 chunk_size;
	int		 last;

	/* ETRN [@]domain or ETRN #queue (RFC 1985 5): a Domain (RFC 5321
	 * syntax, no address literal), lowercased */
	char		 etrn_domain[MSG_ETRN_DOMAIN_MAX + 1];
	uint32_t	 etrn_flags;	/* ETRN_F_* (msg.h) */
	int		 etrn_queue;	/* "#name": a named queue, no domain */
};

/*
 * smtp_command_parse - parse line[0..len) (no CRLF).  ext says which
 * extensions were advertised (EHLO): parameters of others are refused.
 * Returns 0 with *cmd filled, or an SMTP reply code (500, 501, 502, 504,
 * 552, 553, 555) with the full reply ("501 5.5.4 Syntax: ...") in reply.
 * An unknown verb yields 500 5.5.2 with cmd->verb = SMTP_CMD_UNKNOWN.
 * BDAT needs a chunk size that fits 64 bits (else 501, and the caller
 * cannot know how much data follows); ETRN needs a domain (501).
 * SIZE= larger than 2^64-1 yields 552 5.3.4; comparing cmd->size with the
 * configured limit is the session's job.  A non-ASCII address is accepted
 * only with SMTP_EXT_SMTPUTF8 in ext, and on MAIL only together with the
 * SMTPUTF8 parameter; for RCPT the session should pass SMTP_EXT_SMTPUTF8
 * only when the transaction's MAIL carried SMTPUTF8 (else 553 5.6.7).
 * REQUIRETLS without SMTP_EXT_REQUIRETLS (the session is not over TLS,
 * so it was not advertised) gets 530 5.7.10 (RFC 8689 2: the option is
 * only for a session that employs TLS; 5.7.10 "Encryption needed").
 */
int smtp_command_parse(const char *line, size_t len, int ext,
    struct smtp_command *cmd, char *reply, size_t replysize);

/* smtp_verb_name - "MAIL", "RCPT", ... for logs */
const char *smtp_verb_name(enum smtp_verb v);

#endif
