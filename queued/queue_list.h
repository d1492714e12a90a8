/*
 * queue_list - the queue listing behind "ternctl queue".
 */
#ifndef TERN_QUEUE_LIST_H
#define TERN_QUEUE_LIST_H

#include <stdint.h>

#include "ipc.h"

/*
 * queue_list_send - queue on c one MSG_QUEUED_QUEUE_ENTRY per line of the
 * listing, then MSG_QUEUED_QUEUE_END, all with request id id.
 */
void queue_list_send(struct ipc_conn *c, uint32_t id);

#endif
