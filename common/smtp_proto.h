/*
 * smtp_proto - the line lengths of RFC 5321 that tern's SMTP servers
 * accept: smtpd, and "sendmail -bs" (tools/sendmail_smtp.c), which must
 * not be more lenient than the server it stands in for.
 */
#ifndef TERN_SMTP_PROTO_H
#define TERN_SMTP_PROTO_H

#define SMTP_LINE_MAX		512	/* RFC 5321 4.5.3.1.4, with CRLF */
/* MAIL/RCPT may be longer by their extensions' allowances (RFC 1870,
 * 3461 5.4, 4954 5, 8689 2) */
#define SMTP_MAIL_LINE_MAX	(SMTP_LINE_MAX + 26 + 100 + 500 + 11 + 64)
#define SMTP_RCPT_LINE_MAX	(SMTP_LINE_MAX + 500 + 64)
#define SMTP_TEXT_LINE_MAX	1000	/* RFC 5321 4.5.3.1.6, with CRLF */
#define SMTP_MAX_HOPS		100	/* Received: fields before 5.4.6: a
					   loop (RFC 5321 6.3) */

#endif
