/*
 * smtp_command - turn one SMTP command line into a struct smtp_command, or
 * into the exact reply that refuses it.
 *
 * Called by smtp_session for every line a client sends (CRLF already
 * removed).  It does no I/O and keeps no state; the session decides whether
 * a well-formed command is allowed now.  It must never read past len, and
 * every reply it writes starts with "NNN X.Y.Z ".
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dsn_param.h"
#include "envelope.h"
#include "smtp_command.h"

/* values longer than this are refused as a whole (RFC 4954 5) */
#define SMTP_AUTH_PARAM_MAX	500

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} verbs[] = {
	{ "HELO", SMTP_CMD_HELO },
	{ "EHLO", SMTP_CMD_EHLO },
	{ "MAIL", SMTP_CMD_MAIL },
	{ "RCPT", SMTP_CMD_RCPT },
	{ "DATA", SMTP_CMD_DATA },
	{ "RSET", SMTP_CMD_RSET },
	{ "NOOP", SMTP_CMD_NOOP },
	{ "QUIT", SMTP_CMD_QUIT },
	{ "VRFY", SMTP_CMD_VRFY },
	{ "EXPN", SMTP_CMD_EXPN },
	{ "HELP", SMTP_CMD_HELP },
	{ "STARTTLS", SMTP_CMD_STARTTLS },
	{ "AUTH", SMTP_CMD_AUTH },
	{ "BDAT", SMTP_CMD_BDAT },
	{ "ETRN", SMTP_CMD_ETRN },
};

/* MAIL and RCPT parameters we know; "seen" bits catch duplicates */
enum param_id {
	P_SIZE, P_BODY, P_RET, P_ENVID, P_SMTPUTF8, P_AUTH, P_NOTIFY, P_ORCPT,
	P_REQUIRETLS
};

struct param_ctx {
	int			 ext;
	struct smtp_command	*cmd;
	char			*reply;
	size_t			 replysize;
};

typedef int (*param_fn)(struct param_ctx *, const char *, size_t, int);

static int param_size(struct param_ctx *, const char *, size_t, int);
static int param_body(struct param_ctx *, const char *, size_t, int);
static int param_ret(struct param_ctx *, const char *, size_t, int);
static int param_envid(struct param_ctx *, const char *, size_t, int);
static int param_smtputf8(struct param_ctx *, const char *, size_t, int);
static int param_auth(struct param_ctx *, const char *, size_t, int);
static int param_notify(struct param_ctx *, const char *, size_t, int);
static int param_orcpt(struct param_ctx *, const char *, size_t, int);
static int param_requiretls(struct param_ctx *, const char *, size_t, int);

static const struct {
	const char	*name;
	enum smtp_verb	 verb;	/* the command that may carry it */
	int		 ext;	/* the extension advertising it */
	param_fn	 fn;
} params[] = {
	[P_SIZE] = { "SIZE", SMTP_CMD_MAIL, SMTP_EXT_SIZE, param_size },
	[P_BODY] = { "BODY", SMTP_CMD_MAIL, SMTP_EXT_8BITMIME, param_body },
	[P_RET] = { "RET", SMTP_CMD_MAIL, SMTP_EXT_DSN, param_ret },
	[P_ENVID] = { "ENVID", SMTP_CMD_MAIL, SMTP_EXT_DSN, param_envid },
	[P_SMTPUTF8] = { "SMTPUTF8", SMTP_CMD_MAIL, SMTP_EXT_SMTPUTF8,
	    param_smtputf8 },
	[P_AUTH] = { "AUTH", SMTP_CMD_MAIL, SMTP_EXT_AUTH, param_auth },
	[P_NOTIFY] = { "NOTIFY", SMTP_CMD_RCPT, SMTP_EXT_DSN, param_notify },
	[P_ORCPT] = { "ORCPT", SMTP_CMD_RCPT, SMTP_EXT_DSN, param_orcpt },
	[P_REQUIRETLS] = { "REQUIRETLS", SMTP_CMD_MAIL, SMTP_EXT_REQUIRETLS,
	    param_requiretls },
};

