/*
 * daemon - start-up shared by every child of ternd.
 *
 * Parses the command line ternd gives a child, starts logging and loads
 * the configuration.  ternd checked the file before starting anyone, so a
 * problem here means the file changed underneath us: fatal, and ternd's
 * restart backoff takes over.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "fdlimit.h"
#include "log.h"

static void
daemon_report(const char *file, int line, const char *msg, void *arg)
{
	int *count = arg;

	(*count)++;
	if (line > 0)
		log_error("%s:%d: %s", file, line, msg);
	else
		log_error("%s: %s", file, msg);
}

/* daemon_init - parse the child command line, start logging, load config */
void
daemon_init(int argc, char **argv, const char *name, struct daemon_opts *o,
    struct settings *s)
{
	int ch, problems = 0;

	memset(o, 0, sizeof(*o));
	o->config_path = TERN_SYSCONFDIR "/tern/tern.conf";
	while ((ch = getopt(argc, argv, "bc:dvL:t:z")) != -1) {
		switch (ch) {
		case 'z':
			o->pool = 1;
			break;
		case 'b':
			o->busy_responder = 1;
			break;
		case 'c':
			o->config_path = optarg;
			break;
		case 'd':
			o->foreground = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case 'L':
			o->listen_kinds = optarg;
			break;
		case 't':
			o->transport = optarg;
			break;
		default:
			fprintf(stderr, "usage: tern-%s -c config [-bdv] "
			    "[-L kinds] [-t transport]\n", name);
			exit(1);
		}
	}
	log_init(name, o->foreground);
	log_set_verbose(o->verbose);
	signal(SIGPIPE, SIG_IGN);
	if (settings_load(s, o->config_path, 0, daemon_report, &problems) != 0)
		fatalx("%s: configuration has errors", o->config_path);
}

/* daemon_reload - reread the configuration; s is unchanged on error */
int
daemon_reload(const struct daemon_opts *o, struct settings *s)
{
	struct settings fresh;
	int problems = 0;

	memset(&fresh, 0, sizeof(fresh));
	if (settings_load(&fresh, o->config_path, 0, daemon_report,
	    &problems) != 0) {
		settings_free(&fresh);
		log_warn("%s: configuration has errors; keeping the old one",
		    o->config_path);
		return -1;
	}
	settings_free(s);
	*s = fresh;
	log_info("reloaded configuration from %s", o->config_path);
	fd_limit_reload(s);
	return 0;
}
