/*
 * deadline - absolute time limits for network I/O, and waiting on one
 * socket until one passes.
 *
 * Why deadlines and not timeouts: a timeout handed to each poll() starts
 * again whenever an octet arrives, so a peer that sends one octet a
 * second holds the connection, and the process serving it, forever.  A
 * deadline is fixed once, when the wait for a whole reply, command line
 * or handshake begins; every wait inside it gets only what is left.
 *
 * Deadlines are milliseconds on CLOCK_MONOTONIC (never stepped by the
 * system clock).  Used by smtpd's smtp_io, deliverd's smtp client and
 * tls_client.
 */
#ifndef TERN_DEADLINE_H
#define TERN_DEADLINE_H

/* deadline_now - milliseconds on CLOCK_MONOTONIC */
long long deadline_now(void);

/* deadline_in - the deadline ms milliseconds from now */
long long deadline_in(long long ms);

/* deadline_passed - 1 when the deadline is now or past */
int deadline_passed(long long deadline);

/*
 * deadline_poll - wait until fd is ready for events (POLLIN, POLLOUT) or
 * the deadline passes, whichever is first; a signal does not extend it.
 * 1 ready (or in error, for the caller's next call to find out), 0 the
 * deadline has passed (errno ETIMEDOUT), -1 poll failed.
 */
int deadline_poll(int fd, short events, long long deadline);

#endif
