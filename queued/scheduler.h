/*
 * scheduler - when each queued recipient is tried next, and the jobs that
 * carry them to the delivery agents.
 *
 * Messages wait in a binary heap ordered by their earliest due recipient,
 * so finding the next delivery costs O(log n), never a scan of the queue.
 * A message with a job in flight (or waiting for its destination), or
 * with recipients being resolved by lookupd, is out of the heap until its
 * jobs end.
 */
#ifndef TERN_SCHEDULER_H
#define TERN_SCHEDULER_H

#include <sys/types.h>
#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "ipc.h"
#include "queue_store.h"

/* What a recipient's result obliges us to tell the sender. */
enum notice_kind {
	NOTICE_NONE = 0,
	NOTICE_FAILED,		/* bounce (or expiry) */
	NOTICE_DELIVERED,	/* NOTIFY=SUCCESS, delivered here */
	NOTICE_RELAYED,		/* NOTIFY=SUCCESS, next hop lacks DSN */
};

struct sched_lookup;

/*
 * A recipient's index record as the scheduler keeps it in memory: the
 * fields of queue_rcpt_rec, with the texts on the heap and sized to fit
 * (never NULL; "" is one shared constant).  queue_rcpt_rec's fixed
 * buffers hold 1.3 KB, mostly empty: kept as they are, 100,000 deferred
 * messages would cost over 200 MB.  Set texts only with sched_text_set().
 */
struct sched_rcpt_rec {
	uint32_t	idx;
	uint32_t	state;		/* enum rcpt_state */
	uint32_t	attempts;
	uint32_t	kind;		/* enum rcpt_kind */
	uint32_t	parent;
	uint64_t	next_try;
	uint64_t	last_try;
	char		dsn[16];	/* last status "x.y.z" or "" */
	char		*addr;		/* see queue_rcpt_rec */
	char		*last_error;
	char		*relay;
	char		*delivered_to;	/* see queue_rcpt_rec */
};

/* The message's index record, likewise (sender on the heap). */
struct sched_msg_rec {
	char		qid[QID_MAX];
	uint64_t	arrival;
	uint32_t	nrcpt;
	uint32_t	flags;		/* QMSG_F_* */
	uint32_t	have_sender;
	char		*sender;	/* never NULL */
	uint32_t	have_size;
	uint64_t	size;
	uint32_t	uid;
};

/*
 * sched_text_set - replace the text *field (a sched_*_rec member) by s,
 * cut to max octets: the room the index record has for it.
 */
void sched_text_set(char **field, const char *s, size_t max);

struct sched_rcpt {
	struct sched_rcpt_rec	rec;
	/* Not yet stored: the record waits for its notice (notice.c). */
	uint8_t			notice;		/* enum notice_kind */
	uint8_t			expired;	/* failed by lifetime */
};

struct sched_msg {
	struct sched_msg_rec	 rec;		/* rec.nrcpt: the envelope's */
	struct sched_rcpt	*r;		/* n records, r[i].rec.idx == i */
	uint32_t		 n;
	uint32_t		 rcap;		/* room in r */
	double			 commit_time;	/* 0 when unknown */
	uint32_t		 npending;
	uint32_t		 nnotice;	/* records awaiting a notice */
	uint64_t		 due;
	size_t			 heap_idx;	/* SIZE_MAX when not in the heap */
	uint32_t		 nbusy;		/* jobs running or waiting, +1
						 * while a round is resolving */
	uint8_t			 unsaved;	/* a write of its records failed:
						 * the index lags (scheduler.c) */
	/* The current round's lookups (scheduler.c), while resolving. */
	struct sched_lookup	*lk;
	uint32_t		 nlk, lkcap;
	uint32_t		 nasked;	/* lookups not yet answered */
	TAILQ_ENTRY(sched_msg)	 ready;		/* answered, to dispatch */
	/* Loaded from the file while the message is being delivered. */
	struct envelope		*env;
	off_t			 body;		/* where the body starts */
	uint64_t		 body_len;	/* its octets (no trailer) */
	TAILQ_ENTRY(sched_msg)	 all;		/* every message */
};

/* sched_add - take a message with its index records (pending ones wait) */
void sched_add(const struct queue_msg_rec *msg,
    const struct queue_rcpt_rec *rcpts, size_t nrcpt, double commit_time);
/*
 * sched_run - start the jobs of rounds whose lookups are answered, then
 * (when start_new) every message that is due and fits the limits.  While
 * stopping, queued finishes what it began and starts nothing new.
 */
