/*
 * myaddr - this host's own addresses, so that mail is never sent back to
 * the server it comes from.
 *
 * smtpd refuses an address literal that names this host (user@[our
 * address]); the smtp transport of deliverd never connects to one of
 * its own listening address:ports, whatever MX records, a relayhost or
 * an address literal say.  The addresses are read once, before the
 * process changes root: the listen settings (host names resolved), the
 * interfaces' addresses (getifaddrs), and the loopback and unspecified
 * addresses, which always reach this host.
 */
#ifndef TERN_MYADDR_H
#define TERN_MYADDR_H

#include <sys/socket.h>

#include "settings.h"

/* Addresses kept from interfaces and listen settings together. */
#define MYADDR_MAX	256

/*
 * myaddr_load - read the interfaces' addresses and the addresses and
 * ports of smtp_listen, submission_listen and submissions_listen of s
 * (host names resolved now).  Replaces what an earlier call read.
 * Returns the number of entries kept.
 */
int myaddr_load(const struct settings *s);

/*
 * myaddr_address_ours - true when the address a (af AF_INET, 4 octets;
 * AF_INET6, 16 octets, IPv4-mapped ones taken as IPv4) reaches this
 * host: loopback, unspecified, an interface's or a listen address.
 */
int myaddr_address_ours(int af, const void *a);

/*
 * myaddr_listener_ours - true when a connection to sa (address and
 * port) would reach one of this host's SMTP listeners: a listen entry
 * with that port and that address, or a wildcard entry with that port
 * and an address of ours.
 */
int myaddr_listener_ours(const struct sockaddr *sa);

/*
 * myaddr_literal_ours - true when domain is an address literal
 * ("[192.0.2.1]", "[IPv6:2001:db8::1]") naming an address of ours.
 */
int myaddr_literal_ours(const char *domain);

#endif
