/*
 * virtual_path - the mailbox paths of virtual_mailbox_map, checked.
 *
 * A virtual mailbox is named in virtual_mailbox_map by a path relative
 * to virtual_mailbox_base ("example.com/bob/"; a trailing '/' means a
 * Maildir).  Map contents are untrusted: lookupd checks a path before it
 * hands it on, and deliverd checks it again before it opens anything.
 *
 * On the way from lookupd through queued to deliverd, a virtual mailbox
 * travels as a RESOLVE_LOCAL target (msg.h) holding its path: a mailbox
 * user name never contains a '/', and a virtual mailbox path always
 * does, so one never passes for the other (virtual_path_is).
 */
#ifndef TERN_VIRTUAL_PATH_H
#define TERN_VIRTUAL_PATH_H

#include <stddef.h>

/* Octets in a path from the map: a queue target holds it
 * (ADDR_TEXT_MAX), with room to spare under PATH_MAX. */
#define VIRTUAL_PATH_MAX	256

/* virtual_path_is - target (a RESOLVE_LOCAL target) is a virtual mailbox */
int virtual_path_is(const char *target);

/*
 * virtual_path_check - 0 when path is a safe Maildir path relative to
 * virtual_mailbox_base: not empty, at most VIRTUAL_PATH_MAX octets, not
 * absolute, each component neither empty, "." nor "..", nor starting
 * with '.', no control characters or backslashes, and ending in '/'.
 * Else -1 with why (a static string).  Symbolic links are deliverd's
 * check (virtual_path_open); this one needs no file system.
 */
int virtual_path_check(const char *path, const char **why);

#endif
