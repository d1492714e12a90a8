/*
 * log - Postfix-compatible logging to syslog (facility mail) or stderr.
 *
 * Every process calls log_init() once. Lines carry no trailing newline; the
 * caller formats the Postfix-style text ("QID: to=<...>, ...").  Anything a
 * peer sent must pass through log_vis() (or be vis-encoded) before it is
 * logged.  fatal() is the one way out for impossible states.
 */
#ifndef TERN_LOG_H
#define TERN_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* log_init - start logging as "tern/NAME"; foreground logs to stderr */
void log_init(const char *name, int foreground);
/*
 * log_also_stderr - while syslogging, copy lines to stderr too (ternd
 * before it detaches, so that an init system shows why a start failed)
 */
void log_also_stderr(int on);
/* log_set_verbose - enable log_debug() output */
void log_set_verbose(int verbose);
/* log_name - the name given to log_init() ("smtpd", ...) */
const char *log_name(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* fatal - log "fatal: MSG: strerror(errno)" and exit(1) */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* fatalx - log "fatal: MSG" and exit(1) */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * log_vis - vis-encode len bytes of untrusted data into dst (size dstsize),
 * always NUL-terminated, truncated with "..." when it does not fit.
 * Returns dst.
 */
char *log_vis(char *dst, size_t dstsize, const char *src, size_t len);

#endif
