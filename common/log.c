/*
 * log - Postfix-compatible logging.  See log.h.
 *
 * In the foreground, lines go to stderr prefixed with a time stamp and
 * "tern/NAME[PID]: ", the same shape syslog gives them, so that tests and
 * log tools can read both.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <vis.h>

#include "log.h"

static int log_foreground = 1;
static int log_verbose;
static char log_ident[64] = "tern";
static const char *log_shortname = "tern";

/* log_init - start logging as "tern/NAME" */
void
log_init(const char *name, int foreground)
{
	log_shortname = name;
	snprintf(log_ident, sizeof(log_ident), "tern/%s", name);
	log_foreground = foreground;
	if (!foreground)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_also_stderr - copy syslog lines to stderr as well */
void
log_also_stderr(int on)
{
	if (log_foreground)
		return;
	closelog();
	openlog(log_ident, LOG_PID | LOG_NDELAY | (on ? LOG_PERROR : 0),
	    LOG_MAIL);
}

/* log_set_verbose - enable log_debug() output */
void
log_set_verbose(int verbose)
{
	log_verbose = verbose;
}

/* log_name - the process name given to log_init() */
const char *
log_name(void)
{
	return log_shortname;
}

static void
log_vwrite(int prio, const char *prefix, const char *fmt, va_list ap)
{
	char msg[4096];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_foreground) {
		static _Thread_local char stamp[32];
		static _Thread_local time_t stamp_time = -1;
		time_t now = time(NULL);
		struct tm tm;

		/* Many lines share a second: format its stamp once. */
		if (now != stamp_time) {
			localtime_r(&now, &tm);
			strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
			stamp_time = now;
		}
		/* One write(2) per line keeps lines whole between processes. */
		char line[4400];
		int n = snprintf(line, sizeof(line), "%s %s[%ld]: %s%s\n", stamp,
		    log_ident, (long)getpid(), prefix, msg);
		if (n > 0) {
			size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
			if (write(STDERR_FILENO, line, len) < 0) {
				/* nowhere left to report it */
			}
		}
	} else {
		syslog(prio, "%s%s", prefix, msg);
	}
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_INFO, "", fmt, ap);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_WARNING, "warning: ", fmt, ap);
	va_end(ap);
}

void
log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_ERR, "error: ", fmt, ap);
	va_end(ap);
}

static void log_crit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
log_crit(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, "fatal: ", fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(LOG_DEBUG, "", fmt, ap);
	va_end(ap);
}

static void
log_vwrite_fatal(const char *msg, const char *err)
{
	if (err != NULL)
		log_crit("%s: %s", msg, err);
	else
		log_crit("%s", msg);
}

void
fatal(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_vwrite_fatal(msg, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_vwrite_fatal(msg, NULL);
	exit(1);
}

/* log_vis - vis-encode untrusted bytes for logging */
char *
log_vis(char *dst, size_t dstsize, const char *src, size_t len)
{
	size_t out = 0;

	if (dstsize == 0)
		return dst;
	dst[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		char enc[5];

		vis(enc, (unsigned char)src[i], VIS_CSTYLE | VIS_NL | VIS_TAB | VIS_OCTAL,
		    i + 1 < len ? src[i + 1] : '\0');
		size_t elen = strlen(enc);
		if (out + elen + 4 > dstsize) {
			if (dstsize >= 4)
				strlcpy(dst + (out < dstsize - 4 ? out : dstsize - 4), "...", 4);
			return dst;
		}
		memcpy(dst + out, enc, elen);
		out += elen;
		dst[out] = '\0';
	}
	return dst;
}