void sched_run(int start_new);
/* sched_timeout_ms - how long poll() may sleep before sched_run is due */
int sched_timeout_ms(void);
/*
 * sched_deliverd_input - a MSG_DELIVERD_* from the local deliverd;
 * sched_smtp_input - a MSG_DELIVERD_SMTP_* from the smtp or the lmtp
 * deliverd (from: only about that agent's own jobs).  0, or
 * -1 when the frame was rejected (logged; the agent stays connected).  A
 * rejected frame that still names its job and recipient is recorded as
 * well as it can be: a delivery made as made, anything else deferred.
 */
int sched_deliverd_input(struct ipc_msg *m);
struct queued_peer;
int sched_smtp_input(struct queued_peer *from, struct ipc_msg *m);
/* sched_lookupd_input - a MSG_LOOKUPD_RESOLVED from lookupd (see
 * resolve_answer); -1 when rejected (logged) */
int sched_lookupd_input(struct ipc_msg *m);
/* sched_lookupd_gone - a lookupd channel closed: its lookups defer */
void sched_lookupd_gone(struct queued_peer *p);
/* sched_smtp_ready - an smtp or lmtp deliverd is connected: start
 * waiting jobs */
void sched_smtp_ready(void);
/* sched_agent_gone - a delivery agent's channel closed: its jobs defer */
void sched_agent_gone(struct queued_peer *p);
/* sched_flush - make every waiting recipient due now, revive dead sites */
void sched_flush(void);
/* sched_after_sync - unlink the files of messages removed from the
 * index, now that their removal is durable */
void sched_after_sync(void);
/* sched_save_unsaved - write again the records the index lacks because
 * a write failed (a full disk); retried at a growing interval */
void sched_save_unsaved(void);
/* sched_unsaved - true while records or removals wait for the index */
int sched_unsaved(void);
/* sched_jobs - jobs in flight and rounds still resolving: work begun */
uint32_t sched_jobs(void);
/* sched_loaded - messages with their envelope in memory */
uint32_t sched_loaded(void);

/* sched_local_jobs - local jobs in flight to the local transport, and
 * waiting in queued for room (*waiting) */
uint32_t sched_local_jobs(uint32_t *waiting);
/* sched_count - messages known to the scheduler */
size_t sched_count(void);
/* sched_backoff - the wait before attempt number attempts+1 (seconds) */
uint64_t sched_backoff(uint32_t attempts, long min_backoff, long max_backoff,
    uint32_t random);
/* For queue_admin.c ("ternctl"): */
/* sched_msg_find - the message called qid, or NULL */
struct sched_msg *sched_msg_find(const char *qid);
/* sched_msg_due_now - its waiting recipients due now (unless held) */
void sched_msg_due_now(struct sched_msg *sm);
/* sched_msg_hold - hold (on 1) or release (on 0, and due now) */
void sched_msg_hold(struct sched_msg *sm, int on);
/* sched_msg_delete - out of the queue without delivery or notice; 0, or
 * -1 with errno EBUSY (jobs in flight), EAGAIN (the index lags), or the
 * index's error */
int sched_msg_delete(struct sched_msg *sm);
/* sched_busy - jobs run (or lookups are out) for sm */
int sched_busy(const struct sched_msg *sm);
/* sched_first, sched_next - every message known (for listings) */
struct sched_msg *sched_first(void);
struct sched_msg *sched_next(struct sched_msg *sm);

/* For notice.c, while sm->env is loaded: */
/*
 * sched_rcpt_owner - the "owner-NAME" address of the alias recipient i
 * came from (an RCPT_KIND_OWNER sibling): its envelope sender and where
 * its bounces go.  NULL when there is none.
 */
const char *sched_rcpt_owner(const struct sched_msg *sm, uint32_t i);

/* sched_rcpt_addr - the address of recipient i; NULL for a mailbox user */
const char *sched_rcpt_addr(const struct sched_msg *sm, uint32_t i);
/* sched_rcpt_notify - NOTIFY of recipient i (0 = not given) */
uint32_t sched_rcpt_notify(const struct sched_msg *sm, uint32_t i);
/* sched_rcpt_settled - store recipient i now that its notice is queued */
void sched_rcpt_settled(struct sched_msg *sm, uint32_t i);
/* sched_rcpt_unfail - its notice could not be queued: pending again */
void sched_rcpt_unfail(struct sched_msg *sm, uint32_t i);
/* sched_msg_store - rewrite the message record (flags) */
void sched_msg_store(struct sched_msg *sm);

#endif
