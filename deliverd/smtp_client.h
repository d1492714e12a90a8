/*
 * smtp_client - one SMTP client connection: connect, greeting, EHLO/HELO,
 * STARTTLS, AUTH, and mail transactions with per-recipient results; or,
 * with lmtp set, one LMTP connection (RFC 2033): LHLO, no TLS or AUTH,
 * and a reply per accepted recipient after the final dot.
 *
 * Used by the connection processes of the smtp and lmtp transports
 * (transport_smtp.c, transport_lmtp.c).
 * Everything here blocks, but never longer than the RFC 5321 4.5.3.2
 * timeout of the step (settings); a connection process serves one
 * connection at a time, so blocking is what it wants.
 */
#ifndef TERN_SMTP_CLIENT_H
#define TERN_SMTP_CLIENT_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#include "settings.h"
#include "tls_client.h"
#include "tls_dane.h"
#include "tls_policy.h"

#define SMTP_TEXT_MAX	1024	/* reply text kept (lines joined) */
#define SMTP_LINE_MAX	4096	/* longest reply line read */
#define SMTP_OUT_MAX	16384	/* commands collected for one write */
#define SMTP_HOST_MAX	256
#define SMTP_RELAY_MAX	(SMTP_HOST_MAX + 80)

/* What the server's EHLO reply offered. */
#define EXT_PIPELINING	0x01
#define EXT_SIZE	0x02
#define EXT_8BITMIME	0x04
#define EXT_SMTPUTF8	0x08
#define EXT_DSN		0x10
#define EXT_STARTTLS	0x20
#define EXT_AUTH_PLAIN	0x40
#define EXT_AUTH_LOGIN	0x80
#define EXT_CHUNKING	0x100	/* BDAT (RFC 3030) */
#define EXT_REQUIRETLS	0x200	/* RFC 8689 */

struct smtp_reply {
	int	 code;			/* 0: no reply (I/O error, timeout) */
	char	 dsn[16];		/* enhanced code, or derived from code */
	char	 text[SMTP_TEXT_MAX];	/* "550 5.1.1 text ..." lines joined */
};

struct smtp_conn {
	int			 fd;
	SSL			*ssl;
	char			 host[SMTP_HOST_MAX];	/* name, for logs and SNI */
	char			 addr[64];		/* numeric */
	int			 port;
	char			 relay[SMTP_RELAY_MAX];	/* "host[addr]:port" */
	unsigned		 ext;
	uint64_t		 size_max;	/* SIZE n (0 none) */
	int			 esmtp;
	int			 lmtp;		/* LMTP: LHLO, a reply per
						   recipient after DATA */
	int			 broken;	/* timed out or lost: no QUIT */
	int			 used;		/* a transaction ended on it:
						   the next begins with RSET */
	/* What this connection demands of TLS: smtp_conn_open sets the
	 * global level and no names; the caller may change both before
	 * smtp_conn_hello (tls_policy.h). */
	enum smtp_tls_level	 tls_level;
	struct tls_names	 tls_names;
	/* At level dane: the TLSA records (smtp_dane.h) that the
	 * certificate is held to instead of the CA store and names. */
	const struct tls_dane	*tls_dane;
	int			 tls_verified;	/* tls_client_verify or
						   tls_dane_verify passed:
						   the peer is authenticated */
	/* Who authenticated it: the level ("verify", "secure", "dane")
	 * whose check passed; MTA-STS puts "mta-sts" here when it sets
	 * tls_verified. */
	const char		*tls_auth_by;
	int			 tls_failed;	/* the level's TLS demand was
						   not met (4.7.4, 4.7.5) */
	unsigned char		 in[SMTP_LINE_MAX];
	size_t			 inlen;
	unsigned char		 out[SMTP_OUT_MAX];	/* commands to send */
	size_t			 outlen;
	const struct settings	*set;
};

/* One recipient of a job and, after the transaction, its result. */
struct smtp_rcpt {
	uint32_t	 index;		/* queued's entry index */
	char		*address;
	char		*orcpt;		/* "" none */
	uint32_t	 notify;	/* NOTIFY_* or 0 */
	int		 status;	/* enum deliver_status, -1 pending */
	char		 dsn[16];
	char		 text[SMTP_TEXT_MAX];
};

/*
 * A message to send on a connection: head (headlen octets, CRLF lines:
 * header fields this copy gets on top, such as "Delivered-To:"), then
 * size octets of the file fd from offset.  Both together are the
 * message: SIZE=, dot-stuffing and BDAT chunks count them as one.
 */
