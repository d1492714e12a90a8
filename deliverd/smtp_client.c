/*
 * smtp_client - the SMTP client side of one connection (RFC 5321, with
 * PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN, STARTTLS, AUTH and CHUNKING),
 * and the LMTP client (RFC 2033), which differs only in its greeting
 * (LHLO), in speaking neither TLS nor AUTH, and in the replies after the
 * final dot (or BDAT LAST): one per accepted recipient instead of one for
 * the message.
 *
 * Called by transport_smtp.c and transport_lmtp.c in a connection
 * process.  Every wait is
 * bounded by the deadline of its step (see deadline.h): the timeout of a
 * step (smtp_helo_timeout and the others) is fixed when we start to
 * write a command or to wait for a reply, for the whole command or the
 * whole reply, every line of a multi-line reply included, so a server
 * that trickles one octet a second is dropped when that time is up.
 * Every reply is untrusted (bounded
 * lines, bounded count, codes checked) and stored only after non-printable
 * octets are replaced, since it travels on to queued and into the log.
 * It must never send a message to a server that refused its size, never
 * send DATA when no recipient was accepted, and never let a line of the
 * message end the data early (dot-stuffing).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "deadline.h"
#include "envelope.h"
#include "log.h"
#include "msg.h"
#include "smtp_client.h"

#define SMTP_REPLY_LINES_MAX	100
#define SMTP_CMD_MAX		2048
#define SMTP_BODY_CHUNK		16384

/*
 * SMTP_BODY_RATE_MIN - the slowest average, in octets a second, at which
 * a server may take the message body (see body_send for why).
 */
#define SMTP_BODY_RATE_MIN	500

/* Octets in one BDAT chunk: one round trip a mebioctet. */
#define SMTP_BDAT_CHUNK		(1024 * 1024)

/* step_deadline - the deadline of a step allowed seconds from now */
static long long
step_deadline(long seconds)
{
	return deadline_in((long long)seconds * 1000);
}

/* sanitize - replace octets outside printable ASCII with '?' */
static void
sanitize(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 32 || (unsigned char)*s > 126)
			*s = '?';
}

/* smtp_reply_parse_line - three digits, then ' ', '-' or nothing */
int
smtp_reply_parse_line(const char *line, size_t len, int *last)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '9' || line[2] < '0' || line[2] > '9')
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	*last = len == 3 || line[3] == ' ';
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

/* dsn_number - the 1 to max digits at *p as a number, *p moved past
 * them; -1 when there are none, or more */
static int
dsn_number(const char **p, int max)
{
	int v = 0, n = 0;

	for (; **p >= '0' && **p <= '9'; (*p)++) {
		if (++n > max)
			return -1;
		v = v * 10 + (**p - '0');
	}
	return n == 0 ? -1 : v;
}

/* smtp_reply_dsn - "c.s.d" after the code when its class matches (RFC
 * 3463 2: class "." subject "." detail, 1 and 1-3 and 1-3 digits) */
void
smtp_reply_dsn(int code, const char *text, char *dsn, size_t dsnsize)
{
	const char *p = text;
	int a, b = -1, c = -1;

	/* Past "NNN " when something follows it. */
	if (p[0] != '\0' && p[1] != '\0' && p[2] != '\0' && p[3] != '\0' &&
	    p[4] != '\0')
		p += 4;
	a = dsn_number(&p, 1);
	if (a >= 0 && *p == '.') {
		p++;
		b = dsn_number(&p, 3);
	}
	if (b >= 0 && *p == '.') {
		p++;
		c = dsn_number(&p, 3);
	}
	if (c >= 0 && (*p == ' ' || *p == '\0') && a == code / 100) {
		snprintf(dsn, dsnsize, "%d.%d.%d", a, b, c);
		return;
	}
	snprintf(dsn, dsnsize, "%d.0.0", code >= 200 && code < 600 ?
	    code / 100 : 4);
}

static void textf(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

/* textf - format into buf; a long server reply is cut, on purpose */
static void
textf(char *buf, size_t bufsize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, bufsize, fmt, ap);
	va_end(ap);
}

