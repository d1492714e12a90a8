/*
 * queue_store - the queue index behind a small interface.
 *
 * queued is the only caller.  The index holds only what changes (message
 * flags, per-recipient state); the immutable envelope lives in the message
 * file.  Records are encoded with an explicit version, never as raw structs.
 * Backends: "bdb" (Berkeley DB 5.3 transactional environment, shipped) and
 * "ram" (for unit tests).  Updates become durable only at queue_store_sync(),
 * which lets queued group many commits into one log flush.
 *
 * Every call that fails returns -1 (NULL for open) with errno set, and
 * leaves the index as it was: ENOSPC or EDQUOT when the disk is full,
 * which is temporary -- the same call works again once there is space,
 * without reopening anything.  Only queue_store_broken() says that no
 * call can succeed until queued restarts.
 */
#ifndef TERN_QUEUE_STORE_H
#define TERN_QUEUE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "msg_codec.h"

enum rcpt_state {
	RCPT_PENDING = 0,	/* waiting for (another) delivery attempt */
	RCPT_DELIVERED = 1,	/* done: delivered */
	RCPT_FAILED = 2,	/* done: permanent failure, bounce owed/sent */
	RCPT_EXPANDED = 3,	/* done: replaced by added recipients */
};

/* What an index-only (added) recipient is; see queue_rcpt_rec.kind. */
enum rcpt_kind {
	RCPT_KIND_ENVELOPE = 0,	/* the envelope's recipient idx */
	RCPT_KIND_LOCAL = 1,	/* alias target: addr is a mailbox user */
	RCPT_KIND_REMOTE = 2,	/* alias target: addr is a remote address */
	RCPT_KIND_COMMAND = 3,	/* alias target: addr is "UID:command" */
	RCPT_KIND_FILE = 4,	/* alias target: addr is "UID:/path" */
	RCPT_KIND_OWNER = 5,	/* never delivered (state EXPANDED): addr
				   gets the bounces of its siblings */
	RCPT_KIND_ADDRESS = 6,	/* a .forward's address in a local domain
				   (since record version 3): resolved by
				   lookupd like an envelope recipient, so
				   aliases apply to it */
	RCPT_KIND_MAILBOX = 7,	/* alias target "\name": addr is a mailbox
				   user, delivered without its .forward
				   (version 3 records: their layout did
				   not change) */
};

#define QMSG_F_WARNED	0x1	/* delay warning sent */
#define QMSG_F_2BOUNCE	0x2	/* a double-bounce notice to the postmaster:
				   its own failure is dropped */
#define QMSG_F_HELD	0x4	/* "ternctl hold": no delivery until
				   released */
#define QMSG_F_DELETED	0x8	/* "ternctl delete": finished, no notice;
				   the file and records go next */
#define QMSG_F_ALL	(QMSG_F_WARNED | QMSG_F_2BOUNCE | QMSG_F_HELD | \
			 QMSG_F_DELETED)

/* queue_msg_rec.uid of a message that no local user submitted */
#define QMSG_UID_NONE	UINT32_MAX

struct queue_msg_rec {
	char		qid[QID_MAX];
	uint64_t	arrival;	/* seconds since the epoch */
	uint32_t	nrcpt;
	uint32_t	flags;		/* QMSG_F_* */
	/* Since record version 2: the envelope sender ("" for <>), so that
	 * a message whose file is lost can still be bounced.  Version 1
	 * records decode with have_sender 0. */
	uint32_t	have_sender;
	char		sender[ADDR_TEXT_MAX];
	/* Since record version 3: the message's size in octets (its body,
	 * as Postfix's mailq counts) and the local user who submitted it
	 * (QMSG_UID_NONE: none), so that "ternctl queue" needs no file.
	 * Older records decode with have_size 0 and uid QMSG_UID_NONE. */
	uint32_t	have_size;
	uint64_t	size;
	uint32_t	uid;
};

