/*
 * sendmail_smtp - "sendmail -bs": an SMTP session on standard input and
 * output, for local programs that prefer to speak SMTP to sendmail.
 *
 * A small server of its own (RFC 5321 HELO/EHLO, MAIL, RCPT, DATA,
 * RSET, NOOP, VRFY, HELP, QUIT with PIPELINING, SIZE, 8BITMIME, DSN and
 * ENHANCEDSTATUSCODES), not smtpd's session code: the peer is a local
 * user, the message goes into the maildrop like any other local
 * submission (sendmail_message), one tern-postdrop run per message, and
 * 250 is said only after tern-postdrop has the message durably.  The
 * limits are smtpd's own settings and line lengths (smtp_proto.h), the
 * replies are smtpd's wording, and each wait for a command, or for the
 * whole DATA, is a deadline (deadline.h), never a timeout restarted by
 * each octet.  Lines may end in LF alone: the peer is a local program,
 * and every line is stored with CRLF whatever it ended in.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#include "deadline.h"
#include "dsn_param.h"
#include "qid.h"
#include "sendmail.h"
#include "sendmail_addr.h"
#include "sendmail_msg.h"
#include "smtp_proto.h"
#include "xmalloc.h"

#define SMTP_IN_BUF	16384

/* Standard input, read in blocks, handed out in lines. */
struct smtp_in {
	char	buf[SMTP_IN_BUF];
	size_t	len;
	size_t	pos;
	int	eof;
};

struct smtp_sess {
	struct sendmail_ctx	*c;
	struct smtp_in		 in;
	long long		 session_end;	/* smtpd_session_time_limit */
	int			 helo;		/* HELO or EHLO seen */
	int			 in_mail;	/* MAIL accepted */
	struct envelope		 env;
	long			 errors;
	int			 quit;
};

enum { IN_LINE = 0, IN_EOF = -1, IN_TIMEOUT = -2 };

/* in_fill - more input before the deadline; IN_LINE, IN_EOF, IN_TIMEOUT */
static int
in_fill(struct smtp_in *in, long long deadline)
{
	ssize_t n;

	if (in->pos > 0) {
		memmove(in->buf, in->buf + in->pos, in->len - in->pos);
		in->len -= in->pos;
		in->pos = 0;
	}
	for (;;) {
		int r = deadline_poll(STDIN_FILENO, POLLIN, deadline);

		if (r == 0)
			return IN_TIMEOUT;
		if (r < 0)
			return IN_EOF;
		n = read(STDIN_FILENO, in->buf + in->len,
		    sizeof(in->buf) - in->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return IN_EOF;
		in->len += (size_t)n;
		return IN_LINE;
	}
}

/*
 * in_getline - the next line without its LF or CRLF: at most max octets
 * kept in line (NUL-terminated), *len its kept length, *overlong set
 * when more were dropped.  IN_LINE, IN_EOF (an unfinished last line is
 * dropped) or IN_TIMEOUT.
 */
static int
in_getline(struct smtp_in *in, char *line, size_t max, size_t *len,
    int *overlong, long long deadline)
{
	size_t kept = 0;
	int r;

	*overlong = 0;
	for (;;) {
		char *p = in->buf + in->pos;
		size_t avail = in->len - in->pos;
		char *nl = memchr(p, '\n', avail);
		size_t take = nl != NULL ? (size_t)(nl - p) : avail;

		/* A CR held back at the end of a block may be a CRLF's. */
		if (nl == NULL && take > 0 && p[take - 1] == '\r')
			take--;
		if (kept + take > max) {
			*overlong = 1;
			if (kept < max)
				memcpy(line + kept, p, max - kept);
			kept = max;
		} else {
			memcpy(line + kept, p, take);
			kept += take;
		}
		in->pos += take;
		if (nl != NULL) {
			in->pos++;
			if (!*overlong && kept > 0 && line[kept - 1] == '\r')
				kept--;
			line[kept] = '\0';
			*len = kept;
			return IN_LINE;
		}
		if ((r = in_fill(in, deadline)) != IN_LINE)
			return r;
	}
}

/* sess_reply - one reply line; a failed write ends the session */
static void __attribute__((format(printf, 2, 3)))
sess_reply(struct smtp_sess *s, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	size_t off = 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 3)
		n = (int)sizeof(buf) - 3;
	if (buf[0] == '4' || buf[0] == '5')
		s->errors++;
	memcpy(buf + n, "\r\n", 2);
	n += 2;
	while (off < (size_t)n) {
		ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			s->quit = 1;
			return;
		}
		off += (size_t)w;
	}
}

/* sess_reset - forget the transaction */
static void
sess_reset(struct smtp_sess *s)
{
	envelope_free(&s->env);
	memset(&s->env, 0, sizeof(s->env));
	s->in_mail = 0;
}

