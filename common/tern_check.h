/*
 * tern_check - the checks behind "ternd -n" and "ternctl check": what
 * would stop tern from starting, or make it run badly, found before it
 * does.  Each problem is one line through report; warn gets what is
 * worth knowing but not wrong.
 */
#ifndef TERN_CHECK_H
#define TERN_CHECK_H

#include "settings.h"

struct tern_check {
	void	(*report)(const char *msg, void *arg);	/* a problem */
	void	(*warn)(const char *msg, void *arg);	/* worth a look */
	void	 *arg;
	int	  strict;	/* ternctl check: stale maps are problems */
};

/*
 * tern_check_config - the accounts (tern_user, tern_queue_user,
 * tern_admin_group), the daemon programs, TLS (key and certificate
 * readable, and matching), mailbox_base, compiled alias maps not older
 * than their source, virtual domains (virtual_check.h), outbound TLS
 * (smtp_tls_check.h), the LMTP socket of mailbox_transport (a warning).
 * Accounts are checked only as root.
 */
void tern_check_config(const struct settings *s, const struct tern_check *c);

/*
 * tern_check_spool - the spool's directories against their owners and
 * modes (spool_layout.h), when the spool exists (ternd creates what is
 * missing at start).
 */
void tern_check_spool(const struct settings *s, const struct tern_check *c);

#endif
