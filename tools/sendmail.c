/*
 * sendmail - the conventional local submission interface, also called
 * mailq and newaliases (the name it is run under picks the mode).
 *
 * Runs as the invoking user and must never be installed set-uid or
 * set-group-ID: it reads the user's message and options, builds the
 * queue file in memory (sendmail_msg.c: header fix-ups; envelope.h) and
 * pipes it to tern-postdrop, the small set-group-ID program that writes
 * it into SPOOL/maildrop (maildrop.h), from where queued takes it.  So
 * mail is accepted while ternd is stopped, and delivered once it runs.
 * The other modes run tern's administrative programs with execve and a
 * fixed argument vector: -bp/mailq and -q run ternctl, -bi/newaliases
 * runs ternmap -a.  Which flags are honoured and which accepted and
 * ignored follows Postfix's sendmail(1); see sendmail(8).
 *
 * Exit status per sysexits(3): 0 accepted; EX_USAGE (bad options, no
 * recipients), EX_DATAERR (an address or the message is malformed or
 * too large), EX_NOUSER (no login name for the uid), EX_CONFIG, and
 * EX_TEMPFAIL when the maildrop cannot take the message now.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "dsn_param.h"
#include "log.h"
#include "maildrop.h"
#include "qid.h"
#include "sendmail.h"
#include "sendmail_addr.h"
#include "sendmail_msg.h"
#include "xmalloc.h"

int main(int argc, char **argv);

#define MAILNAME	"/etc/mailname"
/* Input beyond message_size_limit by this much cannot become a message
 * that fits (line ends only grow), so reading stops there. */
#define INPUT_SLACK	(1024 * 1024)

enum sendmail_mode {
	MODE_DELIVER,		/* -bm: read a message, submit it */
	MODE_SMTP,		/* -bs */
	MODE_MAILQ,		/* -bp, mailq */
	MODE_NEWALIASES,	/* -bi, -I, newaliases */
	MODE_VERIFY,		/* -bv */
	MODE_FLUSH,		/* -q, -qI, -qR */
};

/* What the command line asked for. */
struct sendmail_opts {
	enum sendmail_mode	 mode;
	const char		*sender;	/* -f/-r, or NULL */
	const char		*envid;		/* -V */
	const char		*flush_arg;	/* -qI/-qR value */
	int			 ret;		/* -R: enum dsn_ret */
	int			 extract;	/* -t */
	int			 dot_ends;	/* no -i / -oi */
};

static const char *default_config = TERN_SYSCONFDIR "/tern/tern.conf";

/* sendmail_die - a message on stderr and the exit status */
static void __attribute__((noreturn, format(printf, 2, 3)))
sendmail_die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

/* sendmail_usage - the synopsis, EX_USAGE */
static void __attribute__((noreturn))
sendmail_usage(const char *why)
{
	fprintf(stderr, "sendmail: %s\nusage: sendmail [-tiv] [-f sender] "
	    "[-F name] [-B 7BIT|8BITMIME] [-N notify] [-R full|hdrs]\n"
	    "                [-V envid] [-C config] [--] [recipient ...]\n"
	    "       sendmail -bs | -bp | -bi | -bv address ... | -q "
	    "[-qI queue_id | -qR site]\n", why);
	exit(EX_USAGE);
}

/* opt_notify - -N never | success,failure,delay */
static uint32_t
opt_notify(const char *v)
{
	char *copy = xstrdup(v), *save = NULL, *w;
	uint32_t f = 0;

	for (w = strtok_r(copy, ",", &save); w != NULL;
	    w = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(w, "never") == 0)
			f |= NOTIFY_NEVER;
		else if (strcasecmp(w, "success") == 0)
			f |= NOTIFY_SUCCESS;
		else if (strcasecmp(w, "failure") == 0)
			f |= NOTIFY_FAILURE;
		else if (strcasecmp(w, "delay") == 0)
			f |= NOTIFY_DELAY;
		else
			sendmail_usage("-N: expected never, or success, "
			    "failure and delay separated by commas");
	}
	free(copy);
	if (f == 0)
		sendmail_usage("-N: empty");
	if ((f & NOTIFY_NEVER) && f != NOTIFY_NEVER)
		sendmail_usage("-N: never cannot be combined with others");
	return f;
}