/* sess_deadline - the deadline of a wait of secs seconds */
static long long
sess_deadline(const struct smtp_sess *s, long secs)
{
	long long d = deadline_in((long long)secs * 1000);

	return d < s->session_end ? d : s->session_end;
}

/*
 * path_token - the path at the start of p (after "FROM:"/"TO:" and
 * blanks): "<...>" with quoted strings kept whole, or a bare word.  Its
 * length, and in *rest what follows.
 */
static size_t
path_token(const char *p, const char **rest)
{
	size_t i = 0;
	int quoted = 0;

	if (*p == '<') {
		for (i = 1; p[i] != '\0'; i++) {
			if (quoted && p[i] == '\\' && p[i + 1] != '\0')
				i++;
			else if (p[i] == '"')
				quoted = !quoted;
			else if (!quoted && p[i] == '>') {
				i++;
				break;
			}
		}
	} else
		i = strcspn(p, " ");
	*rest = p + i;
	return i;
}

/* arg_after - the text after "KEY:" (case-insensitive) and blanks */
static const char *
arg_after(const char *arg, const char *key)
{
	size_t n = strlen(key);

	arg += strspn(arg, " ");
	if (strncasecmp(arg, key, n) != 0)
		return NULL;
	arg += n;
	return arg + strspn(arg, " ");
}

/* mail_param - one MAIL parameter; NULL when fine, else the reply */
static const char *
mail_param(struct smtp_sess *s, char *kv)
{
	char *v = strchr(kv, '=');
	char envid[DSN_ENVID_MAX + 1];

	if (v != NULL)
		*v++ = '\0';
	if (strcasecmp(kv, "SIZE") == 0 && v != NULL &&
	    strspn(v, "0123456789") == strlen(v) && *v != '\0') {
		if (strlen(v) > 19 || strtoull(v, NULL, 10) >
		    s->c->set.message_size_limit)
			return "552 5.3.4 Message size exceeds fixed limit";
	} else if (strcasecmp(kv, "BODY") == 0 && v != NULL &&
	    (strcasecmp(v, "7BIT") == 0 || strcasecmp(v, "8BITMIME") == 0))
		s->env.body = strcasecmp(v, "8BITMIME") == 0 ? BODY_8BITMIME :
		    BODY_7BIT;
	else if (strcasecmp(kv, "RET") == 0 && v != NULL &&
	    (strcasecmp(v, "FULL") == 0 || strcasecmp(v, "HDRS") == 0))
		s->env.ret = strcasecmp(v, "FULL") == 0 ? DSN_RET_FULL :
		    DSN_RET_HDRS;
	else if (strcasecmp(kv, "ENVID") == 0 && v != NULL) {
		if (xtext_decode(v, strlen(v), envid, sizeof(envid)) < 0 ||
		    !dsn_envid_valid(envid))
			return "501 5.5.4 Bad ENVID parameter";
		free(s->env.envid);
		s->env.envid = xstrdup(envid);
	} else
		return "555 5.5.4 Unsupported option";
	return NULL;
}

