/*
 * sendmail_addr - the addresses sendmail is given: command-line
 * arguments, -f, the To/Cc/Bcc fields of a message (-t), MAIL and RCPT
 * of -bs.  Each becomes the canonical form the queue stores (addr.h),
 * qualified with myorigin when it has no domain, as Postfix's local
 * submissions are.  Pure functions: no I/O.
 */
#ifndef TERN_SENDMAIL_ADDR_H
#define TERN_SENDMAIL_ADDR_H

#include <stddef.h>

#include "addr.h"

/* Called for each address of a list: the addr-spec, not NUL-terminated. */
typedef int (*sendmail_addr_fn)(const char *addr, size_t len, void *arg);

/*
 * sendmail_addrlist_each - call fn for each address in the RFC 5322
 * address list s[0..len): "Name <a@b>", a bare addr-spec, groups
 * ("name: a, b;"), with comments and quoted strings read as RFC 5322
 * reads them and white space outside quotes dropped; a route in an
 * angle address ("<@x:a@b>") is dropped.  Stops when fn returns
 * non-zero and returns that; -1 when the list is malformed (a quote,
 * comment or angle bracket left open, or an address longer than
 * ADDR_TEXT_MAX).  Empty members are skipped.
 */
int sendmail_addrlist_each(const char *s, size_t len, sendmail_addr_fn fn,
    void *arg);

/*
 * sendmail_addr_canon - the addr-spec s[0..len) (surrounding < > are
 * allowed) in canonical form (addr_format) in out, with "@origin"
 * appended when it has no domain.  0, or -1 with a reason in *why.
 */
int sendmail_addr_canon(const char *s, size_t len, const char *origin,
    char *out, size_t outsize, const char **why);

#endif
