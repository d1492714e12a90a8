/*
 * master_clients - per-client connection accounting for ternd.  See
 * master_clients.h for the contract.
 *
 * A chained hash table (seeded, so that an attacker who picks addresses
 * cannot aim them all at one bucket) plus a list in order of last use for
 * eviction.  Every operation is O(1) except expiry, which ternd runs at
 * most once a second over a table of bounded size.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "master_clients.h"
#include "xmalloc.h"

/* master_clients_init - empty table */
void
master_clients_init(struct master_clients *t, size_t max, uint32_t seed)
{
	memset(t, 0, sizeof(*t));
	TAILQ_INIT(&t->lru);
	t->max = max > 0 ? max : 1;
	t->seed = seed;
}

/* FNV-1a over the address, mixed with the seed. */
static size_t
clients_hash(const struct master_clients *t, const char *addr)
{
	uint32_t h = 2166136261u ^ t->seed;

	for (const unsigned char *p = (const unsigned char *)addr; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h % CLIENT_HASH_BUCKETS;
}

static struct client_entry *
clients_find(const struct master_clients *t, const char *addr)
{
	struct client_entry *e;

	for (e = t->bucket[clients_hash(t, addr)]; e != NULL; e = e->hnext)
		if (strcmp(e->addr, addr) == 0)
			return e;
	return NULL;
}

static void
clients_remove(struct master_clients *t, struct client_entry *e)
{
	struct client_entry **pp = &t->bucket[clients_hash(t, e->addr)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	TAILQ_REMOVE(&t->lru, e, lru);
	t->n--;
	free(e);
}

/* Make room for one entry: forget the oldest one without sessions. */
static int
clients_evict(struct master_clients *t)
{
	struct client_entry *e;

	TAILQ_FOREACH(e, &t->lru, lru) {
		if (e->sessions == 0) {
			clients_remove(t, e);
			return 0;
		}
	}
	return -1;
}

static struct client_entry *
clients_add(struct master_clients *t, const char *addr, time_t now)
{
	struct client_entry *e;
	size_t h;

	if (t->n >= t->max && clients_evict(t) < 0)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	strlcpy(e->addr, addr, sizeof(e->addr));
	e->rate_start = now;
	h = clients_hash(t, addr);
	e->hnext = t->bucket[h];
	t->bucket[h] = e;
	TAILQ_INSERT_TAIL(&t->lru, e, lru);
	t->n++;
	return e;
}

/* master_clients_connect - count a connection, decide whether to serve it */
enum client_verdict
master_clients_connect(struct master_clients *t, const char *addr,
    const struct client_limits *lim, time_t now, uint32_t *count,
    int *tracked)
{
	struct client_entry *e;

	*count = 0;
	*tracked = 0;
	if (strlen(addr) >= CLIENT_ADDR_MAX)
		return CLIENT_ALLOW;
	if ((e = clients_find(t, addr)) == NULL &&
	    (e = clients_add(t, addr, now)) == NULL)
		return CLIENT_ALLOW;
	e->last = now;
	TAILQ_REMOVE(&t->lru, e, lru);
	TAILQ_INSERT_TAIL(&t->lru, e, lru);
	/* A fixed window, as Postfix's anvil: simple, and a client can at
	 * worst get twice the rate across a window boundary. */
	if (now - e->rate_start >= lim->unit || now < e->rate_start) {
		e->rate_start = now;
		e->rate_count = 0;
	}
	if (e->rate_count < UINT32_MAX)
		e->rate_count++;
	if (lim->concurrency > 0 && e->sessions >= lim->concurrency) {
		*count = e->sessions + 1;
		return CLIENT_DENY_CONCURRENCY;
	}
	if (lim->rate > 0 && e->rate_count > lim->rate) {
		*count = e->rate_count;
		return CLIENT_DENY_RATE;
	}
	e->sessions++;
	*count = e->sessions;
	*tracked = 1;
	return CLIENT_ALLOW;
}

/* master_clients_disconnect - one session of addr has ended */
void
master_clients_disconnect(struct master_clients *t, const char *addr)
{
	struct client_entry *e = clients_find(t, addr);

	if (e != NULL && e->sessions > 0)
		e->sessions--;
}

/* master_clients_expire - forget idle addresses whose windows are over */
void
master_clients_expire(struct master_clients *t, long unit, long auth_window,
    time_t now)
{
	struct client_entry *e, *next;

	for (e = TAILQ_FIRST(&t->lru); e != NULL; e = next) {
		next = TAILQ_NEXT(e, lru);
		/* The list is in order of last use: past the first recent
		 * entry there is nothing old left to find. */
		if (now - e->last < unit && now >= e->last)
			break;
		/* Failed logins are remembered longer than connections. */
		if (e->auth_failures > 0 && now - e->auth_last < auth_window &&
		    now >= e->auth_last)
			continue;
		if (e->sessions == 0)
			clients_remove(t, e);
	}
}

/* master_clients_auth_failed - count a failed AUTH of addr */
void
master_clients_auth_failed(struct master_clients *t, const char *addr,
    long auth_window, time_t now)
{
	struct client_entry *e;

	if (strlen(addr) >= CLIENT_ADDR_MAX)
		return;
	if ((e = clients_find(t, addr)) == NULL &&
	    (e = clients_add(t, addr, now)) == NULL)
		return;
	if (now - e->auth_last >= auth_window || now < e->auth_last)
		e->auth_failures = 0;
	if (e->auth_failures < UINT32_MAX)
		e->auth_failures++;
	e->auth_last = now;
	e->last = now;
	TAILQ_REMOVE(&t->lru, e, lru);
	TAILQ_INSERT_TAIL(&t->lru, e, lru);
}

/* master_clients_auth_failures - recent failed AUTH of addr */
uint32_t
master_clients_auth_failures(const struct master_clients *t,
    const char *addr, long auth_window, time_t now)
{
	const struct client_entry *e = clients_find(t, addr);

	if (e == NULL || now - e->auth_last >= auth_window ||
	    now < e->auth_last)
		return 0;
	return e->auth_failures;
}

/* master_clients_size - entries in the table */
size_t
master_clients_size(const struct master_clients *t)
{
	return t->n;
}

/* master_clients_free - forget every entry */
void
master_clients_free(struct master_clients *t)
{
	struct client_entry *e;

	while ((e = TAILQ_FIRST(&t->lru)) != NULL)
		clients_remove(t, e);
}
