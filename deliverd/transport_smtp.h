/*
 * transport_smtp - "tern-deliverd -t smtp": delivery to remote servers.
 */
#ifndef TERN_TRANSPORT_SMTP_H
#define TERN_TRANSPORT_SMTP_H

#include "daemon.h"
#include "settings.h"

/*
 * transport_smtp_main - set up (DNS configuration, TLS, maps), drop
 * privileges, serve MSG_QUEUED_DELIVER_SMTP jobs until stopped.  Returns
 * the exit status.
 */
int transport_smtp_main(struct daemon_opts *opts, struct settings *set);

#endif