/* local_reply - a reply made up here (code 0: nothing was received) */
static void
local_reply(struct smtp_reply *r, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
local_reply(struct smtp_reply *r, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	r->code = 0;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* conn_fill - read more input by deadline; -1 error, 0 EOF */
static ssize_t
conn_fill(struct smtp_conn *c, long long deadline)
{
	ssize_t n;
	int r;

	if (c->inlen == sizeof(c->in)) {
		errno = EMSGSIZE;	/* a reply line longer than we take */
		return -1;
	}
	if (c->ssl != NULL)
		return tls_client_read(c->ssl, c->fd, c->in + c->inlen,
		    sizeof(c->in) - c->inlen, deadline);
	for (;;) {
		n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -1;
		if ((r = deadline_poll(c->fd, POLLIN, deadline)) <= 0)
			return -1;	/* errno ETIMEDOUT at the deadline */
	}
}

/*
 * conn_line - the next line (without CRLF, NUL-terminated in line).  A
 * line longer than the buffer is an error: no SMTP server needs one.
 */
static int
conn_line(struct smtp_conn *c, char *line, size_t linesize,
    long long deadline)
{
	unsigned char *nl;
	size_t len;
	ssize_t n;

	while ((nl = memchr(c->in, '\n', c->inlen)) == NULL) {
		if ((n = conn_fill(c, deadline)) <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			return -1;
		}
		c->inlen += (size_t)n;
	}
	len = (size_t)(nl - c->in);
	if (len > 0 && c->in[len - 1] == '\r')
		len--;
	if (len >= linesize)
		len = linesize - 1;
	memcpy(line, c->in, len);
	line[len] = '\0';
	c->inlen -= (size_t)(nl + 1 - c->in);
	memmove(c->in, nl + 1, c->inlen);
	return (int)len;
}

/* io_error_text - "lost connection", "timeout" for an I/O failure */
static const char *
io_error_text(void)
{
	return errno == ETIMEDOUT ? "conversation timed out" :
	    "lost connection";
}

/*
 * reply_read - one whole reply within timeout seconds from now, all its
 * lines under that one deadline, joined with ' ' (so EHLO keywords each
 * follow a space).  On failure r->code is 0 and r->text says why (while
 * what).
 */
static int
reply_read(struct smtp_conn *c, struct smtp_reply *r, long timeout,
    const char *what)
{
	char line[SMTP_LINE_MAX];
	size_t tlen = 0;
	int len, code, last = 0, first = -1, nlines = 0;
	long long deadline = step_deadline(timeout);

	r->text[0] = '\0';
	while (!last) {
		if ((len = conn_line(c, line, sizeof(line), deadline)) < 0) {
			local_reply(r, "4.4.2", "%s with %s while %s",
			    io_error_text(), c->relay, what);
			c->broken = 1;
			return -1;
		}
		code = smtp_reply_parse_line(line, (size_t)len, &last);
		if (code < 0 || (first != -1 && code != first) ||
		    ++nlines > SMTP_REPLY_LINES_MAX) {
			local_reply(r, "4.5.0", "malformed reply from %s while "
			    "%s", c->relay, what);
			return -1;
		}
		first = code;
		if (tlen == 0) {
			tlen = strlcpy(r->text, line, sizeof(r->text));
			if (len > 3)
				r->text[3] = ' ';
		}
		else if (tlen < sizeof(r->text) - 1 && len > 4) {
			r->text[tlen++] = ' ';
			r->text[tlen] = '\0';
			tlen = strlcat(r->text, line + 4, sizeof(r->text));
		}
		if (tlen >= sizeof(r->text))
			tlen = sizeof(r->text) - 1;
	}
	sanitize(r->text);
	r->code = first;
	smtp_reply_dsn(r->code, r->text, r->dsn, sizeof(r->dsn));
	return 0;
}

/* conn_write - send len octets by deadline */
static int
conn_write(struct smtp_conn *c, const void *buf, size_t len,
    long long deadline)
{
	const unsigned char *p = buf;
	ssize_t n;
	int r;

	if (c->ssl != NULL)
		return tls_client_write(c->ssl, c->fd, buf, len, deadline);
	while (len > 0) {
		n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if ((r = deadline_poll(c->fd, POLLOUT, deadline)) <= 0)
			return -1;	/* errno ETIMEDOUT at the deadline */
	}
	return 0;
}

/*
 * cmd_flush - send every queued command line, all of it within timeout
 * seconds.  Commands are collected and written together (a pipelined
 * group is one write, RFC 2920 3.1): written one at a time, the second
 * small segment would wait, under Nagle's algorithm, for the server's
 * delayed acknowledgement of the first -- about 40 ms per message.
 */
static int
cmd_flush(struct smtp_conn *c, long timeout, struct smtp_reply *r,
    const char *what)
{
	size_t len = c->outlen;

	c->outlen = 0;
	if (len == 0 || conn_write(c, c->out, len, step_deadline(timeout)) == 0)
		return 0;
	local_reply(r, "4.4.2", "%s with %s while %s", io_error_text(),
	    c->relay, what);
	c->broken = 1;
	return -1;
}

/* cmd_queue - add one command line (CRLF added) to the output; flushes
 * first when it would not fit.  0, or -1 when that flush failed. */
static int
cmd_queue(struct smtp_conn *c, const char *line, long timeout,
    struct smtp_reply *r, const char *what)
{
	size_t len = strnlen(line, SMTP_CMD_MAX);

	if (c->outlen + len + 2 > sizeof(c->out) &&
	    cmd_flush(c, timeout, r, what) != 0)
		return -1;
	memcpy(c->out + c->outlen, line, len);
	memcpy(c->out + c->outlen + len, "\r\n", 2);
	c->outlen += len + 2;
	return 0;
}

/* cmd_send - one command line (CRLF added), with whatever is queued before
 * it, all of it within timeout seconds */
static int
cmd_send(struct smtp_conn *c, const char *line, long timeout,
    struct smtp_reply *r, const char *what)
{
	if (cmd_queue(c, line, timeout, r, what) != 0)
		return -1;
	return cmd_flush(c, timeout, r, what);
}

/* command - send a line and read its reply */
static int
command(struct smtp_conn *c, const char *line, long timeout,
    struct smtp_reply *r, const char *what)
{
	if (cmd_send(c, line, timeout, r, what) != 0)
		return -1;
	return reply_read(c, r, timeout, what);
}

/* connect_wait - non-blocking connect with a deadline */
static int
connect_wait(int fd, const struct sockaddr *sa, socklen_t salen,
    long long deadline)
{
	socklen_t elen = sizeof(int);
	int r, e = 0;

	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	if ((r = deadline_poll(fd, POLLOUT, deadline)) == 0)
		return -1;	/* errno ETIMEDOUT */
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0)
		return -1;
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}

/* conn_greet - c named: connect to sa and read a 2xx greeting */
static enum smtp_step
conn_greet(struct smtp_conn *c, const struct sockaddr *sa, socklen_t salen,
    struct smtp_reply *r)
{
	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	/* Writes are whole commands, groups or body chunks (cmd_flush):
	 * none should wait for the acknowledgement of the one before. */
	if (c->fd != -1 && sa->sa_family != AF_UNIX)
		(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof(int));
	if (c->fd == -1 || connect_wait(c->fd, sa, salen,
	    step_deadline(c->set->smtp_connect_timeout)) != 0) {
		local_reply(r, "4.4.1", "connect to %s: %s", c->relay,
		    strerror(errno));
		if (c->fd != -1)
			close(c->fd);
		c->fd = -1;
		return STEP_NEXT_HOST;
	}
	if (reply_read(c, r, c->set->smtp_helo_timeout, "receiving the "
	    "initial server greeting") != 0 || r->code / 100 != 2) {
		if (r->code != 0) {
			char t[SMTP_TEXT_MAX];

			strlcpy(t, r->text, sizeof(t));
			textf(r->text, sizeof(r->text), "host %s said: %s",
			    c->relay, t);
		}
		smtp_conn_close(c, r->code != 0);
		return STEP_NEXT_HOST;
	}
	return STEP_OK;
}

/* smtp_conn_open - connect and read a 2xx greeting */
enum smtp_step
smtp_conn_open(struct smtp_conn *c, const struct settings *set,
    const char *host, const struct sockaddr *sa, socklen_t salen,
    struct smtp_reply *r)
{
	const void *a = sa->sa_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)sa)->sin_addr;

	memset(c, 0, sizeof(*c));
	c->set = set;
	c->tls_level = set->smtp_tls_security_level;
	c->ssl = NULL;
	strlcpy(c->host, host, sizeof(c->host));
	inet_ntop(sa->sa_family, a, c->addr, sizeof(c->addr));
	c->port = ntohs(sa->sa_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)sa)->sin6_port :
	    ((const struct sockaddr_in *)sa)->sin_port);
	snprintf(c->relay, sizeof(c->relay), "%s[%s]:%d", c->host, c->addr,
	    c->port);
	return conn_greet(c, sa, salen, r);
}

/* smtp_conn_open_lmtp - connect to an LMTP server and read its greeting */
enum smtp_step
smtp_conn_open_lmtp(struct smtp_conn *c, const struct settings *set,
    const char *relay, const struct sockaddr *sa, socklen_t salen,
    struct smtp_reply *r)
{
	memset(c, 0, sizeof(*c));
	c->set = set;
	c->ssl = NULL;
	c->lmtp = 1;
	strlcpy(c->host, relay, sizeof(c->host));
	strlcpy(c->relay, relay, sizeof(c->relay));
	return conn_greet(c, sa, salen, r);
}

/* ehlo_auth_mechs - the SASL mechanisms listed after AUTH (to the end of
 * that EHLO line: the joined reply keeps one line per keyword group only
 * up to the next keyword, so stop at the first word we know is not one) */
