/*
 * ternctl - the administrator's command: status, flush, queue, rebuild,
 * reload, stop (through ternd's control socket) and config (from the
 * table).
 *
 * Runs as the invoking user.  It sends one request line to
 * SPOOL/run/control and prints the answer; ternd decides from the
 * socket's peer credentials what the user may do, so nothing here is a
 * security check.  It must never need privileges of its own.
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
#include "settings.h"

int main(int argc, char **argv);

static const char *config_path = TERN_SYSCONFDIR "/tern/tern.conf";

/* ternctl_usage - the synopsis on stderr, exit 2 */
static void
ternctl_usage(void)
{
	fprintf(stderr, "usage: ternctl [-c config] command\n"
	    "commands:\n"
	    "  status      is tern running, and its processes\n"
	    "  queue       list the queued messages and their recipients\n"
	    "  flush       retry every deferred delivery now\n"
	    "  rebuild     put queue files the index does not name back "
	    "into it\n"
	    "  reload      reread the configuration\n"
	    "  stop        stop tern gracefully\n"
	    "  config [-n] print the effective settings (-n: only those "
	    "changed)\n");
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

/* ternctl_config - "config [-n]": the settings as ternd would see them */
static int
ternctl_config(const struct settings *s, int argc, char **argv)
{
	int only_changed = 0;

	if (argc == 2 && strcmp(argv[1], "-n") == 0)
		only_changed = 1;
	else if (argc != 1)
		ternctl_usage();
	settings_print(stdout, s, only_changed);
	return fflush(stdout) == 0 ? 0 : 1;
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

/* ternctl_request - send cmd, print the answer; the exit status */
static int
ternctl_request(const char *spool, const char *cmd)
{
	char line[64], buf[8192];
	FILE *in;
	int fd, n, first = 1, status = 0;

	if ((fd = ternctl_connect(spool)) < 0)
		return 1;
	n = snprintf(line, sizeof(line), "%s\n", cmd);
	if (write(fd, line, (size_t)n) != n) {
		fprintf(stderr, "ternctl: write: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	if ((in = fdopen(fd, "r")) == NULL) {
		close(fd);
		return 1;
	}
	while (fgets(buf, sizeof(buf), in) != NULL) {
		if (first) {
			first = 0;
			if (strcmp(buf, "ok\n") == 0)
				continue;
			fprintf(stderr, "ternctl: %s", buf);
			status = 1;
			continue;
		}
		/* Listing lines start with a queue ID or spaces: this is
		 * ternd saying the answer stopped short. */
		if (strncmp(buf, "error: ", 7) == 0) {
			fprintf(stderr, "ternctl: %s", buf);
			status = 1;
			continue;
		}
		fputs(buf, stdout);
	}
	fclose(in);
	if (first) {
		fprintf(stderr, "ternctl: ternd closed the connection without "
		    "an answer\n");
		return 1;
	}
	if (status == 0 && strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "queue") != 0 && strcmp(cmd, "rebuild") != 0)
		printf("ternctl: %s requested\n", cmd);
	return status;
}

int
main(int argc, char **argv)
{
	struct settings s;
	int ch, problems = 0;
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
	if (settings_load(&s, config_path, 0, ternctl_report,
	    &problems) != 0 && strcmp(cmd, "config") != 0)
		return 1;
	if (strcmp(cmd, "config") == 0) {
		int r = ternctl_config(&s, argc, argv);

		settings_free(&s);
		return problems > 0 ? 1 : r;
	}
	if (argc != 1 || (strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "queue") != 0 && strcmp(cmd, "flush") != 0 &&
	    strcmp(cmd, "rebuild") != 0 &&
	    strcmp(cmd, "reload") != 0 && strcmp(cmd, "stop") != 0))
		ternctl_usage();
	ch = ternctl_request(s.spool_dir, cmd);
	settings_free(&s);
	return ch;
}