/* cmd_mail - MAIL FROM:<path> [parameters] */
static void
cmd_mail(struct smtp_sess *s, const char *arg)
{
	const char *p = arg_after(arg, "FROM:"), *rest, *why, *bad;
	char params[SMTP_MAIL_LINE_MAX], *save = NULL, *kv;
	size_t n;

	if (!s->helo) {
		sess_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->in_mail) {
		sess_reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (p == NULL || (n = path_token(p, &rest)) == 0) {
		sess_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	sess_reset(s);
	if (!(n == 2 && strncmp(p, "<>", 2) == 0) &&
	    sendmail_addr_canon(p, n, s->c->origin, s->env.sender,
	    sizeof(s->env.sender), &why) < 0) {
		sess_reply(s, "501 5.1.7 Bad sender address syntax");
		return;
	}
	strlcpy(params, rest, sizeof(params));
	for (kv = strtok_r(params, " ", &save); kv != NULL;
	    kv = strtok_r(NULL, " ", &save))
		if ((bad = mail_param(s, kv)) != NULL) {
			sess_reset(s);
			sess_reply(s, "%s", bad);
			return;
		}
	s->in_mail = 1;
	sess_reply(s, "250 2.1.0 Ok");
}

/* rcpt_params - NOTIFY and ORCPT; 0, or -1 after a reply */
static int
rcpt_params(struct smtp_sess *s, char *params, uint32_t *notify,
    char **orcpt)
{
	char *save = NULL, *kv, *v, *w, *save2 = NULL;

	for (kv = strtok_r(params, " ", &save); kv != NULL;
	    kv = strtok_r(NULL, " ", &save)) {
		if ((v = strchr(kv, '=')) != NULL)
			*v++ = '\0';
		if (v != NULL && strcasecmp(kv, "ORCPT") == 0 &&
		    dsn_orcpt_valid(v, strlen(v)) && *orcpt == NULL) {
			*orcpt = v;
			continue;
		}
		if (v == NULL || strcasecmp(kv, "NOTIFY") != 0 || *notify) {
			sess_reply(s, "555 5.5.4 Unsupported option");
			return -1;
		}
		for (w = strtok_r(v, ",", &save2); w != NULL;
		    w = strtok_r(NULL, ",", &save2))
			*notify |= strcasecmp(w, "NEVER") == 0 ? NOTIFY_NEVER :
			    strcasecmp(w, "SUCCESS") == 0 ? NOTIFY_SUCCESS :
			    strcasecmp(w, "FAILURE") == 0 ? NOTIFY_FAILURE :
			    strcasecmp(w, "DELAY") == 0 ? NOTIFY_DELAY :
			    0x80000000u;
		if (*notify == 0 || (*notify & 0x80000000u) ||
		    ((*notify & NOTIFY_NEVER) && *notify != NOTIFY_NEVER)) {
			sess_reply(s, "501 5.5.4 Bad NOTIFY parameter");
			return -1;
		}
	}
	return 0;
}

/* cmd_rcpt - RCPT TO:<path> [NOTIFY=...] [ORCPT=...] */
static void
cmd_rcpt(struct smtp_sess *s, const char *arg)
{
	const char *p = arg_after(arg, "TO:"), *rest, *why;
	char params[SMTP_RCPT_LINE_MAX], canon[ADDR_TEXT_MAX], *orcpt = NULL;
	uint32_t notify = 0;
	size_t n;

	if (!s->in_mail) {
		sess_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (p == NULL || (n = path_token(p, &rest)) == 0) {
		sess_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (sendmail_addr_canon(p, n, s->c->origin, canon, sizeof(canon),
	    &why) < 0) {
		sess_reply(s, "501 5.1.3 Bad recipient address syntax");
		return;
	}
	strlcpy(params, rest, sizeof(params));
	if (rcpt_params(s, params, &notify, &orcpt) < 0)
		return;
	if (sendmail_env_add_rcpt(s->c, &s->env, canon, notify, orcpt) < 0) {
		sess_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	sess_reply(s, "250 2.1.5 Ok");
}

/*
 * data_read - the message text up to the "." line, dot-unstuffed, with
 * LF line ends, into b (stops storing, keeps reading, past the limit).
 * IN_LINE when the "." came, else IN_EOF or IN_TIMEOUT.
 */
static int
data_read(struct smtp_sess *s, struct sendmail_buf *b, int *too_big,
    int *too_long)
{
	char line[SMTP_TEXT_LINE_MAX + 1];
	long long deadline = sess_deadline(s, s->c->set.smtpd_data_timeout);
	uint64_t size = 0;
	size_t len;
	int overlong, r;

	*too_big = *too_long = 0;
	for (;;) {
		r = in_getline(&s->in, line, SMTP_TEXT_LINE_MAX - 2, &len,
		    &overlong, deadline);
		if (r != IN_LINE)
			return r;
		if (!overlong && len == 1 && line[0] == '.')
			return IN_LINE;
		*too_long |= overlong;
		size += len + 2;
		if (size > s->c->set.message_size_limit)
			*too_big = 1;
		if (*too_big || *too_long)
			continue;
		sendmail_buf_put(b, line[0] == '.' ? line + 1 : line,
		    line[0] == '.' ? len - 1 : len);
		sendmail_buf_put(b, "\n", 1);
	}
}

/* cmd_data - DATA: the message, then one submission */
static void
cmd_data(struct smtp_sess *s)
{
	struct sendmail_buf b = { NULL, 0, 0 };
	char id[QID_MAX + 8], err[1024];
	int too_big, too_long, r, status;

	if (!s->in_mail) {
		sess_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->env.nrcpt == 0) {
		sess_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	sess_reply(s, "354 End data with <CR><LF>.<CR><LF>");
	if ((r = data_read(s, &b, &too_big, &too_long)) != IN_LINE) {
		if (r == IN_TIMEOUT)
			sess_reply(s, "421 4.4.2 %s Error: timeout exceeded",
			    s->c->set.myhostname);
		s->quit = 1;
	} else if (too_big)
		sess_reply(s, "552 5.3.4 Message size exceeds fixed limit");
	else if (too_long)
		sess_reply(s, "500 5.5.2 Error: line too long (limit %d "
		    "octets)", SMTP_TEXT_LINE_MAX);
	else {
		status = sendmail_message(s->c, &s->env, b.p != NULL ? b.p : "",
		    b.len, 0, 0, id, sizeof(id), err, sizeof(err));
		if (status == 0)
			sess_reply(s, "250 2.0.0 Ok: queued as %s", id);
		else if (status == EX_DATAERR && err[0] != '\0')
			sess_reply(s, "554 5.6.0 Error: %s", err);
		else
			sess_reply(s, "451 4.3.0 Error: queue file write "
			    "error");
	}
	sendmail_buf_free(&b);
	sess_reset(s);
}

/* cmd_ehlo - HELO or EHLO: the greeting and, for EHLO, the extensions */
static void
cmd_ehlo(struct smtp_sess *s, int ehlo, const char *arg)
{
	arg += strspn(arg, " ");
	if (*arg == '\0') {
		sess_reply(s, "501 5.5.4 Syntax: %s hostname", ehlo ? "EHLO" :
		    "HELO");
		return;
	}
	sess_reset(s);
	s->helo = 1;
	if (!ehlo) {
		sess_reply(s, "250 %s", s->c->set.myhostname);
		return;
	}
	sess_reply(s, "250-%s", s->c->set.myhostname);
	sess_reply(s, "250-PIPELINING");
	sess_reply(s, "250-SIZE %llu",
	    (unsigned long long)s->c->set.message_size_limit);
	sess_reply(s, "250-8BITMIME");
	sess_reply(s, "250-DSN");
	sess_reply(s, "250 ENHANCEDSTATUSCODES");
}

/* sess_command - one command line */
static void
sess_command(struct smtp_sess *s, const char *line, size_t len)
{
	size_t vlen = strcspn(line, " ");
	const char *arg = line + vlen;

#define VERB(v)	(vlen == strlen(v) && strncasecmp(line, v, vlen) == 0)
	if ((VERB("MAIL") && len + 2 > SMTP_MAIL_LINE_MAX) ||
	    (VERB("RCPT") && len + 2 > SMTP_RCPT_LINE_MAX) ||
	    (!VERB("MAIL") && !VERB("RCPT") && len + 2 > SMTP_LINE_MAX))
		sess_reply(s, "500 5.5.2 Error: line too long");
	else if (VERB("EHLO") || VERB("HELO"))
		cmd_ehlo(s, VERB("EHLO"), arg);
	else if (VERB("MAIL"))
		cmd_mail(s, arg);
	else if (VERB("RCPT"))
		cmd_rcpt(s, arg);
	else if (VERB("DATA"))
		cmd_data(s);
	else if (VERB("RSET")) {
		sess_reset(s);
		sess_reply(s, "250 2.0.0 Ok");
	} else if (VERB("NOOP"))
		sess_reply(s, "250 2.0.0 Ok");
	else if (VERB("VRFY"))
		sess_reply(s, "252 2.0.0 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
	else if (VERB("EXPN"))
		sess_reply(s, "502 5.5.1 Error: EXPN not available");
	else if (VERB("HELP"))
		sess_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA "
		    "RSET NOOP QUIT VRFY");
	else if (VERB("QUIT")) {
		sess_reply(s, "221 2.0.0 Bye");
		s->quit = 1;
	} else if (VERB("STARTTLS") || VERB("AUTH") || VERB("BDAT"))
		sess_reply(s, "502 5.5.1 Error: command not implemented");
	else
		sess_reply(s, "500 5.5.2 Error: command not recognized");
#undef VERB
}

/* sendmail_smtp - the session, until QUIT, end of input or a limit */
int
sendmail_smtp(struct sendmail_ctx *c)
{
	struct smtp_sess s;
	char line[SMTP_MAIL_LINE_MAX + 1];
	size_t len;
	int overlong, r;

	memset(&s, 0, sizeof(s));
	s.c = c;
	s.session_end = deadline_in((long long)
	    c->set.smtpd_session_time_limit * 1000);
	sess_reply(&s, "220 %s", c->set.smtpd_banner);
	while (!s.quit) {
		r = in_getline(&s.in, line, sizeof(line) - 1, &len, &overlong,
		    sess_deadline(&s, c->set.smtpd_timeout));
		if (r == IN_TIMEOUT) {
			sess_reply(&s, "421 4.4.2 %s Error: timeout exceeded",
			    c->set.myhostname);
			break;
		}
		if (r == IN_EOF)
			break;
		if (overlong)
			sess_reply(&s, "500 5.5.2 Error: line too long");
		else
			sess_command(&s, line, len);
		if (!s.quit && s.errors >= c->set.smtpd_hard_error_limit) {
			sess_reply(&s, "421 4.7.0 %s Error: too many errors",
			    c->set.myhostname);
			break;
		}
	}
	sess_reset(&s);
	return 0;
}
