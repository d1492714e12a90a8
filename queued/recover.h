/*
 * recover - bringing the queue back after a stop, a crash or the loss of
 * the index: the index is read into the schedule, and every queue file
 * the index does not name is examined and, when it is a whole message,
 * put back into the index.
 */
#ifndef TERN_RECOVER_H
#define TERN_RECOVER_H

#include <stddef.h>

/* What one pass over the queue files found. */
struct recover_stats {
	size_t	indexed;	/* messages the index named */
	size_t	missing;	/* ... whose file is missing */
	size_t	recovered;	/* files put back into the index */
	size_t	unfinished;	/* files whose writer died: removed */
	size_t	corrupt;	/* damaged files moved to corrupt/ */
	size_t	skipped;	/* files being written right now */
};

/*
 * recover_start - at start, before any peer is served: read the index
 * into the schedule, then recover the files it does not name.  When the
 * index cannot be opened or read, it is set aside (db/broken-TIME/) and
 * rebuilt from the files; a read failure half way ends queued (ternd
 * restarts it, and the next start rebuilds).  Returns the open store.
 */
struct queue_store *recover_start(const char *dbdir);

/*
 * recover_rebuild - "ternctl rebuild" while running: recover every queue
 * file the index does not name (files smtpd is still writing are left
 * alone).  Each recovered, removed or moved file is logged; *st says
 * how many.
 */
void recover_rebuild(struct recover_stats *st);

#endif
