/*
 * smtp_session - the SMTP server state machine for one client connection.
 *
 * Runs one session to its end, blocking, with every read bounded by the
 * configured timeouts.  It asks lookupd about recipients and queued for a
 * new message file, and answers 250 after DATA only when queued says the
 * message is durable.  Never trusts the client: every reply is decided by
 * the parsers' verdicts and the configured limits.
 */
#ifndef TERN_SMTP_SESSION_H
#define TERN_SMTP_SESSION_H

#include <sys/socket.h>

#include <openssl/ssl.h>

#include "dns.h"
#include "envelope.h"
#include "fsspace.h"
#include "ipc.h"
#include "settings.h"

/* The listener a connection came in on. */
enum smtp_listener_kind {
	LISTENER_SMTP = 0,
	LISTENER_SUBMISSION = 1,	/* 587: STARTTLS, then AUTH before MAIL */
	LISTENER_SUBMISSIONS = 2,	/* 465: implicit TLS (RFC 8314) */
};

struct smtp_server {
	const struct settings	*set;
	struct ipc_conn		*queued;
	struct ipc_conn		*lookupd;
	uint32_t		 next_reqid;
	SSL_CTX			*tls;		/* NULL: no TLS configured */
	struct ipc_conn		*master;	/* to report refusals */
	/* auth_failure_report - when not NULL, called with the client's
	 * address on each failed AUTH before the client is answered */
	void			(*auth_failure_report)(const char *addr);
	uint32_t		 auth_failures;	/* the client's, before this
						   session (from ternd) */
	/* auth_failures_fetch - when not NULL, auth_failures is not known
	 * yet: the session calls it once, at its first AUTH, for the
	 * number */
	uint32_t		(*auth_failures_fetch)(void);
	const struct dns_config	*dns;		/* NULL: no client name
						   lookups */
	struct fsspace		*space;		/* the spool's file system,
						   for queue_minfree; NULL:
						   not checked at MAIL */
	/* The file queued handed out with the last COMMITTED_NEXT, for
	 * this worker's next message (this session's or a later one's);
	 * next_fd -1: none, the next DATA asks with an OPEN.  Owned by the
	 * worker; queued removes the file when the worker goes. */
	int			 next_fd;
	char			 next_qid[QID_MAX];
};

/*
 * smtp_session_run - serve the client on fd (a connected socket, closed
 * by the caller) until QUIT, EOF, timeout or an error limit.
 */
void smtp_session_run(struct smtp_server *srv, int fd,
    const struct sockaddr *peer, socklen_t peerlen,
    enum smtp_listener_kind kind);

/*
 * smtp_session_release - give the pages the last sessions wrote back to
 * the kernel (zmem.h).  smtp_session_run keeps them between sessions, as
 * faulting them in again costs more than the session's own work at a
 * high connection rate; a worker calls this once it has waited a while
 * for its next client, so that an idle worker holds little.
 */
void smtp_session_release(void);

/* smtp_session_holds_pages - 1 while the pages of the sessions served
 * since the last smtp_session_release() are held, else 0 */
int smtp_session_holds_pages(void);

#endif
