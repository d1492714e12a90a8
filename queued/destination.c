/*
 * destination - concurrency windows and dead marks per next hop.
 *
 * Called by the scheduler only.  Destinations live in a small hash table
 * keyed by next-hop name; one is freed once nothing is in flight or
 * waiting for it and it is not dead, so the table stays the size of the
 * active working set, not of every domain ever seen.
 */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "destination.h"
#include "xmalloc.h"

#define DEST_BUCKETS	1024

static struct dest *buckets[DEST_BUCKETS];
static size_t ndest;

static unsigned
dest_hash(const char *s)
{
	unsigned h = 5381;

	for (; *s != '\0'; s++)
		h = h * 33 + (unsigned char)tolower((unsigned char)*s);
	return h % DEST_BUCKETS;
}

/* dest_init - a fresh destination state */
void
dest_init(struct dest *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	for (size_t i = 0; name[i] != '\0' && i + 1 < sizeof(d->name); i++)
		d->name[i] = (char)tolower((unsigned char)name[i]);
	d->window = DEST_WINDOW_INIT;
	TAILQ_INIT(&d->waiting);
}

/* dest_get - find or create; the table owns the result */
struct dest *
dest_get(const char *name)
{
	unsigned h = dest_hash(name);
	struct dest *d;

	for (d = buckets[h]; d != NULL; d = d->hnext)
		if (strcasecmp(d->name, name) == 0)
			return d;
	d = xmalloc(sizeof(*d));
	dest_init(d, name);
	d->hnext = buckets[h];
	buckets[h] = d;
	ndest++;
	return d;
}

/* dest_forget - drop an idle destination (a dead mark keeps it) */
void
dest_forget(struct dest *d)
{
	struct dest **pp;

	if (d->active > 0 || d->nwaiting > 0 || d->dead_until != 0)
		return;
	for (pp = &buckets[dest_hash(d->name)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == d) {
			*pp = d->hnext;
			free(d);
			ndest--;
			return;
		}
}

/* dest_dead - dead now?  An expired mark leaves a window of one: probe. */
int
dest_dead(struct dest *d, uint64_t now)
{
	if (d->dead_until == 0)
		return 0;
	if (now < d->dead_until)
		return 1;
	d->dead_until = 0;
	d->window = 1;
	return 0;
}

/* dest_can_start - room for one more job */
int
dest_can_start(const struct dest *d, uint32_t limit)
{
	uint32_t w = d->window < limit ? d->window : limit;

	return d->active < (w > 0 ? w : 1);
}

/* dest_job_end - grow on success, halve on failure, die at zero */
int
dest_job_end(struct dest *d, int reached, uint64_t now, uint64_t dead_time,
    uint32_t limit)
{
	if (d->active > 0)
		d->active--;
	if (reached) {
		if (d->window < limit)
			d->window++;
		return 0;
	}
	if (d->dead_until != 0)
		return 0;
	d->window /= 2;
	if (d->window > 0)
		return 0;
	/* A whole window of attempts failed: stop connecting for a while,
	 * so that a dead site does not cost a timeout per message. */
	d->dead_until = now + (dead_time > 0 ? dead_time : 1);
	d->window = 1;
	return 1;
}

/* dest_revive_all - clear every dead mark */
void
dest_revive_all(void)
{
	for (size_t i = 0; i < DEST_BUCKETS; i++)
		for (struct dest *d = buckets[i]; d != NULL; d = d->hnext)
			if (d->dead_until != 0) {
				d->dead_until = 0;
				d->window = 1;
			}
}

/* dest_walk - every destination */
void
dest_walk(void (*fn)(struct dest *))
{
	for (size_t i = 0; i < DEST_BUCKETS; i++)
		for (struct dest *d = buckets[i]; d != NULL; d = d->hnext)
			fn(d);
}

/* dest_count - destinations in the table */
size_t
dest_count(void)
{
	return ndest;
}
