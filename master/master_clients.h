/*
 * master_clients - ternd's per-client connection accounting (the job
 * Postfix gives its anvil service).
 *
 * smtpd processes are a prefork pool: no one of them sees how many
 * sessions a client has open elsewhere, so ternd, which already hears
 * every smtpd's busy/idle state, keeps one table for all of them.  Each
 * client address has a session count (for smtpd_client_connection_limit)
 * and a fixed-window connection count (for
 * smtpd_client_connection_rate_limit).
 *
 * Called only by ternd's main loop.  It must never block, and never grow
 * without bound: the table holds at most the number of entries given to
 * master_clients_init(); when it is full the least recently seen address
 * without an open session is forgotten.  Addresses are opaque strings of
 * at most CLIENT_ADDR_MAX - 1 octets; nothing here parses them.
 */
#ifndef TERN_MASTER_CLIENTS_H
#define TERN_MASTER_CLIENTS_H

#include <sys/queue.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "msg.h"
#include "msg_codec.h"

#define CLIENT_ADDR_MAX		(MSG_CLIENT_ADDR_MAX + 1)	/* a buffer */
#define CLIENT_TABLE_MAX	4096	/* ternd's table size */
#define CLIENT_HASH_BUCKETS	1024

struct client_entry {
	char			 addr[CLIENT_ADDR_MAX];
	uint32_t		 sessions;	/* open now */
	uint32_t		 rate_count;	/* connections in this window */
	time_t			 rate_start;	/* the window's start */
	time_t			 last;		/* last connection */
	uint32_t		 auth_failures;	/* failed AUTH in the window */
	time_t			 auth_last;	/* the last one */
	struct client_entry	*hnext;		/* bucket chain */
	TAILQ_ENTRY(client_entry) lru;		/* oldest first */
};
TAILQ_HEAD(client_lru, client_entry);

struct client_limits {
	uint32_t	concurrency;	/* 0 = no limit */
	uint32_t	rate;		/* 0 = no limit */
	long		unit;		/* rate window, seconds (>= 1) */
};

struct master_clients {
	struct client_entry	*bucket[CLIENT_HASH_BUCKETS];
	struct client_lru	 lru;
	size_t			 n;
	size_t			 max;
	uint32_t		 seed;
};

/* master_clients_init - empty table holding at most max entries (>= 1) */
void master_clients_init(struct master_clients *t, size_t max, uint32_t seed);

/* master_clients_free - forget every entry */
void master_clients_free(struct master_clients *t);

/*
 * master_clients_connect - a new connection from addr at now: count it
 * toward the rate, and when the verdict is CLIENT_ALLOW, as an open
 * session that master_clients_disconnect() must later close.  *count
 * gets the number the verdict is about (sessions including this one, or
 * connections in the window including this one).  An address that cannot
 * be tracked (too long, or the table is full of open sessions) is allowed
 * and returns CLIENT_ALLOW with *count 0 and *tracked 0: a limit that
 * fails must fail open rather than refuse innocent clients.
 */
enum client_verdict master_clients_connect(struct master_clients *t,
    const char *addr, const struct client_limits *lim, time_t now,
    uint32_t *count, int *tracked);

/* master_clients_disconnect - a session counted by connect has ended */
void master_clients_disconnect(struct master_clients *t, const char *addr);

/*
 * master_clients_expire - forget addresses without open sessions whose
 * last connection is at least unit seconds old (their rate window is
 * over) and whose last failed AUTH is at least auth_window old.
 */
void master_clients_expire(struct master_clients *t, long unit,
    long auth_window, time_t now);

/*
 * master_clients_auth_failed - one more failed AUTH from addr at now; the
 * count starts again when the previous failure is auth_window old.
 */
void master_clients_auth_failed(struct master_clients *t, const char *addr,
    long auth_window, time_t now);

/* master_clients_auth_failures - addr's failed AUTH within auth_window */
uint32_t master_clients_auth_failures(const struct master_clients *t,
    const char *addr, long auth_window, time_t now);

/* master_clients_size - entries in the table */
size_t master_clients_size(const struct master_clients *t);

#endif
