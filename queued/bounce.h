/*
 * bounce - the text of a delivery status notification (RFC 3464): a
 * multipart/report with a human-readable part, a message/delivery-status
 * part and the returned headers or message.
 *
 * Pure: it formats what it is given and touches no file, so unit tests
 * check the text directly.  notice.c queues the result.
 */
#ifndef TERN_BOUNCE_H
#define TERN_BOUNCE_H

#include <stddef.h>
#include <stdint.h>

enum dsn_kind {
	DSN_KIND_FAILED = 0,	/* Action: failed */
	DSN_KIND_DELAYED = 1,	/* Action: delayed */
	DSN_KIND_SUCCESS = 2,	/* Action: delivered or relayed */
};

struct dsn_rcpt {
	const char	*addr;		/* Final-Recipient */
	const char	*orcpt;		/* "type;address", or NULL */
	const char	*action;	/* failed, delayed, delivered, relayed */
	const char	*status;	/* "x.y.z" */
	const char	*relay;		/* "host[ip]:port", "local", "none", "" */
	const char	*diag;		/* the last error, or NULL */
	uint64_t	 last_attempt;	/* 0: none */
	int		 expired;	/* failed because it was too old */
};

struct dsn_report {
	enum dsn_kind	 kind;
	const char	*hostname;	/* Reporting-MTA, MAILER-DAEMON@ */
	const char	*qid;		/* the original's */
	const char	*notice_qid;	/* this notice's (Message-Id) */
	const char	*envid;		/* ENVID, or NULL */
	const char	*to;		/* the original sender */
	uint64_t	 arrival;	/* the original's */
	uint64_t	 now;
	uint64_t	 give_up;	/* delayed: when trying stops */
	int		 full;		/* return the whole message */
	int		 eightbit;	/* the original is 8BITMIME */
	int		 no_original;	/* it is lost: no third part */
};

/*
 * bounce_compose - the notice message (header and body, CRLF lines) in a
 * new buffer (caller frees) of *outlen octets.  orig holds the original
 * message as queued (CRLF lines); only its header is used unless
 * rep->full.
 */
char *bounce_compose(const struct dsn_report *rep, const struct dsn_rcpt *r,
    size_t n, const char *orig, size_t origlen, size_t *outlen);

/* bounce_header_len - length of orig's header block, with its end line */
size_t bounce_header_len(const char *orig, size_t len);

#endif
