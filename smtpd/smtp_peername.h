/*
 * smtp_peername - the name smtpd uses for a client: the reverse (PTR)
 * name of its address, but only when that name resolves back to the
 * address (forward-confirmed), as Postfix does; "unknown" otherwise.
 *
 * Called by smtp_session.c once per session, after accept and before the
 * greeting.  It must never wait longer than the budget it is given, and
 * never return a name that did not pass dns_hostname_valid() and the
 * forward check: the name reaches logs, Received: and the envelope.
 */
#ifndef TERN_SMTP_PEERNAME_H
#define TERN_SMTP_PEERNAME_H

#include <sys/socket.h>
#include <stddef.h>

#include "dns.h"

/*
 * smtp_peername_lookup - the confirmed name of the client at sa (addr is
 * its text form, for log lines) into name (size octets), asking the
 * servers of c and giving up after budget_ms in all.  Returns 1 with the
 * name, 0 with "unknown" in name.
 */
int smtp_peername_lookup(const struct dns_config *c, const struct sockaddr *sa,
    const char *addr, long budget_ms, char *name, size_t size);

/*
 * smtp_peername_hosts_load - read a hosts(5) file (before the chroot) so
 * that smtp_peername_lookup() names the addresses it lists without DNS,
 * as the system resolver does ("files" before "dns").  Only the first
 * name of an address's first line counts.  Returns the number of
 * entries kept, or -1 when the file cannot be read (then none are).
 */
int smtp_peername_hosts_load(const char *path);

/*
 * smtp_peername_confirmed - true when the A (af AF_INET) or AAAA records
 * of ans include the address a (4 or 16 octets).
 */
int smtp_peername_confirmed(const struct dns_answer *ans, int af,
    const void *a);

#endif