static int reply_set(char *, size_t, int, const char *, ...)
    __attribute__((format(printf, 4, 5)));

/* reply_set - format the reply into reply[] and return its code */
static int
reply_set(char *reply, size_t replysize, int code, const char *fmt, ...)
{
	va_list ap;

	if (replysize > 0) {
		va_start(ap, fmt);
		vsnprintf(reply, replysize, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* smtp_verb_name - "MAIL", "RCPT", ... for logs; a static string */
const char *
smtp_verb_name(enum smtp_verb v)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "UNKNOWN";
}

/* verb_lookup - the verb spelled (any case) by s[0..len) */
static enum smtp_verb
verb_lookup(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == len &&
		    strncasecmp(verbs[i].name, s, len) == 0)
			return verbs[i].verb;
	return SMTP_CMD_UNKNOWN;
}

/* param_needs_value - refuse "KEY" where "KEY=value" is required */
static int
param_needs_value(struct param_ctx *c, const char *name, int has_value)
{
	if (has_value)
		return 0;
	return reply_set(c->reply, c->replysize, 501,
	    "501 5.5.4 Syntax: %s=value", name);
}

/* param_size - SIZE=digits (RFC 1870) */
static int
param_size(struct param_ctx *c, const char *v, size_t len, int has_value)
{
	uint64_t size = 0;
	size_t i;
	int rc;

	if ((rc = param_needs_value(c, "SIZE", has_value)) != 0)
		return rc;
	for (i = 0; i < len; i++)
		if (v[i] < '0' || v[i] > '9')
			return reply_set(c->reply, c->replysize, 501,
			    "501 5.5.4 Bad SIZE parameter syntax");
	for (i = 0; i < len; i++) {
		if (size > (UINT64_MAX - (uint64_t)(v[i] - '0')) / 10)
			return reply_set(c->reply, c->replysize, 552,
			    "552 5.3.4 Message size exceeds fixed maximum "
			    "message size");
		size = size * 10 + (uint64_t)(v[i] - '0');
	}
	c->cmd->size = size;
	return 0;
}

/* param_body - BODY=7BIT / 8BITMIME (RFC 6152) */
static int
param_body(struct param_ctx *c, const char *v, size_t len, int has_value)
{
	int rc;

	if ((rc = param_needs_value(c, "BODY", has_value)) != 0)
		return rc;
	if (len == 4 && strncasecmp(v, "7BIT", 4) == 0)
		c->cmd->body = BODY_7BIT;
	else if (len == 8 && strncasecmp(v, "8BITMIME", 8) == 0)
		c->cmd->body = BODY_8BITMIME;
	else
		return reply_set(c->reply, c->replysize, 555,
		    "555 5.5.4 Unsupported BODY type");
	return 0;
}

/* param_ret - RET=FULL / HDRS (RFC 3461 4.3) */
static int
param_ret(struct param_ctx *c, const char *v, size_t len, int has_value)
{
	int rc;

	if ((rc = param_needs_value(c, "RET", has_value)) != 0)
		return rc;
	if (len == 4 && strncasecmp(v, "FULL", 4) == 0)
		c->cmd->ret = DSN_RET_FULL;
	else if (len == 4 && strncasecmp(v, "HDRS", 4) == 0)
		c->cmd->ret = DSN_RET_HDRS;
	else
		return reply_set(c->reply, c->replysize, 501,
		    "501 5.5.4 Bad RET parameter");
	return 0;
}

/* param_envid - ENVID=xtext of printable ASCII, at most 100 (RFC 3461 4.4) */
static int
param_envid(struct param_ctx *c, const char *v, size_t len, int has_value)
{
	int rc;

	if ((rc = param_needs_value(c, "ENVID", has_value)) != 0)
		return rc;
	if (len > SMTP_ENVID_MAX || xtext_decode(v, len, c->cmd->envid,
	    sizeof(c->cmd->envid)) < 0 || !dsn_envid_valid(c->cmd->envid))
		goto bad;
	return 0;
bad:
	c->cmd->envid[0] = '\0';
	return reply_set(c->reply, c->replysize, 501,
	    "501 5.5.4 Bad ENVID parameter");
}

/* param_smtputf8 - SMTPUTF8, which takes no value (RFC 6531 3.4) */
static int
param_smtputf8(struct param_ctx *c, const char *v, size_t len, int has_value)
{
	(void)v;
	(void)len;
	if (has_value)
		return reply_set(c->reply, c->replysize, 501,
		    "501 5.5.4 SMTPUTF8 takes no value");
	c->cmd->smtputf8 = 1;
	return 0;
}

/* param_requiretls - REQUIRETLS, which takes no value (RFC 8689 2) */
static int
param_requiretls(struct param_ctx *c, const char *v, size_t len,
    int has_value)
{
	(void)v;
	(void)len;
	if (has_value)
		return reply_set(c->reply, c->replysize, 501,
		    "501 5.5.4 REQUIRETLS takes no value");
	c->cmd->requiretls = 1;
	return 0;
}

/* param_auth - AUTH=xtext or AUTH=<> (RFC 4954 5) */
static int
param_auth(struct param_ctx *c, const char *v, size_t len, int has_value)
{
	int rc;

	if ((rc = param_needs_value(c, "AUTH", has_value)) != 0)
		return rc;
	if (len > SMTP_AUTH_PARAM_MAX || xtext_decode(v, len, c->cmd->auth,
	    sizeof(c->cmd->auth)) < 0) {
		c->cmd->auth[0] = '\0';
		return reply_set(c->reply, c->replysize, 501,
		    "501 5.5.4 Bad AUTH parameter");
	}
	return 0;
}

/* notify_word - the NOTIFY_* flag a list element names, 0 if none */
static uint32_t
notify_word(const char *s, size_t len)
{
	if (len == 5 && strncasecmp(s, "NEVER", 5) == 0)
		return NOTIFY_NEVER;
	if (len == 7 && strncasecmp(s, "SUCCESS", 7) == 0)
		return NOTIFY_SUCCESS;
	if (len == 7 && strncasecmp(s, "FAILURE", 7) == 0)
		return NOTIFY_FAILURE;
	if (len == 5 && strncasecmp(s, "DELAY", 5) == 0)
		return NOTIFY_DELAY;
	return 0;
}

/* param_notify - NOTIFY=NEVER / 1#(SUCCESS / FAILURE / DELAY) (RFC 3461 4.1) */
static int
param_notify(struct param_ctx *c, const char *v, size_t len, int has_value)
{
	const char *comma;
	size_t n;
	uint32_t flags = 0, f;
	int rc;

	if ((rc = param_needs_value(c, "NOTIFY", has_value)) != 0)
		return rc;
	for (;;) {
		comma = memchr(v, ',', len);
		n = comma != NULL ? (size_t)(comma - v) : len;
		if ((f = notify_word(v, n)) == 0)
			goto bad;
		flags |= f;
		if (comma == NULL)
			break;
		v += n + 1;
		len -= n + 1;
	}
	/* NEVER must appear by itself */
	if ((flags & NOTIFY_NEVER) && flags != NOTIFY_NEVER)
		goto bad;
	c->cmd->notify = flags;
	return 0;
bad:
	return reply_set(c->reply, c->replysize, 501,
	    "501 5.5.4 Bad NOTIFY parameter");
}

/* param_orcpt - ORCPT=addr-type;xtext, at most 500 (RFC 3461 4.2) */
static int
param_orcpt(struct param_ctx *c, const char *v, size_t len, int has_value)
{
	int rc;

	if ((rc = param_needs_value(c, "ORCPT", has_value)) != 0)
		return rc;
	if (!dsn_orcpt_valid(v, len))
		return reply_set(c->reply, c->replysize, 501,
		    "501 5.5.4 Bad ORCPT parameter");
	memcpy(c->cmd->orcpt, v, len);
	c->cmd->orcpt[len] = '\0';
	return 0;
}

/* param_lookup - index of the parameter named s[0..len), -1 if unknown */
static int
param_lookup(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++)
		if (strlen(params[i].name) == len &&
		    strncasecmp(params[i].name, s, len) == 0)
			return (int)i;
	return -1;
}