struct queue_rcpt_rec {
	uint32_t	idx;		/* index in the envelope */
	uint32_t	state;		/* enum rcpt_state */
	uint32_t	attempts;
	uint64_t	next_try;	/* seconds since the epoch */
	uint64_t	last_try;
	char		dsn[16];	/* last status "x.y.z" or "" */
	char		last_error[512];
	/* Since record version 2.  The envelope is immutable, so a
	 * recipient added by alias expansion carries its own address here;
	 * parent names the envelope recipient it came from (for ORCPT and
	 * NOTIFY).  Version 1 records decode as kind ENVELOPE, parent idx. */
	uint32_t	kind;		/* enum rcpt_kind */
	uint32_t	parent;
	char		addr[ADDR_TEXT_MAX];	/* for an ENVELOPE recipient,
						   its address too (since
						   queued wrote v2 messages) */
	char		relay[MSG_RELAY_MAX + 1];	/* last
						   "host[ip]:port", or "" */
	/* Since record version 3.  For a remote address that an alias or
	 * a .forward of a local address sent the mail to: that local
	 * address, which its copy carries as "Delivered-To:" (and which
	 * ends a loop back here, see transport_smtp.c); else "".  Older
	 * records decode with "". */
	char		delivered_to[ADDR_TEXT_MAX];
};

/*
 * queue_store_iter_fn - called once per message with all its recipient
 * records; return non-zero to stop iterating.
 */
typedef int (*queue_store_iter_fn)(const struct queue_msg_rec *msg,
    const struct queue_rcpt_rec *rcpts, size_t nrcpt, void *arg);

struct queue_store;

/*
 * queue_store_open - open backend ("bdb" or "ram") in dir (the spool's
 * db/ directory for bdb; ignored for ram).  bdb runs recovery at every
 * open.  Returns NULL with a reason in err, and errno EIO when a write to
 * disk failed during the open (a full or failing disk: the index is not
 * known to be damaged, and must not be replaced).
 */
struct queue_store *queue_store_open(const char *backend, const char *dir,
    char *err, size_t errsize);
void queue_store_close(struct queue_store *qs);

/*
 * queue_store_message_add - add a message and its recipient records in one
 * transaction.  Not durable until queue_store_sync().  0 or -1.
 */
int queue_store_message_add(struct queue_store *qs,
    const struct queue_msg_rec *msg, const struct queue_rcpt_rec *rcpts,
    size_t nrcpt);
/* queue_store_message_update - rewrite the message record (flags) */
int queue_store_message_update(struct queue_store *qs,
    const struct queue_msg_rec *msg);
/* queue_store_rcpt_update - rewrite one recipient record */
int queue_store_rcpt_update(struct queue_store *qs, const char *qid,
    const struct queue_rcpt_rec *rcpt);
/* queue_store_message_remove - delete a message and all its recipients */
int queue_store_message_remove(struct queue_store *qs, const char *qid);
/*
 * queue_store_message_get - the records of one message; *rcpts is a new
 * array (caller frees).  1 found, 0 not found, -1 error.
 */
int queue_store_message_get(struct queue_store *qs, const char *qid,
    struct queue_msg_rec *msg, struct queue_rcpt_rec **rcpts, size_t *nrcpt);
/*
 * queue_store_sync - make every change so far durable with one log flush
 * (group commit).  0 or -1.
 */
int queue_store_sync(struct queue_store *qs);
/* queue_store_broken - 1 when no call can succeed until a restart (the
 * environment needs recovery); a full disk is not that */
int queue_store_broken(struct queue_store *qs);
/* queue_store_iterate - every message in qid order */
int queue_store_iterate(struct queue_store *qs, queue_store_iter_fn fn,
    void *arg);

/*
 * queue_records_from_envelope - the index records of a message entering
 * the queue: *msg (arrival no later than now, size octets of body) and a
 * new array of e->nrcpt recipient records, all pending and due at now
 * (caller frees).
 */
struct queue_rcpt_rec *queue_records_from_envelope(const struct envelope *e,
    uint64_t now, uint64_t size, struct queue_msg_rec *msg);

/* Record encodings, shared by the backends; exposed for unit tests. */
void queue_msg_rec_encode(const struct queue_msg_rec *r, unsigned char **out,
    size_t *len);
int queue_msg_rec_decode(const unsigned char *p, size_t len,
    struct queue_msg_rec *r);
void queue_rcpt_rec_encode(const struct queue_rcpt_rec *r,
    unsigned char **out, size_t *len);
int queue_rcpt_rec_decode(const unsigned char *p, size_t len,
    struct queue_rcpt_rec *r);

#endif