/* opt_b - the mode of -bX */
static enum sendmail_mode
opt_b(const char *v)
{
	if (strcmp(v, "m") == 0)
		return MODE_DELIVER;
	if (strcmp(v, "s") == 0)
		return MODE_SMTP;
	if (strcmp(v, "p") == 0)
		return MODE_MAILQ;
	if (strcmp(v, "i") == 0)
		return MODE_NEWALIASES;
	if (strcmp(v, "v") == 0)
		return MODE_VERIFY;
	if (strcmp(v, "d") == 0 || strcmp(v, "D") == 0)
		sendmail_die(EX_USAGE, "-b%s: tern's daemon is ternd; start it "
		    "with your init system", v);
	sendmail_die(EX_USAGE, "-b%s: not supported", v);
}

/*
 * opt_q - -q (flush everything), -qIID, -qRsite (also with the value as
 * the next argument); -qINTERVAL (a Sendmail daemon's queue run
 * interval: tern has none, its scheduler retries by itself) flushes
 * once, like -q.
 */
static void
opt_q(struct sendmail_opts *o, const char *v, int argc, char **argv)
{
	if (v == NULL || *v == '\0' || isdigit((unsigned char)*v)) {
		o->mode = MODE_FLUSH;
		return;
	}
	if (*v == 'I' || *v == 'R') {
		o->mode = MODE_FLUSH;
		o->flush_arg = v + 1;
		if (*o->flush_arg == '\0') {
			if (optind >= argc)
				sendmail_usage("-qI and -qR need a value");
			o->flush_arg = argv[optind++];
		}
		return;
	}
	sendmail_die(EX_USAGE, "-q%s: not supported", v);
}

/* opt_one - one option (getopt's c and optarg) into o and c */
static void
opt_one(struct sendmail_opts *o, struct sendmail_ctx *c, int ch,
    const char *arg, int argc, char **argv)
{
	switch (ch) {
	case 'B':
		if (strcasecmp(arg, "8BITMIME") == 0)
			c->body8 = 1;
		else if (strcasecmp(arg, "7BIT") != 0)
			sendmail_usage("-B: expected 7BIT or 8BITMIME");
		break;
	case 'b':
		o->mode = opt_b(arg);
		break;
	case 'C':
		c->config = arg;
		break;
	case 'F':
		c->full_name = arg;
		break;
	case 'f':
	case 'r':
		o->sender = arg;
		break;
	case 'I':
		o->mode = MODE_NEWALIASES;
		break;
	case 'i':
		o->dot_ends = 0;
		break;
	case 'N':
		c->notify = opt_notify(arg);
		break;
	case 'o':
		/* -oi as -i; the rest (-oem, -odb, -om, ...) ignored. */
		if (strcmp(arg, "i") == 0)
			o->dot_ends = 0;
		break;
	case 'q':
		opt_q(o, arg, argc, argv);
		break;
	case 'R':
		if (strcasecmp(arg, "full") == 0)
			o->ret = DSN_RET_FULL;
		else if (strcasecmp(arg, "hdrs") == 0)
			o->ret = DSN_RET_HDRS;
		else
			sendmail_usage("-R: expected full or hdrs");
		break;
	case 't':
		o->extract = 1;
		break;
	case 'V':
		if (!dsn_envid_valid(arg))
			sendmail_usage("-V: an envelope ID is at most 100 "
			    "printable ASCII characters");
		o->envid = arg;
		break;
	case 'v':
		c->verbose = 1;
		break;
	case 'A': case 'c': case 'G': case 'h': case 'L': case 'm':
	case 'n': case 'O': case 's': case 'U': case 'X':
		break;		/* historic, ignored as Postfix does */
	default:
		sendmail_usage("unknown option");
	}
}

/* sendmail_options - parse argv; the index of the first recipient */
static int
sendmail_options(int argc, char **argv, struct sendmail_opts *o,
    struct sendmail_ctx *c)
{
	const char *name = strrchr(argv[0], '/');
	int ch;

	name = name ? name + 1 : argv[0];
	o->dot_ends = 1;
	if (strcmp(name, "mailq") == 0)
		o->mode = MODE_MAILQ;
	else if (strcmp(name, "newaliases") == 0)
		o->mode = MODE_NEWALIASES;
	opterr = 0;
	while ((ch = getopt(argc, argv,
	    "+A:B:b:C:cF:f:Gh:IiL:mN:nO:o:q::R:r:sUtV:vX:")) != -1) {
		if (ch == '?') {
			char why[64];

			snprintf(why, sizeof(why), "-%c: unknown option, or "
			    "a value is missing", isprint(optopt) ? optopt :
			    '?');
			sendmail_usage(why);
		}
		opt_one(o, c, ch, optarg, argc, argv);
	}
	return optind;
}

