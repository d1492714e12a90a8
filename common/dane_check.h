/*
 * dane_check - the part of "ternd -n" and "ternctl check" about DANE
 * (tern_check.h): where the AD bit that dns_dnssec trusts comes from,
 * and a dane level that cannot work.
 */
#ifndef TERN_DANE_CHECK_H
#define TERN_DANE_CHECK_H

#include "settings.h"
#include "tern_check.h"

/*
 * dane_check - warn when dns_dnssec is on and a name server (of
 * dns_servers, else of /etc/resolv.conf) is not on a loopback address,
 * and when the dane level is set (globally or in smtp_tls_policy_map)
 * while dns_dnssec is off.
 */
void dane_check(const struct settings *s, const struct tern_check *c);

#endif