static void
ehlo_auth_mechs(struct smtp_conn *c, const char *p)
{
	char mech[64];
	int n;

	while (sscanf(p, "%63s%n", mech, &n) == 1) {
		if (strcasecmp(mech, "PLAIN") == 0)
			c->ext |= EXT_AUTH_PLAIN;
		else if (strcasecmp(mech, "LOGIN") == 0)
			c->ext |= EXT_AUTH_LOGIN;
		else if (strspn(mech, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(mech) ||
		    strcasecmp(mech, "PIPELINING") == 0 ||
		    strcasecmp(mech, "SIZE") == 0 ||
		    strcasecmp(mech, "8BITMIME") == 0 ||
		    strcasecmp(mech, "DSN") == 0 ||
		    strcasecmp(mech, "STARTTLS") == 0 ||
		    strcasecmp(mech, "SMTPUTF8") == 0 ||
		    strcasecmp(mech, "ENHANCEDSTATUSCODES") == 0)
			break;
		p += n;
	}
}

/* ehlo_keywords - the extensions in an EHLO reply's joined text */
static void
ehlo_keywords(struct smtp_conn *c, const char *lines)
{
	char word[64];
	const char *p = lines;
	unsigned long long v;
	int n;

	c->ext = 0;
	c->size_max = 0;
	/* The first "line" is the greeting name; keywords follow it. */
	while ((p = strchr(p, ' ')) != NULL) {
		p++;
		if (sscanf(p, "%63s%n", word, &n) != 1)
			break;
		if (strcasecmp(word, "PIPELINING") == 0)
			c->ext |= EXT_PIPELINING;
		else if (strcasecmp(word, "8BITMIME") == 0)
			c->ext |= EXT_8BITMIME;
		else if (strcasecmp(word, "SMTPUTF8") == 0)
			c->ext |= EXT_SMTPUTF8;
		else if (strcasecmp(word, "DSN") == 0)
			c->ext |= EXT_DSN;
		else if (strcasecmp(word, "CHUNKING") == 0)
			c->ext |= EXT_CHUNKING;
		else if (strcasecmp(word, "REQUIRETLS") == 0)
			c->ext |= EXT_REQUIRETLS;
		else if (strcasecmp(word, "STARTTLS") == 0)
			c->ext |= EXT_STARTTLS;
		else if (strcasecmp(word, "SIZE") == 0) {
			c->ext |= EXT_SIZE;
			if (sscanf(p + n, " %llu", &v) == 1)
				c->size_max = v;
		} else if (strcasecmp(word, "AUTH") == 0)
			ehlo_auth_mechs(c, p + n);
	}
}

/* ehlo - EHLO (LHLO for LMTP); on 250 the offered extensions go to
 * c->ext */
static int
ehlo(struct smtp_conn *c, struct smtp_reply *r)
{
	char line[SMTP_HOST_MAX + 16];

	snprintf(line, sizeof(line), "%s %s", c->lmtp ? "LHLO" : "EHLO",
	    c->set->smtp_helo_name);
	if (command(c, line, c->set->smtp_helo_timeout, r,
	    c->lmtp ? "sending LHLO" : "sending EHLO") != 0)
		return -1;
	if (r->code == 250) {
		c->esmtp = 1;
		/* Skip "250 " and the server's name; join keeps ' ' between.
		 * A bare "250" has no text after the code at all. */
		ehlo_keywords(c, strlen(r->text) > 4 ? r->text + 4 : "");
	}
	return 0;
}

/* hello_failed - r describes a refusal of what (host said ...) */
static enum smtp_step
hello_failed(struct smtp_conn *c, struct smtp_reply *r, const char *what)
{
	char t[SMTP_TEXT_MAX];

	if (r->code != 0) {
		strlcpy(t, r->text, sizeof(t));
		textf(r->text, sizeof(r->text), "host %s refused to talk "
		    "to me: %s (in reply to %s)", c->relay, t, what);
	}
	smtp_conn_close(c, r->code != 0);
	return STEP_NEXT_HOST;
}

/*
 * tls_required - the level demands TLS and did not get it: the
 * reason (already in r->text) goes to the log, the connection is closed
 * (quit says whether the dialogue is still in step), the next host is
 * tried.
 */
static enum smtp_step
tls_required(struct smtp_conn *c, struct smtp_reply *r, int quit)
{
	char vis[SMTP_TEXT_MAX];

	log_vis(vis, sizeof(vis), r->text, strlen(r->text));
	log_info("%s: %s", c->relay, vis);
	c->tls_failed = 1;
	smtp_conn_close(c, quit);
	return STEP_NEXT_HOST;
}

/*
 * tls_peer_verify - the level's check of the peer: at dane the TLSA
 * records (what matched, as " (dane: ...)", into how), else the CA store
 * and the names.  0, or -1 with the failure in why.
 */
static int
tls_peer_verify(struct smtp_conn *c, char *how, size_t howsize, char *why,
    size_t whysize)
{
	char matched[128];

	how[0] = '\0';
	if (c->tls_level != SMTP_TLS_DANE)
		return tls_client_verify(c->ssl, &c->tls_names, why, whysize);
	/* A dane level without records is a bug upstream: never a pass. */
	if (c->tls_dane == NULL) {
		snprintf(why, whysize, "no TLSA records");
		return -1;
	}
	if (tls_dane_verify(c->ssl, matched, sizeof(matched), why,
	    whysize) != 0)
		return -1;
	snprintf(how, howsize, " (dane: %s)", matched);
	return 0;
}

/* starttls - STARTTLS, the handshake, the level's checks; EHLO again */
static enum smtp_step
starttls(struct smtp_conn *c, struct smtp_reply *r)
{
	char err[256], proto[160], peer[256], verify[128], vis[256];
	char why[512];
	int must = tls_level_encrypts(c->tls_level);
	const char *lvl = tls_level_name(c->tls_level);

	if (command(c, "STARTTLS", c->set->smtp_helo_timeout, r,
	    "sending STARTTLS") != 0)
		return hello_failed(c, r, "STARTTLS command");
	if (r->code != 220) {
		if (must) {
			local_reply(r, "4.7.5", "TLS is required (level %s), "
			    "but host %s refused to start TLS: %s", lvl,
			    c->relay, r->text);
			return tls_required(c, r, 1);
		}
		return STEP_OK;		/* carry on in plaintext */
	}
	/* Anything the server sent before the handshake is an injection. */
	c->inlen = 0;
	/* RFC 7672 8.1: under DANE the SNI is the TLSA base domain, which
	 * is where the MX host's CNAMEs led when the records are there. */
	c->ssl = tls_client_handshake(c->fd, c->tls_level == SMTP_TLS_DANE &&
	    c->tls_dane != NULL ? c->tls_dane->base : c->host,
	    c->tls_level == SMTP_TLS_DANE ? c->tls_dane : NULL,
	    step_deadline(c->set->smtp_helo_timeout), err, sizeof(err));
	if (c->ssl == NULL) {
		log_info("TLS handshake with %s failed: %s", c->relay, err);
		local_reply(r, "4.7.5", "Cannot start TLS: handshake failure "
		    "with %s", c->relay);
		smtp_conn_close(c, 0);
		c->tls_failed = must;
		return must ? STEP_NEXT_HOST : STEP_TLS_RETRY;
	}
	tls_client_describe(c->ssl, proto, sizeof(proto), peer, sizeof(peer),
	    verify, sizeof(verify));
	log_vis(vis, sizeof(vis), peer, strlen(peer));
	if (tls_level_verifies(c->tls_level)) {
		/* Checked before a single command goes over the session:
		 * neither the envelope nor a password reaches a server
		 * that the level does not trust. */
		if (tls_peer_verify(c, err, sizeof(err), why,
		    sizeof(why)) != 0) {
			log_info("%s: peer certificate %s", c->relay, vis);
			local_reply(r, "4.7.5", "TLS is required (level %s), "
			    "but the certificate of host %s did not verify: "
			    "%s", lvl, c->relay, why);
			return tls_required(c, r, 1);
		}
		c->tls_verified = 1;
		c->tls_auth_by = lvl;
		log_info("Verified TLS connection established to %s%s: %s",
		    c->relay, err, proto);
	} else
		log_info("TLS connection established to %s: %s", c->relay,
		    proto);
	log_info("%s: peer certificate %s: %s", c->relay, vis, verify);
	if (ehlo(c, r) != 0 || r->code != 250)
		return hello_failed(c, r, "EHLO command");
	return STEP_OK;
}

/* b64 - base64 of len octets of in into out (NUL-terminated) */
static void
b64(const unsigned char *in, size_t len, char *out)
{
	static const char tbl[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = tbl[in[i] >> 2];
		out[o++] = tbl[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = tbl[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = tbl[in[i + 2] & 63];
	}
	if (i < len) {
		out[o++] = tbl[in[i] >> 2];
		if (i + 1 < len) {
			out[o++] = tbl[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			out[o++] = tbl[(in[i + 1] & 15) << 2];
		} else
			out[o++] = tbl[(in[i] & 3) << 4];
		out[o++] = '=';
		if (i + 1 >= len)
			out[o++] = '=';
	}
	out[o] = '\0';
}

/* auth - AUTH PLAIN (or LOGIN) with login/password */
static enum smtp_step
auth(struct smtp_conn *c, const char *login, const char *password,
    struct smtp_reply *r)
{
	unsigned char raw[600];
	char enc[820], line[840];
	size_t ll = strlen(login), pl = strlen(password);
	long t = c->set->smtp_helo_timeout;

	/* A password goes only over TLS at level encrypt or higher (the
	 * transport raises a destination with credentials to encrypt), and
	 * at a verifying level only to a verified peer. */
	if (ll + pl + 2 > sizeof(raw) || c->ssl == NULL ||
	    !tls_level_encrypts(c->tls_level) ||
	    (tls_level_verifies(c->tls_level) && !c->tls_verified) ||
	    !(c->ext & (EXT_AUTH_PLAIN | EXT_AUTH_LOGIN))) {
		local_reply(r, "4.7.0", "cannot authenticate to %s: %s",
		    c->relay, c->ssl == NULL ||
		    !tls_level_encrypts(c->tls_level) ? "no TLS" :
		    !(c->ext & (EXT_AUTH_PLAIN | EXT_AUTH_LOGIN)) ?
		    "no usable AUTH mechanism" : "certificate not verified");
		smtp_conn_close(c, 1);
		return STEP_NEXT_HOST;
	}
	if (c->ext & EXT_AUTH_PLAIN) {
		raw[0] = '\0';
		memcpy(raw + 1, login, ll);
		raw[ll + 1] = '\0';
		memcpy(raw + ll + 2, password, pl);
		b64(raw, ll + pl + 2, enc);
		snprintf(line, sizeof(line), "AUTH PLAIN %s", enc);
		if (command(c, line, t, r, "sending AUTH") != 0)
			return hello_failed(c, r, "AUTH command");
	} else {
		if (command(c, "AUTH LOGIN", t, r, "sending AUTH") != 0 ||
		    r->code != 334)
			return hello_failed(c, r, "AUTH command");
		b64((const unsigned char *)login, ll, enc);
		if (command(c, enc, t, r, "sending AUTH") != 0 ||
		    r->code != 334)
			return hello_failed(c, r, "AUTH command");
		b64((const unsigned char *)password, pl, enc);
		if (command(c, enc, t, r, "sending AUTH") != 0)
			return hello_failed(c, r, "AUTH command");
	}
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(enc, sizeof(enc));
	explicit_bzero(line, sizeof(line));
	if (r->code != 235)
		return hello_failed(c, r, "AUTH command");
	return STEP_OK;
}

/* smtp_conn_hello - EHLO/HELO, STARTTLS, AUTH */
enum smtp_step
smtp_conn_hello(struct smtp_conn *c, int notls, const char *login,
    const char *password, struct smtp_reply *r)
{
	char line[SMTP_HOST_MAX + 16];
	enum smtp_step st;
	enum smtp_tls_level level = c->tls_level;

	if (ehlo(c, r) != 0)
		return hello_failed(c, r, c->lmtp ? "LHLO command" :
		    "EHLO command");
	/* RFC 2033 4.1: an LMTP server has no HELO to fall back to; it is
	 * the last hop, on a socket of this host or a trusted network, so
	 * neither TLS nor AUTH is spoken there. */
	if (c->lmtp)
		return r->code == 250 ? STEP_OK :
		    hello_failed(c, r, "LHLO command");
	if (r->code != 250) {
		/* RFC 5321 3.2: an old server: fall back to HELO. */
		snprintf(line, sizeof(line), "HELO %s",
		    c->set->smtp_helo_name);
		if (command(c, line, c->set->smtp_helo_timeout, r,
		    "sending HELO") != 0 || r->code != 250)
			return hello_failed(c, r, "HELO command");
	}
	if (tls_level_encrypts(level) && !(c->ext & EXT_STARTTLS)) {
		local_reply(r, "4.7.4", "TLS is required (level %s), but was "
		    "not offered by host %s", tls_level_name(level), c->relay);
		return tls_required(c, r, 1);
	}
	if (level != SMTP_TLS_NONE && !notls && (c->ext & EXT_STARTTLS) &&
	    (st = starttls(c, r)) != STEP_OK)
		return st;
	if (login != NULL && password != NULL &&
	    (st = auth(c, login, password, r)) != STEP_OK)
		return st;
	return STEP_OK;
}

/* smtp_xtext - RFC 3461 xtext: "+XX" for '+', '=', and non-graphic */
int
smtp_xtext(const char *s, char *buf, size_t bufsize)
{
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		int hex = ch < 33 || ch > 126 || ch == '+' || ch == '=';

		/* Room for this character's encoding and the final NUL. */
		if (o + (hex ? 3 : 1) + 1 > bufsize)
			return -1;
		if (hex)
			o += (size_t)snprintf(buf + o, 4, "+%02X", ch);
		else
			buf[o++] = (char)ch;
	}
	if (o >= bufsize)
		return -1;
	buf[o] = '\0';
	return 0;
}

/* xtext_ok - already xtext (ORCPT as received): graphic, no '=' */
static int
xtext_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 33 || (unsigned char)*s > 126 ||
		    *s == '=')
			return 0;
	return 1;
}

/* smtp_msg_length - the octets of m as sent: its head and its body */
static uint64_t
smtp_msg_length(const struct smtp_msg *m)
{
	return (uint64_t)m->headlen + m->size;
}

/*
 * smtp_msg_read - up to len octets of m (head, then the file's body)
 * from position pos, as pread: the octets read, 0 when the file ends
 * before the message does, -1 with errno.  The caller never asks past
 * the end of the message, so nothing that follows it in the file goes.
 */
static ssize_t
smtp_msg_read(const struct smtp_msg *m, unsigned char *buf, size_t len,
    uint64_t pos)
{
	ssize_t n;

	if (pos < m->headlen) {
		if (len > m->headlen - pos)
			len = m->headlen - (size_t)pos;
		memcpy(buf, m->head + pos, len);
		return (ssize_t)len;
	}
	do
		n = pread(m->fd, buf, len, m->offset + (off_t)(pos -
		    m->headlen));
	while (n == -1 && errno == EINTR);
	return n;
}

/* mail_line - MAIL FROM with the parameters the server offered */
static void
mail_line(const struct smtp_conn *c, const struct smtp_msg *m, char *buf,
    size_t bufsize)
{
	char x[300];

	snprintf(buf, bufsize, "MAIL FROM:<%s>", m->sender);
	if (c->ext & EXT_SIZE) {
		snprintf(x, sizeof(x), " SIZE=%llu",
		    (unsigned long long)smtp_msg_length(m));
		strlcat(buf, x, bufsize);
	}
	if ((c->ext & EXT_8BITMIME) && m->body == BODY_8BITMIME)
		strlcat(buf, " BODY=8BITMIME", bufsize);
	if ((c->ext & EXT_SMTPUTF8) && m->smtputf8)
		strlcat(buf, " SMTPUTF8", bufsize);
	/* RFC 8689 4.2.1: only to a server that qualifies; for a notice
	 * from <> that is best effort (smtp_requiretls.h). */
	if (m->requiretls && (c->ext & EXT_REQUIRETLS) &&
	    smtp_conn_tls_authenticated(c) != NULL)
		strlcat(buf, " REQUIRETLS", bufsize);
	if (c->ext & EXT_DSN) {
		if (m->ret == DSN_RET_FULL)
			strlcat(buf, " RET=FULL", bufsize);
		else if (m->ret == DSN_RET_HDRS)
			strlcat(buf, " RET=HDRS", bufsize);
		if (m->envid[0] != '\0' &&
		    smtp_xtext(m->envid, x, sizeof(x)) == 0) {
			strlcat(buf, " ENVID=", bufsize);
			strlcat(buf, x, bufsize);
		}
	}
}

/* rcpt_line - RCPT TO with NOTIFY and ORCPT when the server has DSN */
static void
rcpt_line(const struct smtp_conn *c, const struct smtp_rcpt *r, char *buf,
    size_t bufsize)
{
	snprintf(buf, bufsize, "RCPT TO:<%s>", r->address);
	if (!(c->ext & EXT_DSN))
		return;
	if (r->notify & NOTIFY_NEVER)
		strlcat(buf, " NOTIFY=NEVER", bufsize);
	else if (r->notify != 0) {
		const char *sep = " NOTIFY=";

		if (r->notify & NOTIFY_SUCCESS) {
			strlcat(buf, sep, bufsize);
			strlcat(buf, "SUCCESS", bufsize);
			sep = ",";
		}
		if (r->notify & NOTIFY_FAILURE) {
			strlcat(buf, sep, bufsize);
			strlcat(buf, "FAILURE", bufsize);
			sep = ",";
		}
		if (r->notify & NOTIFY_DELAY) {
			strlcat(buf, sep, bufsize);
			strlcat(buf, "DELAY", bufsize);
		}
	}
	if (r->orcpt[0] != '\0' && strchr(r->orcpt, ';') != NULL &&
	    xtext_ok(r->orcpt)) {
		strlcat(buf, " ORCPT=", bufsize);
		strlcat(buf, r->orcpt, bufsize);
	}
}

/* rcpt_set - record a result for one recipient */
static void
rcpt_set(struct smtp_rcpt *r, int status, const char *dsn, const char *text)
{
	r->status = status;
	strlcpy(r->dsn, dsn, sizeof(r->dsn));
	strlcpy(r->text, text, sizeof(r->text));
}

/* status_of - deliver_status for a reply code (no reply: temporary) */
static int
status_of(int code)
{
	if (code >= 200 && code < 300)
		return DELIVER_OK;
	return code >= 500 && code < 600 ? DELIVER_PERMFAIL : DELIVER_TEMPFAIL;
}

/* rcpts_pending - give every pending recipient the same outcome */
static void
rcpts_pending(struct smtp_rcpt *rcpts, size_t n, int status, const char *dsn,
    const char *text)
{
	for (size_t i = 0; i < n; i++)
		if (rcpts[i].status == -1)
			rcpt_set(&rcpts[i], status, dsn, text);
}

/* said - "host X said: REPLY (in reply to WHAT)" for a refusal */
static void
said(const struct smtp_conn *c, const struct smtp_reply *r, const char *what,
    char *buf, size_t bufsize)
{
	if (r->code == 0)
		strlcpy(buf, r->text, bufsize);
	else
		textf(buf, bufsize, "host %s said: %s (in reply to %s)",
		    c->relay, r->text, what);
}

/*
 * body_send - the message with dot-stuffing and the final "." line.
 *
 * Why one deadline for the body that moves with progress, and not a
 * timeout per write (Postfix's smtp_data_xfer_timeout) or a deadline per
 * chunk: a timeout per write is reset by every octet the server takes,
 * and a deadline per chunk by every chunk, so a server that takes a few
 * hundred octets a minute would keep a connection process for days on a
 * large message.  A deadline for the whole body fixed in advance would
 * have to allow for the largest message at the slowest honest rate, and
 * would let a server stall that long at the start.  So the body starts
 * with smtp_data_xfer_timeout, and each chunk the server takes moves the
 * deadline later by what that chunk is worth at SMTP_BODY_RATE_MIN, but
 * never further than smtp_data_xfer_timeout from now: a stall of
 * smtp_data_xfer_timeout ends the transfer as it always did, and so does
 * a server that keeps taking octets more slowly than SMTP_BODY_RATE_MIN
 * on average.  (Postfix 3.7 has the same idea as smtp_min_data_rate.)
 */
static int
body_send(struct smtp_conn *c, const struct smtp_msg *m)
{
	unsigned char in[SMTP_BODY_CHUNK], out[2 * SMTP_BODY_CHUNK + 8];
	static const char dot[] = ".\r\n";
	uint64_t pos = 0, left = smtp_msg_length(m);	/* exactly: more
							   may follow it */
	int bol = 1;
	long long tmo = step_deadline(c->set->smtp_data_xfer_timeout), cap;
	unsigned char last = '\n';
	ssize_t n;
	size_t o;

	while (left > 0) {
		n = smtp_msg_read(m, in, left < sizeof(in) ? (size_t)left :
		    sizeof(in), pos);
		if (n == 0)
			errno = EIO;	/* the file ends before the message */
		if (n <= 0)
			return -2;
		pos += (uint64_t)n;
		left -= (uint64_t)n;
		last = in[n - 1];
		o = smtp_dot_stuff(in, (size_t)n, out, &bol);
		if (left == 0) {
			/* The end of data goes with the last chunk, not as a
			 * small write of its own (see cmd_flush).  A body that
			 * does not end in a line end gets one (RFC 5321
			 * 4.1.1.4). */
			if (last != '\n') {
				memcpy(out + o, "\r\n", 2);
				o += 2;
			}
			memcpy(out + o, dot, 3);
			o += 3;
		}
		if (conn_write(c, out, o, tmo) != 0)
			return -1;
		tmo += (long long)o * 1000 / SMTP_BODY_RATE_MIN;
		cap = step_deadline(c->set->smtp_data_xfer_timeout);
		if (tmo > cap)
			tmo = cap;
	}
	return smtp_msg_length(m) > 0 ? 0 : conn_write(c, dot, 3, tmo);
}

/* smtp_dot_stuff - double a leading '.' on every line; a line at a time
 * (memchr and memcpy), not an octet at a time */
size_t
smtp_dot_stuff(const unsigned char *in, size_t len, unsigned char *out,
    int *bol)
{
	size_t o = 0, i = 0;

	while (i < len) {
		const unsigned char *nl = memchr(in + i, '\n', len - i);
		size_t run = nl != NULL ? (size_t)(nl - in) + 1 - i : len - i;

		if (*bol && in[i] == '.')
			out[o++] = '.';
		memcpy(out + o, in + i, run);
		o += run;
		i += run;
		*bol = nl != NULL;
	}
	return o;
}

/* body_last_octet - the message's last octet ('\n' for an empty one);
 * -1 when it cannot be read */
static int
body_last_octet(const struct smtp_msg *m)
{
	unsigned char last = '\n';
	uint64_t len = smtp_msg_length(m);
	ssize_t n;

	if (len == 0)
		return last;
	n = smtp_msg_read(m, &last, 1, len - 1);
	if (n != 1) {
		if (n == 0)
			errno = EIO;
		return -1;
	}
	return last;
}

/*
 * bdat_send - the message as BDAT chunks (RFC 3030) of at most
 * SMTP_BDAT_CHUNK octets, exactly as the file holds it (no dot-stuffing;
 * a missing final CRLF added, as body_send does), the last with LAST.
 * Each chunk's command goes in the same write as its first octets.  The
 * reply to every chunk but the last is read before the next is sent;
 * the last one's is the caller's to read.  The deadline moves with
 * progress as in body_send.  0; 1 when a chunk was refused (r holds the
 * reply); -1 when the connection failed; -2 when the file could not be
 * read.
 */
static int
bdat_send(struct smtp_conn *c, const struct smtp_msg *m, struct smtp_reply *r)
{
	unsigned char buf[64 + SMTP_BODY_CHUNK];
	uint64_t pos = 0, left = smtp_msg_length(m), total;
	long long tmo = step_deadline(c->set->smtp_data_xfer_timeout), cap;
	int last = body_last_octet(m);
	size_t crlf;			/* octets of the added CRLF to send */

	if (last < 0)
		return -2;
	crlf = last == '\n' ? 0 : 2;
	total = left + crlf;
	do {
		uint64_t chunk = total < SMTP_BDAT_CHUNK ? total :
		    SMTP_BDAT_CHUNK;
		int o = snprintf((char *)buf, 64, "BDAT %llu%s\r\n",
		    (unsigned long long)chunk, chunk == total ? " LAST" : "");

		total -= chunk;
		while (o > 0 || chunk > 0) {
			size_t want = chunk < SMTP_BODY_CHUNK ? (size_t)chunk :
			    SMTP_BODY_CHUNK;
			ssize_t n = 0;

			if (want > 0 && left == 0) {	/* the added CRLF */
				n = (ssize_t)(want < crlf ? want : crlf);
				memcpy(buf + o, &"\r\n"[2 - crlf], (size_t)n);
				crlf -= (size_t)n;
			} else if (want > 0) {
				n = smtp_msg_read(m, buf + o, left < want ?
				    (size_t)left : want, pos);
				if (n == 0)
					errno = EIO;
				if (n <= 0)
					return -2;
				pos += (uint64_t)n;
				left -= (uint64_t)n;
			}
			chunk -= (uint64_t)n;
			if (conn_write(c, buf, (size_t)o + (size_t)n, tmo) != 0)
				return -1;
			tmo += ((long long)o + n) * 1000 / SMTP_BODY_RATE_MIN;
			cap = step_deadline(c->set->smtp_data_xfer_timeout);
			if (tmo > cap)
				tmo = cap;
			o = 0;
		}
		if (total > 0) {
			if (reply_read(c, r, c->set->smtp_data_xfer_timeout,
			    "sending BDAT") != 0)
				return -1;
			if (r->code / 100 != 2)
				return 1;
		}
	} while (total > 0);
	return 0;
}

/* refuse_all - every pending recipient gets r (what failed); -1 */
static int
refuse_all(struct smtp_conn *c, struct smtp_rcpt *rcpts, size_t n,
    const struct smtp_reply *r, const char *what)
{
	char text[SMTP_TEXT_MAX];

	said(c, r, what, text, sizeof(text));
	rcpts_pending(rcpts, n, status_of(r->code), r->dsn, text);
	return -1;
}

/* end_reply_text - what a recipient's result says of the reply to the
 * final dot: the reply itself when it is a success */
static void
end_reply_text(const struct smtp_conn *c, const struct smtp_reply *r,
    char *text, size_t textsize)
{
	if (r->code / 100 == 2)
		strlcpy(text, r->text, textsize);
	else
		said(c, r, "end of DATA command", text, textsize);
}

/*
 * lmtp_replies - RFC 2033 4.2: after the final dot, one reply for each
 * recipient accepted at RCPT, in RCPT order, each read within its own
 * smtp_data_done_timeout (the server may write to each mailbox before it
 * answers for it).  A reply that does not come defers that recipient and
 * those still waiting: the server may have delivered to them, so they
 * may get the message twice, but never lose it.  0, or -1 when the
 * connection must be closed.
 */
static int
lmtp_replies(struct smtp_conn *c, struct smtp_rcpt *rcpts, size_t n,
    const int *accepted, struct smtp_reply *r)
{
	char text[SMTP_TEXT_MAX];

	for (size_t i = 0; i < n; i++) {
		if (!accepted[i])
			continue;
		if (reply_read(c, r, c->set->smtp_data_done_timeout,
		    "sending end of data -- message may be sent more than "
		    "once") != 0)
			return refuse_all(c, rcpts, n, r, "end of DATA command");
		end_reply_text(c, r, text, sizeof(text));
		rcpt_set(&rcpts[i], status_of(r->code), r->dsn, text);
	}
	return 0;
}

/* data_end - the reply to the end of the message, for accepted rcpts */
static int
data_end(struct smtp_conn *c, struct smtp_rcpt *rcpts, size_t n,
    const int *accepted, struct smtp_reply *r, const char *what)
{
	char text[SMTP_TEXT_MAX];

	if (reply_read(c, r, c->set->smtp_data_done_timeout,
	    "sending end of data -- message may be sent more than once") != 0)
		return refuse_all(c, rcpts, n, r, what);
	if (r->code / 100 == 2)
		strlcpy(text, r->text, sizeof(text));
	else
		said(c, r, what, text, sizeof(text));
	for (size_t i = 0; i < n; i++)
		if (accepted[i])
			rcpt_set(&rcpts[i], status_of(r->code), r->dsn, text);
	return 0;
}

/* body_failed - the message could not be sent whole (rc from body_send
 * or bdat_send): the connection is dropped, the recipients deferred */
static int
body_failed(struct smtp_conn *c, struct smtp_rcpt *rcpts, size_t n, int rc,
    struct smtp_reply *r, const char *what)
{
	/* Mid-body the server takes whatever we send for message text:
	 * only closing tells it to drop what it has. */
	c->broken = 1;
	if (rc == -2)
		local_reply(r, "4.3.0", "cannot read the queue file: %s",
		    strerror(errno));
	else
		local_reply(r, "4.4.2", "%s with %s while sending message body",
		    io_error_text(), c->relay);
	return refuse_all(c, rcpts, n, r, what);
}

/*
 * bdat_phase - the message in BDAT chunks, then the final reply.  A
 * refused chunk leaves the transaction in a state RFC 3030 2 calls
 * indeterminate: the recipients get the refusal and the connection is
 * not used again.
 */
static int
bdat_phase(struct smtp_conn *c, const struct smtp_msg *m,
    struct smtp_rcpt *rcpts, size_t n, const int *accepted,
    struct smtp_reply *r)
{
	int rc = bdat_send(c, m, r);

	if (rc < 0)
		return body_failed(c, rcpts, n, rc, r, "end of BDAT command");
	if (rc == 1) {
		c->broken = 1;
		return refuse_all(c, rcpts, n, r, "BDAT command");
	}
	if (c->lmtp)	/* RFC 2033 4.2, after BDAT LAST as after the dot */
		return lmtp_replies(c, rcpts, n, accepted, r);
	return data_end(c, rcpts, n, accepted, r, "end of BDAT command");
}

/* data_phase - DATA, the body, and the final reply for accepted rcpts */
static int
data_phase(struct smtp_conn *c, const struct smtp_msg *m,
    struct smtp_rcpt *rcpts, size_t n, int *accepted, struct smtp_reply *r,
    int data_sent)
{
	int rc;

	if (c->ext & EXT_CHUNKING)
		return bdat_phase(c, m, rcpts, n, accepted, r);
	if (!data_sent && command(c, "DATA", c->set->smtp_data_init_timeout,
	    r, "sending DATA") != 0)
		return refuse_all(c, rcpts, n, r, "DATA command");
	if (data_sent && reply_read(c, r, c->set->smtp_data_init_timeout,
	    "sending DATA") != 0)
		return refuse_all(c, rcpts, n, r, "DATA command");
	if (r->code != 354)
		return refuse_all(c, rcpts, n, r, "DATA command") + 1;
	if ((rc = body_send(c, m)) != 0)
		return body_failed(c, rcpts, n, rc, r, "end of DATA command");
	if (c->lmtp)
		return lmtp_replies(c, rcpts, n, accepted, r);
	return data_end(c, rcpts, n, accepted, r, "end of DATA command");
}

/* send_envelope's answer for a reused connection found stale */
#define ENVELOPE_STALE	(-2)

/* conn_stale - a reused connection's RSET got r (not 250), or nothing:
 * logged; the connection is to be closed without QUIT; ENVELOPE_STALE */
static int
conn_stale(struct smtp_conn *c, const struct smtp_reply *r)
{
	char vis[SMTP_TEXT_MAX];

	log_vis(vis, sizeof(vis), r->text, strlen(r->text));
	log_info("%s: kept connection not usable: %s", c->relay, vis);
	c->broken = 1;
	return ENVELOPE_STALE;
}

/*
 * rset_first - on a reused connection, RSET ahead of the transaction:
 * queued to go with the envelope when the server pipelines (the reply is
 * read by rset_reply), else sent and answered now.  0, or
 * ENVELOPE_STALE.
 */
static int
rset_first(struct smtp_conn *c, int pipe, struct smtp_reply *r)
{
	long t = c->set->smtp_quit_timeout;

	if (!c->used)
		return 0;
	if (pipe)
		return cmd_queue(c, "RSET", t, r, "sending RSET") == 0 ? 0 :
		    conn_stale(c, r);
	if (command(c, "RSET", t, r, "sending RSET") != 0 || r->code != 250)
		return conn_stale(c, r);
	return 0;
}

/* rset_reply - the reply to a pipelined RSET: 0 on 250, else
 * ENVELOPE_STALE (the replies after it are left unread: the connection
 * is closed without QUIT) */
static int
rset_reply(struct smtp_conn *c, struct smtp_reply *r)
{
	if (reply_read(c, r, c->set->smtp_quit_timeout, "sending RSET") != 0 ||
	    r->code != 250)
		return conn_stale(c, r);
	return 0;
}

/*
 * send_envelope - MAIL and every RCPT (and DATA, when pipelining and
 * worth it) in one write when the server pipelines, else one by one,
 * after RSET on a reused connection (rset_first); then the replies in
 * order.  Returns 1 when DATA was sent, 0 when not, -1 when the
 * connection broke, ENVELOPE_STALE (no rcpt touched) when a reused
 * connection turned out stale: its RSET was not answered 250, or a write
 * before that reply failed (as one to a connection the server has
 * closed does).
 */
static int
send_envelope(struct smtp_conn *c, const struct smtp_msg *m,
    struct smtp_rcpt *rcpts, size_t n, int *accepted, size_t *naccepted,
    struct smtp_reply *r)
{
	char line[SMTP_CMD_MAX], text[SMTP_TEXT_MAX];
	int pipe = (c->ext & EXT_PIPELINING) != 0, mail_ok;
	int bdat = (c->ext & EXT_CHUNKING) != 0, reused = c->used;
	size_t i;

	if (rset_first(c, pipe, r) != 0)
		return ENVELOPE_STALE;
	mail_line(c, m, line, sizeof(line));
	if ((pipe ? cmd_queue : cmd_send)(c, line, c->set->smtp_mail_timeout,
	    r, "sending MAIL FROM") != 0)
		return reused && pipe ? conn_stale(c, r) :
		    refuse_all(c, rcpts, n, r, "MAIL FROM command");
	if (pipe) {
		/* RFC 2920: MAIL, RCPTs and DATA go in one group, written
		 * together (cmd_flush). */
		for (i = 0; i < n; i++) {
			rcpt_line(c, &rcpts[i], line, sizeof(line));
			if (cmd_queue(c, line, c->set->smtp_rcpt_timeout, r,
			    "sending RCPT TO") != 0)
				return reused ? conn_stale(c, r) :
				    refuse_all(c, rcpts, n, r,
				    "RCPT TO command");
		}
		/* With CHUNKING the chunks follow the replies instead. */
		if (bdat && cmd_flush(c, c->set->smtp_rcpt_timeout, r,
		    "sending RCPT TO") != 0)
			return reused ? conn_stale(c, r) :
			    refuse_all(c, rcpts, n, r, "RCPT TO command");
		if (!bdat && cmd_send(c, "DATA", c->set->smtp_data_init_timeout,
		    r, "sending DATA") != 0)
			return reused ? conn_stale(c, r) :
			    refuse_all(c, rcpts, n, r, "DATA command");
		if (reused && rset_reply(c, r) != 0)
			return ENVELOPE_STALE;
	}
	if (reply_read(c, r, c->set->smtp_mail_timeout,
	    "sending MAIL FROM") != 0)
		return refuse_all(c, rcpts, n, r, "MAIL FROM command");
	mail_ok = r->code / 100 == 2;
	if (!mail_ok)
		refuse_all(c, rcpts, n, r, "MAIL FROM command");
	if (!mail_ok && !pipe)
		return 0;
	for (i = 0; i < n; i++) {
		if (!pipe) {
			rcpt_line(c, &rcpts[i], line, sizeof(line));
			if (cmd_send(c, line, c->set->smtp_rcpt_timeout, r,
			    "sending RCPT TO") != 0)
				return refuse_all(c, rcpts, n, r,
				    "RCPT TO command");
		}
		if (reply_read(c, r, c->set->smtp_rcpt_timeout,
		    "sending RCPT TO") != 0)
			return refuse_all(c, rcpts, n, r, "RCPT TO command");
		if (!mail_ok)
			continue;
		if (r->code / 100 == 2) {
			accepted[i] = 1;
			(*naccepted)++;
		} else {
			said(c, r, "RCPT TO command", text, sizeof(text));
			rcpt_set(&rcpts[i], status_of(r->code), r->dsn, text);
		}
	}
	return pipe && !bdat;
}

/* smtp_conn_deliver - one transaction; per-recipient results */
int
smtp_conn_deliver(struct smtp_conn *c, const struct smtp_msg *m,
    struct smtp_rcpt *rcpts, size_t n)
{
	struct smtp_reply r;
	char text[SMTP_TEXT_MAX];
	int *accepted, sent, rc = 0;
	size_t naccepted = 0;

	for (size_t i = 0; i < n; i++)
		rcpts[i].status = -1;
	if ((c->ext & EXT_SIZE) && c->size_max > 0 &&
	    smtp_msg_length(m) > c->size_max) {
		snprintf(text, sizeof(text), "message size %llu exceeds size "
		    "limit %llu of server %s",
		    (unsigned long long)smtp_msg_length(m),
		    (unsigned long long)c->size_max, c->relay);
		rcpts_pending(rcpts, n, DELIVER_PERMFAIL, "5.3.4", text);
		return 0;
	}
	/* The connection step chose a qualifying host (transport_smtp.c);
	 * should a connection reach here otherwise, the message waits. */
	if (m->requiretls && m->sender[0] != '\0' && !c->lmtp &&
	    (!(c->ext & EXT_REQUIRETLS) ||
	    smtp_conn_tls_authenticated(c) == NULL)) {
		snprintf(text, sizeof(text), "host %s does not qualify for "
		    "REQUIRETLS, which this message needs", c->relay);
		rcpts_pending(rcpts, n, DELIVER_TEMPFAIL, "4.7.10", text);
		return 0;
	}
	if (m->smtputf8 && !(c->ext & EXT_SMTPUTF8)) {
		snprintf(text, sizeof(text), "host %s does not support "
		    "SMTPUTF8, which this message needs", c->relay);
		rcpts_pending(rcpts, n, DELIVER_PERMFAIL, "5.6.7", text);
		return 0;
	}
	accepted = calloc(n, sizeof(*accepted));
	if (accepted == NULL)
		fatal("calloc");
	sent = send_envelope(c, m, rcpts, n, accepted, &naccepted, &r);
	if (sent == ENVELOPE_STALE) {
		free(accepted);
		return SMTP_CONN_STALE;
	}
	if (sent < 0)
		rc = -1;
	else if (naccepted == 0) {
		/* A pipelined DATA must be answered (and refused) first.
		 * What is left of the transaction, the next one's RSET (or
		 * QUIT) ends. */
		if (sent && reply_read(c, &r, c->set->smtp_data_init_timeout,
		    "sending DATA") != 0)
			rc = -1;
		else if (r.code == 354) {
			/* A broken server: end the data with nothing in it. */
			rc = -1;
		}
	} else
		rc = data_phase(c, m, rcpts, n, accepted, &r, sent);
	rcpts_pending(rcpts, n, DELIVER_TEMPFAIL, "4.4.2",
	    "lost connection during the transaction");
	free(accepted);
	c->used = 1;
	return rc;
}

/* smtp_conn_tls_authenticated - what authenticated the TLS peer, or NULL */
const char *
smtp_conn_tls_authenticated(const struct smtp_conn *c)
{
	if (c->ssl == NULL || !c->tls_verified)
		return NULL;
	return c->tls_auth_by != NULL ? c->tls_auth_by : "verify";
}

/* smtp_conn_close - QUIT (best effort, short wait) and close */
void
smtp_conn_close(struct smtp_conn *c, int quit)
{
	struct smtp_reply r;
	long t;

	if (c->fd == -1)
		return;
	t = c->set->smtp_quit_timeout;
	/* After a timeout the server is mid-reply, or gone: a QUIT would
	 * only wait again for a reply that cannot be told from the rest of
	 * the old one. */
	if (quit && !c->broken) {
		/* Nobody waits long for a goodbye. */
		if (t > 10)
			t = 10;
		if (command(c, "QUIT", t, &r, "sending QUIT") != 0)
			log_debug("%s: no reply to QUIT", c->relay);
	}
	tls_client_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	c->fd = -1;
}
