/*
 * smtp_tls_check - the part of "ternd -n" and "ternctl check" about
 * outbound TLS (tern_check.h): the CA certificates, smtp_tls_policy_map,
 * and where a relay password would go without a verified certificate.
 */
#ifndef TERN_SMTP_TLS_CHECK_H
#define TERN_SMTP_TLS_CHECK_H

#include "settings.h"
#include "tern_check.h"

/*
 * smtp_tls_check - report an smtp_tls_CAfile or _CApath that cannot be
 * read, an smtp_tls_policy_map that cannot be opened and each of its
 * entries that does not parse (its mail would be deferred); warn when
 * smtp_sasl_password_maps is set and the level for the relayhost (or,
 * without one, the global level) is below verify.
 */
void smtp_tls_check(const struct settings *s, const struct tern_check *c);

#endif
