/*
 * ternctl - the administrator's command: status, queue, show, flush,
 * hold, release, delete, requeue, rebuild, stats, reload, stop (through
 * ternd's control socket), and config and check (here, from the
 * configuration and the file system).
 *
 * Runs as the invoking user.  It sends one request line to
 * SPOOL/run/control per connection and prints the answer; ternd decides
 * from the socket's peer credentials what the user may do, so nothing
 * here is a security check.  It must never need privileges of its own.
 * sendmail's -bp, -q, -qIQID and -qRDOMAIN run "ternctl queue", "ternctl
 * flush", "ternctl flush QID" and "ternctl flush DOMAIN": that syntax
 * stays.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "qid.h"
#include "settings.h"
#include "tern_check.h"
#include "ternctl_stats.h"
#include "xmalloc.h"

int main(int argc, char **argv);

static const char *config_path = TERN_SYSCONFDIR "/tern/tern.conf";

/* What an answer's lines are for. */
struct answer {
	char	*text;		/* collected instead of printed, or NULL */
	size_t	 len, cap;
	int	 collect;
};

/* ternctl_usage - the synopsis on stderr, exit 2 */
static void
ternctl_usage(void)
{
	fprintf(stderr, "usage: ternctl [-c config] command [arguments]\n"
	    "commands:\n"
	    "  status                    is tern running, and its processes\n"
	    "  queue [--json]            list the queued messages\n"
	    "  show QID                  a message: envelope, recipients, "
	    "text\n"
	    "  flush [QID... | DOMAIN]   retry deferred deliveries now\n"
	    "  hold QID... | ALL | -     stop delivering messages\n"
	    "  release QID... | ALL | -  deliver held messages again\n"
	    "  delete QID... | ALL | -   remove messages without delivery\n"
	    "  requeue [QID... | ALL | -] route messages again now\n"
	    "  stats [--json | --prometheus]  counters since start\n"
	    "  rebuild                   put queue files the index does not "
	    "name back into it\n"
	    "  reload                    reread the configuration\n"
	    "  stop                      stop tern gracefully\n"
	    "  config [-n | -d]          the settings (-n: only those changed, "
	    "-d: the defaults)\n"
	    "  check                     look for configuration and "
	    "installation problems\n");
	exit(2);
}

/* ternctl_report - one configuration problem on stderr */
static void
ternctl_report(const char *file, int line, const char *msg, void *arg)
{
	int *problems = arg;

	(*problems)++;
	if (line > 0)
		fprintf(stderr, "ternctl: %s:%d: %s\n", file, line, msg);
	else
		fprintf(stderr, "ternctl: %s: %s\n", file, msg);
}

/* ternctl_config - "config [-n | -d]": the settings ternd would use */
static int
ternctl_config(const struct settings *s, int argc, char **argv)
{
	struct settings def;
	int only_changed = 0, problems = 0;

	if (argc == 2 && strcmp(argv[1], "-d") == 0) {
		/* The defaults are what an empty file gives. */
		memset(&def, 0, sizeof(def));
		if (settings_load(&def, "/dev/null", 1, ternctl_report,
		    &problems) != 0)
			return 1;
		settings_print(stdout, &def, 0);
		settings_free(&def);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (argc == 2 && strcmp(argv[1], "-n") == 0)
		only_changed = 1;
	else if (argc != 1)
		ternctl_usage();
	settings_print(stdout, s, only_changed);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* check_problem, check_warning - one line each on stderr */
static void
check_problem(const char *msg, void *arg)
{
	int *problems = arg;

	(*problems)++;
	fprintf(stderr, "ternctl: %s\n", msg);
}

static void
check_warning(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "ternctl: warning: %s\n", msg);
}

/* ternctl_check - "check": like postfix check; 1 when problems */
static int
ternctl_check(const struct settings *s, int problems)
{
	struct tern_check c = { check_problem, check_warning, &problems, 1 };

	tern_check_config(s, &c);
	tern_check_spool(s, &c);
	return problems > 0 ? 1 : 0;
}

/* ternctl_connect - a stream to SPOOL/run/control, or -1 (reported) */
static int
ternctl_connect(const char *spool)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s",
	    spool, CONTROL_SOCKET) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "ternctl: spool path too long\n");
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "ternctl: cannot reach ternd at %s: %s\n",
		    sun.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* answer_add - keep line (collect) or print it */
