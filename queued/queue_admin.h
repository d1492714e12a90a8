/*
 * queue_admin - queue administration for ternctl: listing, show, hold,
 * release, delete, requeue, flush of some messages, and the counters.
 */
#ifndef TERN_QUEUE_ADMIN_H
#define TERN_QUEUE_ADMIN_H

#include <stdint.h>

#include "ipc.h"

/*
 * queue_admin_request - do the MSG_MASTER_QUEUE_ADMIN m (from ternd on
 * c) and answer on c with MSG_QUEUED_QUEUE_ENTRY lines, then
 * MSG_QUEUED_QUEUE_END, all with m's request id.  A request that does
 * not decode is logged and answered with an error line.
 */
void queue_admin_request(struct ipc_conn *c, struct ipc_msg *m);

/*
 * queue_admin_line - one line of an answer (cut to MSG_QUEUE_LINE_MAX);
 * more: the line goes on in the next call (ternd joins them).
 */
void queue_admin_line(struct ipc_conn *c, uint32_t id, const char *text,
    int more);

#endif
