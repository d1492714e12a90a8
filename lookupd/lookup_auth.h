/*
 * lookup_auth - credential checks for SMTP AUTH and the sender login
 * policy, done in lookupd so that smtpd (which faces the network) never
 * holds a password hash.
 *
 * Called by lookupd.c for MSG_LOOKUP_AUTH and MSG_LOOKUP_SENDER_LOGIN,
 * and by unit tests with compiled maps.  Must never log a password, never
 * let an unknown login answer faster than a wrong password, and never
 * turn a map read error into "denied" (that is AUTH_TEMPFAIL).
 */
#ifndef TERN_LOOKUP_AUTH_H
#define TERN_LOOKUP_AUTH_H

#include "msg.h"
#include "settings.h"

struct lookup_auth;

/*
 * lookup_auth_open - open smtpd_auth_passwd_map and smtpd_sender_login_map
 * of s (kept, not copied: s must outlive the result).  Never fails: a map
 * that cannot be opened yet is retried at each lookup.  Freed with
 * lookup_auth_close().
 */
struct lookup_auth *lookup_auth_open(const struct settings *s);
/* lookup_auth_close - close the maps and free (NULL is fine) */
void lookup_auth_close(struct lookup_auth *a);

/*
 * lookup_auth_verify - is pass the password of login?  The hash from the
 * passwd map is checked with crypt(3) and compared in constant time; an
 * unknown login is checked against a dummy hash, so it costs the same.
 */
enum auth_verdict lookup_auth_verify(struct lookup_auth *a,
    const char *login, const char *pass);

/*
 * lookup_auth_sender - may the authenticated login use sender (addr_format
 * form; "" is the null sender, always allowed)?  When the sender login
 * map lists sender, only the logins it names may; otherwise the login
 * may use login@D for each local domain D (login compared without case).
 */
enum auth_verdict lookup_auth_sender(struct lookup_auth *a,
    const char *sender, const char *login);

/* lookup_auth_ct_equal - a == b, in time that depends only on a's length */
int lookup_auth_ct_equal(const char *a, const char *b);

#endif
