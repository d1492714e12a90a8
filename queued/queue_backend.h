/*
 * queue_backend - what a queue-store backend provides to queue_store.c.
 *
 * Only queue_store.c calls through this table; backends never call each
 * other.  queue_store.c has already checked the qid arguments (non-empty,
 * shorter than QID_MAX) and that no change is attempted from inside an
 * iteration.  Shared semantics every backend must keep:
 *   - message_add fails (-1) when the qid exists, or when two recipient
 *     records share an index; nothing is added then.
 *   - message_update and rcpt_update fail when the message does not exist;
 *     rcpt_update adds the recipient when its index is new.
 *   - message_remove of an absent message succeeds (removal is idempotent,
 *     so a retry after a crash is harmless).
 *   - message_get and iterate return recipients in index order, messages
 *     in strcmp() order of their qids.
 *   - a failed call sets errno (ENOSPC or EDQUOT for a full disk) and
 *     leaves the store as it was before the call; the store stays usable
 *     unless broken() says otherwise.
 * Backend handles are opaque (void *) to the dispatcher.
 */
#ifndef TERN_QUEUE_BACKEND_H
#define TERN_QUEUE_BACKEND_H

#include <stddef.h>

#include "queue_store.h"

struct queue_backend {
	const char	*name;
	/* open - a new handle, or NULL with a reason in err */
	void	*(*open)(const char *dir, char *err, size_t errsize);
	void	 (*close)(void *h);
	int	 (*message_add)(void *h, const struct queue_msg_rec *msg,
		    const struct queue_rcpt_rec *rcpts, size_t nrcpt);
	int	 (*message_update)(void *h, const struct queue_msg_rec *msg);
	int	 (*rcpt_update)(void *h, const char *qid,
		    const struct queue_rcpt_rec *rcpt);
	int	 (*message_remove)(void *h, const char *qid);
	int	 (*message_get)(void *h, const char *qid,
		    struct queue_msg_rec *msg, struct queue_rcpt_rec **rcpts,
		    size_t *nrcpt);
	int	 (*sync)(void *h);
	int	 (*iterate)(void *h, queue_store_iter_fn fn, void *arg);
	/* broken - 1 when no call can succeed until a restart */
	int	 (*broken)(void *h);
};

extern const struct queue_backend queue_backend_bdb;
extern const struct queue_backend queue_backend_ram;
/* Unit tests only: this many of the RAM backend's next message removals
 * fail with EIO (the index write that a full or failing disk refuses). */
extern int queue_ram_remove_failures;

#endif