/* sendmail_report - a configuration problem on stderr */
static void
sendmail_report(const char *file, int line, const char *msg, void *arg)
{
	(void)arg;
	if (line > 0)
		fprintf(stderr, "sendmail: %s:%d: %s\n", file, line, msg);
	else
		fprintf(stderr, "sendmail: %s: %s\n", file, msg);
}

/*
 * sendmail_origin - myorigin: the setting, else the first line of
 * /etc/mailname when it is a host name, else myhostname (Debian's and
 * Postfix's rule).
 */
static void
sendmail_origin(const struct settings *s, char *buf, size_t size)
{
	char line[300];
	FILE *fp;
	size_t n;

	strlcpy(buf, s->myorigin[0] != '\0' ? s->myorigin : s->myhostname,
	    size);
	if (s->myorigin[0] != '\0' || (fp = fopen(MAILNAME, "r")) == NULL)
		return;
	if (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, " \t\r\n")] = '\0';
		n = strlen(line);
		if (n > 0 && n <= 253 && strspn(line, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") == n &&
		    line[0] != '.' && line[0] != '-')
			strlcpy(buf, line, size);
	}
	fclose(fp);
}

/* sendmail_setup - settings, origin, login and tern-postdrop's path */
static void
sendmail_setup(struct sendmail_ctx *c)
{
	struct passwd *pw;
	const char *why;
	const char *path = c->config ? c->config : default_config;

	if (settings_load(&c->set, path, c->config == NULL, sendmail_report,
	    NULL) != 0)
		sendmail_die(EX_CONFIG, "%s: cannot use the configuration",
		    path);
	sendmail_origin(&c->set, c->origin, sizeof(c->origin));
	/* Without a usable login name only -f can name the sender. */
	if ((pw = getpwuid(getuid())) != NULL &&
	    sendmail_addr_canon(pw->pw_name, strlen(pw->pw_name), c->origin,
	    c->login, sizeof(c->login), &why) < 0)
		c->login[0] = '\0';
	if (c->full_name == NULL)
		c->full_name = getenv("NAME");
	snprintf(c->postdrop, sizeof(c->postdrop), "%s/%s",
	    c->set.daemon_directory, MAILDROP_PROGRAM);
	c->pd.path = c->postdrop;
	c->pd.config = c->config;
	c->pd.verbose = c->verbose;
}

/*
 * sendmail_tool - the path of a tern tool: beside this program (where
 * it is installed, /proc/self/exe being the real file behind a mailq
 * or newaliases link), else in the configured sbin directory.
 */
static void
sendmail_tool(const char *name, char *buf, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		self[n] = '\0';
		snprintf(buf, size, "%s/%s", dirname(self), name);
		if (access(buf, X_OK) == 0)
			return;
	}
	snprintf(buf, size, "%s/%s", TERN_SBINDIR, name);
}

/* sendmail_exec_ternctl - mailq / -q: become ternctl COMMAND [ARG] */
static void __attribute__((noreturn))
sendmail_exec_ternctl(const struct sendmail_ctx *c, const char *cmd,
    const char *arg)
{
	char path[PATH_MAX];
	char *argv[6];
	int n = 0;

	sendmail_tool("ternctl", path, sizeof(path));
	argv[n++] = (char *)"ternctl";
	if (c->config != NULL) {
		argv[n++] = (char *)"-c";
		argv[n++] = (char *)c->config;
	}
	argv[n++] = (char *)cmd;
	if (arg != NULL)
		argv[n++] = (char *)arg;
	argv[n] = NULL;
	execv(path, argv);
	sendmail_die(EX_UNAVAILABLE, "cannot run %s: %s", path,
	    strerror(errno));
}

