/*
 * lookup_virtual - the two virtual maps of lookupd, one step at a time:
 * virtual_alias_map (what an address is rewritten to) and
 * virtual_mailbox_map (where a virtual user's Maildir is).
 *
 * The recursion (rewriting the results again, loops, depth) is
 * lookup_rcpt.c's: this module answers single lookups, so that each
 * rule (exact address before @domain, a path checked before it is
 * handed on) sits in one place.
 */
#ifndef TERN_LOOKUP_VIRTUAL_H
#define TERN_LOOKUP_VIRTUAL_H

#include <stddef.h>

#include "settings.h"

/* The outcome of a lookup that may fail for a reason a retry can fix. */
enum found {
	FOUND_NO = 0,
	FOUND_YES = 1,
	FOUND_ERROR = -1,
	FOUND_BAD = -2,		/* an entry that must not be used (logged) */
};

/* Both maps, opened from settings; opaque. */
struct lookup_virtual;

/*
 * lookup_virtual_open - follow virtual_alias_map and virtual_mailbox_map
 * (either may be empty: no such map).  Never fails; a map whose files
 * cannot be read fails each lookup temporarily (map_source.h).
 */
struct lookup_virtual *lookup_virtual_open(const struct settings *s);
/* lookup_virtual_reload - as lookup_virtual_open, keeping the maps old
 * already follows open (see lookup_aliases_reload); old is freed */
struct lookup_virtual *lookup_virtual_reload(struct lookup_virtual *old,
    const struct settings *s);
/* lookup_virtual_close - close both maps and free (NULL is fine) */
void lookup_virtual_close(struct lookup_virtual *v);

/* lookup_virtual_has_alias - a virtual_alias_map is configured */
int lookup_virtual_has_alias(const struct lookup_virtual *v);

/*
 * lookup_virtual_alias - the value of key ("local@domain" or "@domain")
 * in virtual_alias_map into val.  Which key to ask first is the
 * caller's rule (lookup_rcpt.c: the exact address wins).
 */
enum found lookup_virtual_alias(struct lookup_virtual *v, const char *key,
    char *val, size_t size);

/*
 * lookup_virtual_domain_alias - domain has an "@domain" entry in
 * virtual_alias_map (the whole domain is rewritten: it counts as ours)
 */
enum found lookup_virtual_domain_alias(struct lookup_virtual *v,
    const char *domain);

/*
 * lookup_virtual_mailbox - the Maildir path of addr in virtual_mailbox_map
 * into path, checked (virtual_path_check).  An entry with an unsafe path
 * is FOUND_BAD, logged with its reason.
 */
enum found lookup_virtual_mailbox(struct lookup_virtual *v, const char *addr,
    char *path, size_t size);


#endif