/* param_syntax_ok - esmtp-keyword ["=" esmtp-value] (RFC 5321 4.1.2) */
static int
param_syntax_ok(const char *p, size_t klen, size_t len)
{
	size_t i;
	unsigned char ch;

	for (i = 0; i < klen; i++) {
		ch = (unsigned char)p[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || (ch == '-' && i > 0)))
			return 0;
	}
	if (klen == 0 || klen + 1 == len)
		return 0;	/* no keyword, or "KEY=" without a value */
	for (i = klen + 1; i < len; i++) {
		ch = (unsigned char)p[i];
		if (ch < 33 || ch > 126 || ch == '=')
			return 0;
	}
	return 1;
}

/*
 * params_parse - Mail-parameters / Rcpt-parameters: esmtp-param separated
 * by single spaces.  Each known parameter may appear once, and only when
 * its extension was advertised.
 */
static int
params_parse(struct param_ctx *c, const char *p, size_t len)
{
	const char *sp, *eq;
	size_t tok, klen;
	unsigned int seen = 0;
	int id, rc;

	while (len > 0) {
		sp = memchr(p, ' ', len);
		tok = sp != NULL ? (size_t)(sp - p) : len;
		eq = memchr(p, '=', tok);
		klen = eq != NULL ? (size_t)(eq - p) : tok;
		if (!param_syntax_ok(p, klen, tok))
			return reply_set(c->reply, c->replysize, 501,
			    "501 5.5.4 Bad parameter syntax");
		id = param_lookup(p, klen);
		/* RFC 8689 2: REQUIRETLS only in a session that employs TLS
		 * (the only place it is advertised). */
		if (id == P_REQUIRETLS && c->cmd->verb == SMTP_CMD_MAIL &&
		    c->ext != 0 &&
		    !(c->ext & SMTP_EXT_REQUIRETLS))
			return reply_set(c->reply, c->replysize, 530,
			    "530 5.7.10 REQUIRETLS needs a TLS session: "
			    "STARTTLS first");
		if (id < 0 || params[id].verb != c->cmd->verb ||
		    !(c->ext & params[id].ext))
			return reply_set(c->reply, c->replysize, 555,
			    "555 5.5.4 Unsupported option: %.*s",
			    (int)klen, p);
		if (seen & (1u << id))
			return reply_set(c->reply, c->replysize, 501,
			    "501 5.5.4 Duplicate %s parameter",
			    params[id].name);
		seen |= 1u << id;
		if (eq != NULL)
			rc = params[id].fn(c, eq + 1, tok - klen - 1, 1);
		else
			rc = params[id].fn(c, NULL, 0, 0);
		if (rc != 0)
			return rc;
		if (sp == NULL)
			break;
		p += tok + 1;
		len -= tok + 1;
	}
	return 0;
}