struct smtp_msg {
	const char	*sender;	/* "" for <> */
	const char	*envid;		/* "" none */
	uint32_t	 ret;		/* enum dsn_ret */
	uint32_t	 body;		/* enum body_type */
	uint32_t	 smtputf8;
	uint64_t	 size;
	int		 fd;		/* message file, read-only */
	off_t		 offset;	/* where the body starts */
	const char	*head;		/* NULL or headlen octets */
	size_t		 headlen;
	uint32_t	 requiretls;	/* received with REQUIRETLS */
};

/* Stage results: how a connection-level step ended. */
enum smtp_step {
	STEP_OK = 0,
	STEP_NEXT_HOST,		/* this host failed: try the next address */
	STEP_TLS_RETRY,		/* handshake failed under "may": reconnect
				   to the same address without STARTTLS */
};

/*
 * smtp_conn_open - connect to sa within smtp_connect_timeout and read the
 * greeting.  STEP_OK, or STEP_NEXT_HOST with why in r (code 0 when no
 * SMTP was spoken at all: refused, timeout).
 */
enum smtp_step smtp_conn_open(struct smtp_conn *c, const struct settings *set,
    const char *host, const struct sockaddr *sa, socklen_t salen,
    struct smtp_reply *r);

/*
 * smtp_conn_open_lmtp - connect to sa (AF_UNIX, AF_INET or AF_INET6) for
 * LMTP within smtp_connect_timeout, c->relay named relay, and read the
 * greeting.  STEP_OK or STEP_NEXT_HOST with why in r, as smtp_conn_open.
 */
enum smtp_step smtp_conn_open_lmtp(struct smtp_conn *c,
    const struct settings *set, const char *relay, const struct sockaddr *sa,
    socklen_t salen, struct smtp_reply *r);

/*
 * smtp_conn_hello - EHLO (HELO when refused), STARTTLS as c->tls_level
 * says unless notls, EHLO again over TLS, AUTH with login/password when
 * given (only over TLS, and only after the certificate passed a
 * verifying level).  On an LMTP connection: LHLO alone.  STEP_OK,
 * STEP_NEXT_HOST or STEP_TLS_RETRY, with why in r: a level that was not
 * met is 4.7.4 (no STARTTLS) or 4.7.5 with the failure named.
 */
enum smtp_step smtp_conn_hello(struct smtp_conn *c, int notls,
    const char *login, const char *password, struct smtp_reply *r);

/*
 * smtp_conn_deliver - one transaction for msg to rcpts (n of them): every
 * rcpt gets status, dsn and text.  Returns 0 when the connection is still
 * in a clean state (may be reused), -1 when it must be closed.
 *
 * On a connection that carried a transaction before, RSET goes first, in
 * the same write as the envelope when the server pipelines (RFC 2920
 * 3.1: RSET may stand anywhere in a group), so that reuse costs no round
 * trip of its own.  When that RSET is not answered 250 (a server that
 * closed the idle connection, or says 421), no reply to the transaction
 * was read, so the server took nothing: SMTP_CONN_STALE is returned, no
 * rcpt is touched, and the caller closes the connection and delivers on
 * a new one.
 */
#define SMTP_CONN_STALE	1

int smtp_conn_deliver(struct smtp_conn *c, const struct smtp_msg *msg,
    struct smtp_rcpt *rcpts, size_t n);

/*
 * smtp_conn_tls_authenticated - the connection runs over TLS whose peer
 * was authenticated (by a verifying level, DANE or MTA-STS): the name of
 * what vouched for it (static), or NULL.  REQUIRETLS (RFC 8689 4.2.1)
 * relays only over such a connection.
 */
const char *smtp_conn_tls_authenticated(const struct smtp_conn *c);

/* smtp_conn_close - QUIT (when quit, unless a timeout, a lost connection
 * or a broken-off body left the conversation out of step) and close,
 * freeing TLS */
void smtp_conn_close(struct smtp_conn *c, int quit);

/*
 * smtp_reply_parse_line - check one reply line (len octets, no CRLF):
 * 3 digits then ' ', '-' or end.  Returns the code, -1 when malformed;
 * *last is 1 for the final line of a reply.
 */
int smtp_reply_parse_line(const char *line, size_t len, int *last);

/*
 * smtp_reply_dsn - the enhanced status code at the start of text (after
 * the reply code) when it has the class of code, else "X.0.0".
 */
void smtp_reply_dsn(int code, const char *text, char *dsn, size_t dsnsize);

/*
 * smtp_xtext - RFC 3461 4 xtext of s into buf; -1 when it does not fit.
 */
int smtp_xtext(const char *s, char *buf, size_t bufsize);

/*
 * smtp_dot_stuff - copy in (len octets) to out (room for 2 * len + 2),
 * doubling a '.' at the start of every line; *bol carries "at the start
 * of a line" across calls.  Returns the octets written.
 */
size_t smtp_dot_stuff(const unsigned char *in, size_t len, unsigned char *out,
    int *bol);

#endif
