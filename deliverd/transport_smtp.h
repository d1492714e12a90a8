/*
 * transport_smtp - what the smtp transport's process machinery (a
 * connection process per open connection, transport_smtp.c) offers the
 * lmtp transport, which runs on it with a connect step of its own.
 */
#ifndef TERN_TRANSPORT_SMTP_H
#define TERN_TRANSPORT_SMTP_H

#include <sys/types.h>

#include "ipc.h"
#include "smtp_client.h"

/*
 * smtp_connect_fn - in a connection process: open a connection to
 * nexthop (as queued named it in the job of message qid) into c, greeted
 * and ready for a transaction, as tls_mode (enum smtp_tls_mode,
 * smtp_requiretls.h) demands.  0, or -1 with why in r (code 5xx for a
 * permanent failure) and the site status in *site.
 */
typedef int smtp_connect_fn(struct smtp_conn *c, const char *qid,
    const char *nexthop, int tls_mode, struct smtp_reply *r, int *site);

/*
 * smtp_transport_share - for another transport's setup: the connection
 * processes forked from now on connect with connect instead of the smtp
 * route (MX lookup, EHLO, STARTTLS, AUTH).
 */
void smtp_transport_share(smtp_connect_fn *connect);

/* The smtp transport's verbs (deliverd.h), for a transport that shares
 * them. */
void smtp_job(struct ipc_msg *m);
int smtp_poll(void);
void smtp_events(void *arg, short revents);
void smtp_reaped(pid_t pid, int wstatus);
int smtp_busy(void);
void smtp_stop(void);

#endif