/* addr_reply - the reply for an address error, code taken from its text */
static int
addr_reply(enum addr_error e, int reverse, char *reply, size_t replysize)
{
	const char *text = addr_error_text(e, reverse);

	return reply_set(reply, replysize, (text[0] - '0') * 100 +
	    (text[1] - '0') * 10 + (text[2] - '0'), "%s", text);
}

/*
 * mail_rcpt_parse - "MAIL FROM:" Reverse-path / "RCPT TO:" Forward-path,
 * then the parameters; p is what follows the verb and its space.
 */
static int
mail_rcpt_parse(const char *p, size_t len, int ext, struct smtp_command *cmd,
    char *reply, size_t replysize)
{
	int mail = cmd->verb == SMTP_CMD_MAIL;
	const char *kw = mail ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw), used;
	struct param_ctx c = { ext, cmd, reply, replysize };
	enum addr_error e;
	int opts, rc;

	if (len < kwlen || strncasecmp(p, kw, kwlen) != 0)
		goto syntax;
	p += kwlen;
	len -= kwlen;
	/* "MAIL FROM: <a@b>" is common; Postfix tolerates it, so do we */
	if (len > 0 && p[0] == ' ') {
		p++;
		len--;
	}
	if (len == 0)
		goto syntax;
	opts = mail ? ADDR_P_REVERSE : ADDR_P_FORWARD;
	if (ext & SMTP_EXT_SMTPUTF8)
		opts |= ADDR_P_UTF8;
	if ((e = addr_parse_path(p, len, opts, &cmd->addr, &used)) != ADDR_OK)
		return addr_reply(e, mail, reply, replysize);
	cmd->arg = p;
	cmd->arglen = used;
	p += used;
	len -= used;
	if (len > 0) {
		if (p[0] != ' ')
			goto syntax;
		if ((rc = params_parse(&c, p + 1, len - 1)) != 0)
			return rc;
	}
	/* RFC 6531 3.4: a non-ASCII sender needs the SMTPUTF8 parameter */
	if (mail && (cmd->addr.flags & ADDR_F_UTF8) && !cmd->smtputf8)
		return addr_reply(ADDR_ERR_8BIT, mail, reply, replysize);
	return 0;
