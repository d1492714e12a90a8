/*
 * virtual_check - the part of "ternd -n" and "ternctl check" about
 * virtual domains (tern_check.h): the base directory, the two maps
 * compiled, and every virtual_mailbox_map entry's path.
 */
#ifndef TERN_VIRTUAL_CHECK_H
#define TERN_VIRTUAL_CHECK_H

#include "settings.h"
#include "tern_check.h"

/*
 * virtual_check - report a missing virtual_mailbox_base, a map that
 * is missing or cannot be read, and each virtual_mailbox_map entry that
 * lookupd would refuse (virtual_path_check); warn when a map's .db is
 * missing or older than its source.
 */
void virtual_check(const struct settings *s, const struct tern_check *c);

#endif
