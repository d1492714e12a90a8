/*
 * resolve - asking lookupd where recipients' mail goes, without waiting
 * for the answer.
 *
 * The scheduler sends MSG_LOOKUP_RESOLVE requests, pipelined on queued's
 * channel to lookupd, each with a request id of its own; the answers
 * arrive in queued's poll loop and are handed back, by id, to whoever
 * asked.  At most RESOLVE_MAX_OUTSTANDING requests are outstanding.  A
 * request that is not answered within RESOLVE_TIMEOUT_MS fails as a
 * temporary lookup failure, and lookupd counts as stuck (no room for new
 * requests) until it answers anything again.
 *
 * This module knows nothing of queued's globals, so that the unit tests
 * can drive it with a socket pair and a clock of their own.
 */
#ifndef TERN_RESOLVE_H
#define TERN_RESOLVE_H

#include <stdint.h>

#include "addr.h"
#include "ipc.h"
#include "msg_codec.h"

/* lookupd answers from memory and local files in milliseconds; a
 * longer silence means it is stuck, and queued must not stall with it. */
#define RESOLVE_TIMEOUT_MS	(10 * 1000)
#define RESOLVE_MAX_OUTSTANDING	256

/* One place a recipient's mail goes. */
struct resolved {
	uint32_t	kind;		/* enum resolve_kind */
	char		target[ADDR_TEXT_MAX];
};

/*
 * The answer to the request that owner asked with tag: a verdict (enum
 * lookup_verdict; LOOKUP_TEMPFAIL when lookupd did not answer) and n
 * targets in t, which the callee now owns (free(); NULL when n is 0).
 */
typedef void resolve_done_fn(void *owner, uint32_t tag, uint32_t verdict,
    struct resolved *t, uint32_t n);

/*
 * resolve_ask - send a request for addr on c (the answer is expected on
 * the same channel), due by now_ms + RESOLVE_TIMEOUT_MS; done(owner, tag,
 * ...) receives the answer or the failure, exactly once.  0, or -1 when
 * RESOLVE_MAX_OUTSTANDING requests are already outstanding.
 */
int resolve_ask(struct ipc_conn *c, const char *addr, resolve_done_fn *done,
    void *owner, uint32_t tag, uint64_t now_ms);
/*
 * resolve_answer - a MSG_LOOKUPD_RESOLVED that arrived on c.  An answer
 * to a request that is no longer outstanding (it timed out, or went to an
 * earlier channel) is dropped.  0, or -1 when the frame does not decode:
 * it is logged, and the request it answers fails as a temporary lookup
 * failure; lookupd stays connected.
 */
int resolve_answer(const struct ipc_conn *c, struct ipc_msg *m);
/* resolve_expire - fail the requests overdue at now_ms; how many */
uint32_t resolve_expire(uint64_t now_ms);
/* resolve_chan_gone - channel c closed: fail every request sent on it */
void resolve_chan_gone(const struct ipc_conn *c);
/* resolve_room - how many requests may be sent now (0 while stuck) */
uint32_t resolve_room(void);
/* resolve_outstanding - requests waiting for an answer */
uint32_t resolve_outstanding(void);
/* resolve_timeout_ms - time until the next request is overdue, -1 none */
int resolve_timeout_ms(uint64_t now_ms);

#endif