syntax:
	return reply_set(reply, replysize, 501, mail ?
	    "501 5.5.4 Syntax: MAIL FROM:<address>" :
	    "501 5.5.4 Syntax: RCPT TO:<address>");
}

/*
 * helo_parse - HELO/EHLO take one word.  Any printable ASCII is accepted
 * (clients send underscores, bare IPs and worse); the session decides
 * whether to care.  Spaces and 8-bit octets are refused so the name can go
 * into a Received: header as it is.
 */
static int
helo_parse(const char *p, size_t len, struct smtp_command *cmd, char *reply,
    size_t replysize)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] > 126)
			break;
	if (len == 0 || i < len)
		return reply_set(reply, replysize, 501,
		    "501 5.5.4 Syntax: %s hostname",
		    smtp_verb_name(cmd->verb));
	cmd->arg = p;
	cmd->arglen = len;
	return 0;
}

/* bdat_parse - "chunk-size [LAST]" (RFC 3030 2: 1*DIGIT, "LAST") */
static int
bdat_parse(const char *p, size_t len, struct smtp_command *cmd, char *reply,
    size_t replysize)
{
	size_t i;
	uint64_t n = 0;

	for (i = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		if (n > (UINT64_MAX - (uint64_t)(p[i] - '0')) / 10)
			break;
		n = n * 10 + (uint64_t)(p[i] - '0');
	}
	if (i > 0 && i == len)
		goto ok;
	if (i > 0 && p[i] == ' ') {
		size_t j = i + 1;

		while (j < len && p[j] == ' ')
			j++;
		if (len - j == 4 && strncasecmp(p + j, "LAST", 4) == 0) {
			cmd->last = 1;
			goto ok;
		}
	}
	return reply_set(reply, replysize, 501,
	    "501 5.5.4 Syntax: BDAT chunk-size [LAST]");
ok:
	cmd->chunk_size = n;
	return 0;
}

/* etrn_parse - "[@]domain" or "#queue" (RFC 1985 5.1) */
static int
etrn_parse(const char *p, size_t len, struct smtp_command *cmd, char *reply,
    size_t replysize)
{
	if (len > 1 && p[0] == '#') {
		cmd->etrn_queue = 1;
		return 0;
	}
	if (len > 0 && p[0] == '@') {
		cmd->etrn_flags |= ETRN_F_SUBDOMAINS;
		p++;
		len--;
	}
	if (len == 0 || len > MSG_ETRN_DOMAIN_MAX || p[0] == '[' ||
	    !addr_domain_valid(p, len, 0))
		return reply_set(reply, replysize, 501,
		    "501 5.5.4 Syntax: ETRN domain");
	for (size_t i = 0; i < len; i++)
		cmd->etrn_domain[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ?
		    p[i] - 'A' + 'a' : p[i]);
	cmd->etrn_domain[len] = '\0';
	return 0;
}

