/*
 * queue_list - the queue listings behind "ternctl queue" (Postfix mailq
 * format, or one JSON object a message like "postqueue -j").
 */
#ifndef TERN_QUEUE_LIST_H
#define TERN_QUEUE_LIST_H

#include <stdint.h>

#include "ipc.h"

struct sched_msg;

/*
 * queue_list_send - queue on c the listing of the messages that
 * visible(sm, arg) allows, as MSG_QUEUED_QUEUE_ENTRY lines with request
 * id id (JSON lines with json set); the caller ends the answer.
 */
void queue_list_send(struct ipc_conn *c, uint32_t id, int json,
    int (*visible)(const struct sched_msg *sm, void *arg), void *arg);

/* queue_list_size - the message's size in octets, as listed */
uint64_t queue_list_size(const struct sched_msg *sm);

/* queue_list_rcpt - recipient i's address as listed, in buf */
const char *queue_list_rcpt(const struct sched_msg *sm, uint32_t i,
    char *buf, size_t size);

#endif