static void
answer_add(struct answer *a, const char *line)
{
	size_t len = strlen(line);

	if (!a->collect) {
		fputs(line, stdout);
		return;
	}
	if (a->len + len + 1 > a->cap) {
		while (a->len + len + 1 > a->cap)
			a->cap = a->cap ? a->cap * 2 : 4096;
		a->text = xreallocarray(a->text, a->cap, 1);
	}
	memcpy(a->text + a->len, line, len + 1);
	a->len += len;
}

/*
 * ternctl_request - send the request line req, print (or collect) the
 * answer; the exit status.  "error: " lines go to stderr and make it 1.
 */
static int
ternctl_request(const char *spool, const char *req, struct answer *a)
{
	char *buf = NULL;
	size_t bufsize = 0;
	FILE *in;
	int fd, first = 1, status = 0;
	size_t len = strlen(req);

	if (len + 1 > CONTROL_LINE_MAX) {
		fprintf(stderr, "ternctl: request too long\n");
		return 1;
	}
	if ((fd = ternctl_connect(spool)) < 0)
		return 1;
	if (write(fd, req, len) != (ssize_t)len || write(fd, "\n", 1) != 1) {
		fprintf(stderr, "ternctl: write: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	if ((in = fdopen(fd, "r")) == NULL) {
		close(fd);
		return 1;
	}
	while (getline(&buf, &bufsize, in) > 0) {
		if (first) {
			first = 0;
			if (strcmp(buf, "ok\n") == 0)
				continue;
			fprintf(stderr, "ternctl: %s", buf);
			status = 1;
			continue;
		}
		/* ternd saying the answer stopped short, or queued saying
		 * that it could not do something. */
		if (strncmp(buf, "error: ", 7) == 0) {
			fprintf(stderr, "ternctl: %s", buf + 7);
			status = 1;
			continue;
		}
		answer_add(a, buf);
	}
	free(buf);
	fclose(in);
	if (first) {
		fprintf(stderr, "ternctl: ternd closed the connection without "
		    "an answer\n");
		return 1;
	}
	return status;
}

/* ternctl_simple - a request without arguments, printed as it comes */
static int
ternctl_simple(const char *spool, const char *req, int say)
{
	struct answer a = { NULL, 0, 0, 0 };
	int r = ternctl_request(spool, req, &a);

	if (r == 0 && say)
		printf("ternctl: %s requested\n", req);
	return r;
}

/* qid_arg - check one queue ID argument (reported) */
static int
qid_arg(const char *s)
{
	if (qid_valid(s))
		return 0;
	fprintf(stderr, "ternctl: %s: not a queue ID\n", s);
	return -1;
}

/*
 * ternctl_batch - "cmd QID QID ..." for every ID, at most
 * QADMIN_QIDS_MAX a request; the exit status (1 if any failed).
 */
static int
ternctl_batch(const char *spool, const char *cmd, char **ids, size_t n)
{
	char req[CONTROL_LINE_MAX];
	int status = 0;

	for (size_t i = 0; i < n;) {
		struct answer a = { NULL, 0, 0, 0 };

		strlcpy(req, cmd, sizeof(req));
		for (size_t k = 0; k < QADMIN_QIDS_MAX && i < n; k++, i++) {
			strlcat(req, " ", sizeof(req));
			strlcat(req, ids[i], sizeof(req));
		}
		status |= ternctl_request(spool, req, &a);
	}
	return status;
}

/* ternctl_stdin_ids - queue IDs from stdin, one a line; n, or -1 */
static char **
ternctl_stdin_ids(size_t *n)
{
	char *line = NULL, **ids = NULL;
	size_t size = 0;
	ssize_t len;

	*n = 0;
	while ((len = getline(&line, &size, stdin)) > 0) {
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r' || line[len - 1] == ' '))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (qid_arg(line) < 0)
			exit(1);
		ids = xreallocarray(ids, *n + 1, sizeof(*ids));
		ids[(*n)++] = xstrdup(line);
	}
	free(line);
	return ids;
}

/* ternctl_ids - hold, release, delete, requeue: QIDs, ALL or "-" */
static int
ternctl_ids(const char *spool, const char *cmd, int argc, char **argv)
{
	char **ids;
	size_t n;
	int r;

	if (argc == 1 && strcmp(cmd, "requeue") == 0)
		return ternctl_simple(spool, "requeue ALL", 0);
	if (argc < 2)
		ternctl_usage();
	if (argc == 2 && strcmp(argv[1], "ALL") == 0) {
		char req[64];

		snprintf(req, sizeof(req), "%s ALL", cmd);
		return ternctl_simple(spool, req, 0);
	}
	if (argc == 2 && strcmp(argv[1], "-") == 0) {
		ids = ternctl_stdin_ids(&n);
		r = n > 0 ? ternctl_batch(spool, cmd, ids, n) : 0;
		for (size_t i = 0; i < n; i++)
			free(ids[i]);
		free(ids);
		return r;
	}
	for (int i = 1; i < argc; i++)
		if (qid_arg(argv[i]) < 0)
			return 1;
	return ternctl_batch(spool, cmd, argv + 1, (size_t)argc - 1);
}

/* ternctl_flush - "flush", "flush QID...", "flush DOMAIN" */
static int
ternctl_flush(const char *spool, int argc, char **argv)
{
	char req[CONTROL_LINE_MAX];

	if (argc == 1)
		return ternctl_simple(spool, "flush", 1);
	if (argc == 2 && !qid_valid(argv[1])) {
		if (snprintf(req, sizeof(req), "flushdomain %s", argv[1]) >=
		    (int)sizeof(req))
			ternctl_usage();
		return ternctl_simple(spool, req, 0);
	}
	for (int i = 1; i < argc; i++)
		if (qid_arg(argv[i]) < 0)
			return 1;
	return ternctl_batch(spool, "flush", argv + 1, (size_t)argc - 1);
}

/* ternctl_stats - "stats [--json | --prometheus]" */
static int
ternctl_stats(const char *spool, int argc, char **argv)
{
	struct answer a = { NULL, 0, 0, 1 };
	enum stats_format f = STATS_TEXT;
	int r;

	if (argc == 2 && strcmp(argv[1], "--json") == 0)
		f = STATS_JSON;
	else if (argc == 2 && strcmp(argv[1], "--prometheus") == 0)
		f = STATS_PROMETHEUS;
	else if (argc != 1)
		ternctl_usage();
	if ((r = ternctl_request(spool, "stats", &a)) != 0) {
		free(a.text);
		return r;
	}
	if (ternctl_stats_print(stdout, a.text != NULL ? a.text : "", f) < 0) {
		fprintf(stderr, "ternctl: ternd answered with malformed "
		    "counters\n");
		r = 1;
	}
	free(a.text);
	return r == 0 && fflush(stdout) == 0 ? 0 : 1;
}

/* ternctl_command - the commands that ask ternd */
static int
ternctl_command(const struct settings *s, int argc, char **argv)
{
	const char *cmd = argv[0], *spool = s->spool_dir;
	char req[64];

	if (strcmp(cmd, "queue") == 0) {
		if (argc == 2 && (strcmp(argv[1], "--json") == 0 ||
		    strcmp(argv[1], "-j") == 0))
			return ternctl_simple(spool, "queue json", 0);
		if (argc != 1)
			ternctl_usage();
		return ternctl_simple(spool, "queue", 0);
	}
	if (strcmp(cmd, "show") == 0) {
		if (argc != 2)
			ternctl_usage();
		if (qid_arg(argv[1]) < 0)
			return 1;
		snprintf(req, sizeof(req), "show %s", argv[1]);
		return ternctl_simple(spool, req, 0);
	}
	if (strcmp(cmd, "flush") == 0)
		return ternctl_flush(spool, argc, argv);
	if (strcmp(cmd, "hold") == 0 || strcmp(cmd, "release") == 0 ||
	    strcmp(cmd, "delete") == 0 || strcmp(cmd, "requeue") == 0)
		return ternctl_ids(spool, cmd, argc, argv);
	if (strcmp(cmd, "stats") == 0)
		return ternctl_stats(spool, argc, argv);
	if (argc != 1)
		ternctl_usage();
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "rebuild") == 0)
		return ternctl_simple(spool, cmd, 0);
	if (strcmp(cmd, "reload") == 0 || strcmp(cmd, "stop") == 0)
		return ternctl_simple(spool, cmd, 1);
	ternctl_usage();
	return 2;
}

int
main(int argc, char **argv)
{
	struct settings s;
	int ch, problems = 0, r, loaded;
	const char *cmd;

	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		default:
			ternctl_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		ternctl_usage();
	cmd = argv[0];
	memset(&s, 0, sizeof(s));
	loaded = settings_load(&s, config_path, 0, ternctl_report,
	    &problems) == 0;
	if (strcmp(cmd, "config") == 0) {
		r = ternctl_config(&s, argc, argv);
		r = problems > 0 ? 1 : r;
	} else if (strcmp(cmd, "check") == 0) {
		if (argc != 1)
			ternctl_usage();
		r = loaded ? ternctl_check(&s, problems) : 1;
	} else if (!loaded)
		r = 1;
	else
		r = ternctl_command(&s, argc, argv);
	settings_free(&s);
	return r;
}