/* args_parse - check what follows the verb; p has no leading spaces */
static int
args_parse(const char *p, size_t len, int ext, struct smtp_command *cmd,
    char *reply, size_t replysize)
{
	const char *usage;

	switch (cmd->verb) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
		return helo_parse(p, len, cmd, reply, replysize);
	case SMTP_CMD_MAIL:
	case SMTP_CMD_RCPT:
		return mail_rcpt_parse(p, len, ext, cmd, reply, replysize);
	case SMTP_CMD_DATA:
	case SMTP_CMD_RSET:
	case SMTP_CMD_QUIT:
	case SMTP_CMD_STARTTLS:
		if (len > 0)
			return reply_set(reply, replysize, 501,
			    "501 5.5.4 Syntax: %s (no parameters allowed)",
			    smtp_verb_name(cmd->verb));
		return 0;
	case SMTP_CMD_VRFY:
		usage = "VRFY address";
		break;
	case SMTP_CMD_EXPN:
		usage = "EXPN mailing-list";
		break;
	case SMTP_CMD_AUTH:
		usage = "AUTH mechanism [initial-response]";
		break;
	case SMTP_CMD_BDAT:
		cmd->arg = p;
		cmd->arglen = len;
		return bdat_parse(p, len, cmd, reply, replysize);
	case SMTP_CMD_ETRN:
		cmd->arg = p;
		cmd->arglen = len;
		return etrn_parse(p, len, cmd, reply, replysize);
	default:	/* NOOP and HELP: an argument is optional */
		usage = NULL;
		break;
	}
	if (usage != NULL && len == 0)
		return reply_set(reply, replysize, 501, "501 5.5.4 Syntax: %s",
		    usage);
	cmd->arg = p;
	cmd->arglen = len;
	return 0;
}

/* smtp_command_parse - parse one command line; see smtp_command.h */
int
smtp_command_parse(const char *line, size_t len, int ext,
    struct smtp_command *cmd, char *reply, size_t replysize)
{
	const char *sp;
	size_t tlen, vlen, max, i;

	memset(cmd, 0, sizeof(*cmd));
	if (replysize > 0)
		reply[0] = '\0';
	/* trailing white space is noise some clients add */
	for (tlen = len; tlen > 0 && (line[tlen - 1] == ' ' ||
	    line[tlen - 1] == '\t'); tlen--)
		;
	sp = tlen > 0 ? memchr(line, ' ', tlen) : NULL;
	vlen = sp != NULL ? (size_t)(sp - line) : tlen;
	cmd->verb = verb_lookup(line, vlen);
	if (cmd->verb == SMTP_CMD_MAIL)
		max = SMTP_MAIL_LINE_MAX - 2;
	else if (cmd->verb == SMTP_CMD_RCPT)
		max = SMTP_RCPT_LINE_MAX - 2;
	else
		max = SMTP_LINE_MAX - 2;
	if (len > max)
		return reply_set(reply, replysize, 500,
		    "500 5.5.2 Line too long");
	for (i = 0; i < len; i++) {
		if (line[i] == '\0')
			return reply_set(reply, replysize, 500,
			    "500 5.5.2 Syntax error: NUL in command");
		if (((unsigned char)line[i] < ' ' && line[i] != '\t') ||
		    line[i] == 0x7f)
			return reply_set(reply, replysize, 500,
			    "500 5.5.2 Syntax error: control character in "
			    "command");
	}
	if (cmd->verb == SMTP_CMD_UNKNOWN)
		return reply_set(reply, replysize, 500,
		    "500 5.5.2 Error: command not recognized");
	for (i = vlen; i < tlen && line[i] == ' '; i++)
		;
	return args_parse(line + i, tlen - i, ext, cmd, reply, replysize);
}