/* sendmail_newaliases - ternmap -a for each alias_maps source */
static int
sendmail_newaliases(const struct sendmail_ctx *c)
{
	char path[PATH_MAX];
	int status, failed = 0;

	sendmail_tool("ternmap", path, sizeof(path));
	for (size_t i = 0; i < c->set.alias_maps.n; i++) {
		const char *src = c->set.alias_maps.v[i];
		pid_t pid;

		if (strncmp(src, "hash:", 5) == 0)
			src += 5;
		if ((pid = fork()) == 0) {
			execl(path, "ternmap", "-a", src, (char *)NULL);
			sendmail_die(EX_UNAVAILABLE, "cannot run %s: %s", path,
			    strerror(errno));
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0 ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
		else if (c->verbose)
			fprintf(stderr, "sendmail: %s.db written\n", src);
	}
	return failed ? EX_CANTCREAT : 0;
}

/* What sendmail_add_arg needs: the context and the envelope. */
struct arg_rcpt {
	struct sendmail_ctx	*c;
	struct envelope		*env;
	int			 verify;	/* -bv: print, do not add */
	int			 bad;
};

/* sendmail_add_arg - one address of a command-line argument */
static int
sendmail_add_arg(const char *a, size_t len, void *arg)
{
	struct arg_rcpt *r = arg;
	char canon[ADDR_TEXT_MAX], vis[ADDR_TEXT_MAX * 4];
	const char *why;

	log_vis(vis, sizeof(vis), a, len);
	if (sendmail_addr_canon(a, len, r->c->origin, canon, sizeof(canon),
	    &why) < 0) {
		fprintf(stderr, "sendmail: %s: %s\n", vis, why);
		r->bad = 1;
		return 0;
	}
	if (r->verify)
		printf("%s... address syntax ok, as <%s>\n", vis, canon);
	else if (sendmail_env_add_rcpt(r->c, r->env, canon, 0, NULL) < 0)
		sendmail_die(EX_USAGE, "more than %ld recipients",
		    r->c->set.smtpd_recipient_limit);
	return 0;
}

/* sendmail_args - the recipient arguments (each may be a list) */
static void
sendmail_args(struct arg_rcpt *r, int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		if (sendmail_addrlist_each(argv[i], strlen(argv[i]),
		    sendmail_add_arg, r) < 0) {
			fprintf(stderr, "sendmail: %s: malformed address "
			    "list\n", argv[i]);
			r->bad = 1;
		}
	if (r->bad && !r->verify)
		sendmail_die(EX_DATAERR, "bad recipient address");
}

/* sendmail_read_input - standard input, at most max octets (else exit) */
static char *
sendmail_read_input(uint64_t max, size_t *len)
{
	struct sendmail_buf b = { NULL, 0, 0 };
	char chunk[65536];
	ssize_t n;

	while ((n = read(STDIN_FILENO, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sendmail_die(EX_IOERR, "read: %s", strerror(errno));
		sendmail_buf_put(&b, chunk, (size_t)n);
		if (b.len > max)
			sendmail_die(EX_DATAERR, "message larger than "
			    "message_size_limit");
	}
	*len = b.len;
	return b.p != NULL ? b.p : xstrdup("");
}

/* sendmail_sender - -f/-r qualified, "" for <>, else the user */
static void
sendmail_sender(struct sendmail_ctx *c, const char *f, char *out,
    size_t size)
{
	const char *why;

	if (f == NULL) {
		if (c->login[0] == '\0')
			sendmail_die(EX_NOUSER, "no usable login name for uid "
			    "%lu; use -f", (unsigned long)getuid());
		strlcpy(out, c->login, size);
		return;
	}
	if (*f == '\0' || strcmp(f, "<>") == 0) {
		out[0] = '\0';
		return;
	}
	if (sendmail_addr_canon(f, strlen(f), c->origin, out, size, &why) < 0)
		sendmail_die(EX_DATAERR, "-f %s: %s", f, why);
}

/* sendmail_deliver - -bm: read the message, submit it */
static int
sendmail_deliver(struct sendmail_ctx *c, const struct sendmail_opts *o,
    int argc, char **argv)
{
	struct arg_rcpt r = { c, NULL, 0, 0 };
	struct envelope env;
	char id[QID_MAX + 8], err[1024], *in;
	size_t len;
	int status;

	memset(&env, 0, sizeof(env));
	r.env = &env;
	sendmail_sender(c, o->sender, env.sender, sizeof(env.sender));
	sendmail_args(&r, argc, argv);
	if (env.nrcpt == 0 && !o->extract)
		sendmail_die(EX_USAGE, "no recipients specified");
	env.ret = (uint32_t)o->ret;
	env.envid = o->envid != NULL ? xstrdup(o->envid) : NULL;
	in = sendmail_read_input(c->set.message_size_limit + INPUT_SLACK,
	    &len);
	status = sendmail_message(c, &env, in, len, o->extract, o->dot_ends,
	    id, sizeof(id), err, sizeof(err));
	if (status != 0 && err[0] != '\0')
		fprintf(stderr, "sendmail: %s\n", err);
	free(in);
	envelope_free(&env);
	return status;
}

/* sendmail_env_add_rcpt - append a recipient unless it is there */
int
sendmail_env_add_rcpt(struct sendmail_ctx *c, struct envelope *env,
    const char *a, uint32_t notify, const char *orcpt)
{
	struct envelope_rcpt *r;

	for (uint32_t i = 0; i < env->nrcpt; i++)
		if (strcmp(env->rcpts[i].addr, a) == 0)
			return 0;
	if (env->nrcpt >= (uint32_t)c->set.smtpd_recipient_limit)
		return -1;
	env->rcpts = xreallocarray(env->rcpts, env->nrcpt + 1,
	    sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpt++];
	memset(r, 0, sizeof(*r));
	strlcpy(r->addr, a, sizeof(r->addr));
	r->notify = notify;
	r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
	return 0;
}

/* sendmail_message - build, complete the envelope, submit */
int
sendmail_message(struct sendmail_ctx *c, struct envelope *env,
    const char *in, size_t len, int extract, int dot_ends, char *id,
    size_t idsize, char *err, size_t errsize)
{
	struct sendmail_msg_opts mo;
	struct sendmail_msg msg;
	char msgid[QID_MAX + 32], from[ADDR_TEXT_MAX + 32];
	int status;

	err[0] = '\0';
	qid_new(msgid, sizeof(msgid));
	snprintf(msgid + strlen(msgid), sizeof(msgid) - strlen(msgid), ".%ld",
	    (long)getpid());
	/* A bounce-like message (-f <>) still needs a From: field. */
	if (env->sender[0] != '\0')
		strlcpy(from, env->sender, sizeof(from));
	else
		snprintf(from, sizeof(from), "MAILER-DAEMON@%s", c->origin);
	memset(&mo, 0, sizeof(mo));
	mo.extract = extract;
	mo.dot_ends = dot_ends;
	mo.from = from;
	mo.full_name = c->full_name;
	mo.myhostname = c->set.myhostname;
	mo.myorigin = c->origin;
	mo.msgid = msgid;
	mo.now = time(NULL);
	mo.size_limit = c->set.message_size_limit;
	mo.rcpt_limit = (size_t)c->set.smtpd_recipient_limit;
	memset(&msg, 0, sizeof(msg));
	status = sendmail_msg_build(in, len, &mo, &msg, err, errsize);
	for (size_t i = 0; status == 0 && i < msg.rcpts.n; i++)
		if (sendmail_env_add_rcpt(c, env, msg.rcpts.v[i], 0,
		    NULL) < 0) {
			snprintf(err, errsize, "more than %ld recipients",
			    c->set.smtpd_recipient_limit);
			status = EX_USAGE;
		}
	if (status == 0 && env->nrcpt == 0) {
		snprintf(err, errsize, "no recipient addresses found in the "
		    "message header");
		status = EX_USAGE;
	}
	if (status == 0) {
		for (uint32_t i = 0; i < env->nrcpt; i++)
			if (env->rcpts[i].notify == 0)
				env->rcpts[i].notify = c->notify;
		if (c->body8 || msg.eightbit)
			env->body = BODY_8BITMIME;
		/* RFC 8689 4.1, as smtpd does: the recipients' TLS policies
		 * are ignored for this message. */
		if (msg.tls_required_no)
			env->flags |= ENVELOPE_F_TLS_OPTIONAL;
		status = sendmail_submit(&c->pd, env, &msg.text, id, idsize);
	}
	sendmail_msg_free(&msg);
	return status;
}

int
main(int argc, char **argv)
{
	struct sendmail_opts o;
	struct sendmail_ctx c;
	struct arg_rcpt r;
	int first, status;

	memset(&o, 0, sizeof(o));
	memset(&c, 0, sizeof(c));
	log_init("sendmail", 1);
	first = sendmail_options(argc, argv, &o, &c);
	sendmail_setup(&c);
	switch (o.mode) {
	case MODE_MAILQ:
		sendmail_exec_ternctl(&c, "queue", NULL);
	case MODE_FLUSH:
		sendmail_exec_ternctl(&c, "flush", o.flush_arg);
	case MODE_NEWALIASES:
		status = sendmail_newaliases(&c);
		break;
	case MODE_SMTP:
		status = sendmail_smtp(&c);
		break;
	case MODE_VERIFY:
		memset(&r, 0, sizeof(r));
		r.c = &c;
		r.verify = 1;
		if (first >= argc)
			sendmail_usage("-bv needs addresses");
		sendmail_args(&r, argc - first, argv + first);
		status = r.bad ? EX_DATAERR : 0;
		break;
	case MODE_DELIVER:
	default:
		status = sendmail_deliver(&c, &o, argc - first, argv + first);
		break;
	}
	settings_free(&c.set);
	return status;
}
