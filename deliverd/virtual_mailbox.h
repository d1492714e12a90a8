/*
 * virtual_mailbox - open a virtual user's Maildir under
 * virtual_mailbox_base without leaving it.
 *
 * Called in the local transport's delivery process, after it has
 * switched to virtual_uid and virtual_gid (local_target_become); never
 * as root.
 */
#ifndef TERN_VIRTUAL_MAILBOX_H
#define TERN_VIRTUAL_MAILBOX_H

#include <stddef.h>

#include "maildir.h"

/*
 * virtual_mailbox_open - open the Maildir at path (relative, as
 * virtual_mailbox_map gave it, ending in '/') under base, creating it
 * and the directories on the way (mode 0700) when missing.  path is
 * checked again (virtual_path_check: no "..", no absolute path), and no
 * symbolic link under base is followed.  Returns enum deliver_status;
 * on failure err holds "x.y.z text".  Release with maildir_close.
 */
int virtual_mailbox_open(struct maildir *md, const char *base,
    const char *path, char *err, size_t errsize);

#endif
