/*
 * sendmail_msg - what a local submission's message becomes before it
 * enters the maildrop: CRLF lines, the header fields a submission lacks
 * (Date:, Message-ID:, From:, as Postfix's cleanup adds them for local
 * mail and RFC 6409 8 allows a submission server to), recipients taken
 * from To/Cc/Bcc with -t and the Bcc fields removed.  A pure function of
 * its input and options (sendmail.c does the I/O), so that unit tests
 * can pin every rule.
 */
#ifndef TERN_SENDMAIL_MSG_H
#define TERN_SENDMAIL_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "addr.h"

/* A growable octet buffer. */
struct sendmail_buf {
	char	*p;
	size_t	 len;
	size_t	 cap;
};

/* sendmail_buf_put - append p[0..len) (fatal when memory runs out) */
void sendmail_buf_put(struct sendmail_buf *b, const void *p, size_t len);
/* sendmail_buf_free - release and empty b */
void sendmail_buf_free(struct sendmail_buf *b);

/* Recipients in canonical form, without duplicates. */
struct sendmail_rcpts {
	char	(*v)[ADDR_TEXT_MAX];
	size_t	  n;
	size_t	  cap;
};

/*
 * sendmail_rcpts_add - add the canonical address a unless it is there
 * already (Postfix's cleanup drops duplicates too); -1 when that would
 * make more than limit.
 */
int sendmail_rcpts_add(struct sendmail_rcpts *r, const char *a, size_t limit);
/* sendmail_rcpts_free - release and empty r */
void sendmail_rcpts_free(struct sendmail_rcpts *r);

struct sendmail_msg_opts {
	int		 extract;	/* -t */
	int		 dot_ends;	/* no -i: a line "." ends the input */
	const char	*from;		/* address for an added From: */
	const char	*full_name;	/* -F or $NAME, or NULL */
	const char	*myhostname;	/* right side of an added Message-ID */
	const char	*myorigin;	/* qualifies addresses without domain */
	const char	*msgid;		/* unique left side of a Message-ID */
	time_t		 now;		/* for an added Date: */
	uint64_t	 size_limit;	/* message_size_limit */
	size_t		 rcpt_limit;	/* smtpd_recipient_limit */
};

struct sendmail_msg {
	struct sendmail_buf	text;	/* the message, CRLF lines */
	struct sendmail_rcpts	rcpts;	/* from the header (extract) */
	int			eightbit;	/* an octet above 127 */
	int			tls_required_no;	/* "TLS-Required: No"
						   (RFC 8689 3; header.h) */
};

/*
 * sendmail_msg_build - turn the input in[0..len) into out (which the
 * caller zeroes first and frees with sendmail_msg_free):
 *   - lines end in LF, CRLF or a lone CR; all become CRLF, and a line
 *     longer than 998 octets is broken (a header line continues with a
 *     space, so it stays one field); a first line "From " (an mbox
 *     separator) is dropped; with dot_ends a line "." ends the input;
 *   - the header section is the leading run of "Name:" fields and
 *     their continuation lines; an empty line is put after it when the
 *     body follows without one;
 *   - Date:, Message-ID: (also replacing one without "@") and From: are
 *     added at the end of the header section when missing;
 *   - with extract, the addresses of Resent-To/Cc/Bcc when the header
 *     has any of them, else of To/Cc/Bcc, go to out->rcpts (qualified,
 *     without duplicates) and the Bcc and Resent-Bcc fields are removed;
 *   - out->tls_required_no says whether the header asks, with one
 *     "TLS-Required: No" field, that TLS policies be ignored.
 * 0, or a sysexits(3) status with a reason in err: EX_DATAERR for a
 * message larger than size_limit, with more than SMTP_MAX_HOPS
 * Received: fields (a mail loop), or with an address that does not
 * parse; EX_USAGE for more recipients than rcpt_limit.
 */
int sendmail_msg_build(const char *in, size_t len,
    const struct sendmail_msg_opts *o, struct sendmail_msg *out, char *err,
    size_t errsize);

/* sendmail_msg_free - release what out holds */
void sendmail_msg_free(struct sendmail_msg *out);

/*
 * sendmail_phrase - name as an RFC 5322 display name in buf: as it is
 * when it is atoms and spaces, else a quoted string; control characters
 * become spaces.  "" when it does not fit or is blank.
 */
void sendmail_phrase(const char *name, char *buf, size_t size);

#endif
