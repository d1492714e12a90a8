/*
 * lookup_virtual - single lookups in virtual_alias_map and
 * virtual_mailbox_map (lookup_virtual.h).
 *
 * Called by lookup_rcpt.c in lookupd, the only process that reads maps.
 * Map contents are untrusted: a value is bounded by the caller's buffer
 * and a mailbox path is checked before it leaves this file.  A map that
 * cannot be read is FOUND_ERROR, never "not found": that would refuse
 * mail that a retry would deliver.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "addr.h"
#include "log.h"
#include "lookup_virtual.h"
#include "map.h"
#include "map_source.h"
#include "virtual_path.h"
#include "xmalloc.h"

struct lookup_virtual {
	struct map_source	*alias;		/* NULL: none */
	struct map_source	*mailbox;	/* NULL: none */
};

/*
 * virtual_map_open - follow file (an optional "hash:" prefix), or NULL;
 * *old is reused when it follows the same file
 */
static struct map_source *
virtual_map_open(struct map_source **old, const char *file)
{
	if (file == NULL)
		return NULL;
	if (strncmp(file, "hash:", 5) == 0)
		file += 5;
	return *file == '\0' ? NULL :
	    map_source_reuse(old, file, MAP_SYNTAX_PLAIN);
}

/* lookup_virtual_open - follow both maps; the caller closes */
struct lookup_virtual *
lookup_virtual_open(const struct settings *s)
{
	return lookup_virtual_reload(NULL, s);
}

/* lookup_virtual_reload - follow both maps, old's kept; old freed */
struct lookup_virtual *
lookup_virtual_reload(struct lookup_virtual *old, const struct settings *s)
{
	struct lookup_virtual *v = xcalloc(1, sizeof(*v));
	struct map_source *none = NULL;

	v->alias = virtual_map_open(old != NULL ? &old->alias : &none,
	    s->virtual_alias_map);
	v->mailbox = virtual_map_open(old != NULL ? &old->mailbox : &none,
	    s->virtual_mailbox_map);
	lookup_virtual_close(old);
	return v;
}

/* lookup_virtual_close - close both maps and free */
void
lookup_virtual_close(struct lookup_virtual *v)
{
	if (v == NULL)
		return;
	map_source_close(v->alias);
	map_source_close(v->mailbox);
	free(v);
}

/* lookup_virtual_has_alias - a virtual_alias_map is configured */
int
lookup_virtual_has_alias(const struct lookup_virtual *v)
{
	return v != NULL && v->alias != NULL;
}

/* virtual_get - key in ms (NULL: an empty map) */
static enum found
virtual_get(struct map_source *ms, const char *key, char *val, size_t size)
{
	int r;

	if (ms == NULL)
		return FOUND_NO;
	r = map_source_lookup(ms, key, val, size);
	return r == 1 ? FOUND_YES : r == 0 ? FOUND_NO : FOUND_ERROR;
}

/* lookup_virtual_alias - key's value in virtual_alias_map */
enum found
lookup_virtual_alias(struct lookup_virtual *v, const char *key, char *val,
    size_t size)
{
	if (v == NULL)
		return FOUND_NO;
	return virtual_get(v->alias, key, val, size);
}

/* lookup_virtual_domain_alias - domain has an "@domain" entry */
enum found
lookup_virtual_domain_alias(struct lookup_virtual *v, const char *domain)
{
	char key[ADDR_DOMAIN_MAX + 2], *val;
	enum found f;

	if (v == NULL || v->alias == NULL || *domain == '\0' ||
	    snprintf(key, sizeof(key), "@%s", domain) >= (int)sizeof(key))
		return FOUND_NO;
	val = xmalloc(MAP_VALUE_MAX + 1);
	f = virtual_get(v->alias, key, val, MAP_VALUE_MAX + 1);
	free(val);
	return f;
}

/* lookup_virtual_mailbox - addr's checked Maildir path */
enum found
lookup_virtual_mailbox(struct lookup_virtual *v, const char *addr,
    char *path, size_t size)
{
	char vaddr[ADDR_TEXT_MAX * 4], vpath[VIRTUAL_PATH_MAX * 4 + 1];
	char *val;
	const char *why;
	enum found f;

	if (v == NULL)
		return FOUND_NO;
	val = xmalloc(MAP_VALUE_MAX + 1);
	f = virtual_get(v->mailbox, addr, val, MAP_VALUE_MAX + 1);
	if (f == FOUND_YES) {
		if (virtual_path_check(val, &why) != 0 ||
		    strlcpy(path, val, size) >= size) {
			if (strlen(val) >= size)
				why = "path too long";
			log_warn("virtual_mailbox_map: entry for <%s> refused: "
			    "%s: %s", log_vis(vaddr, sizeof(vaddr), addr,
			    strlen(addr)), why, log_vis(vpath, sizeof(vpath),
			    val, strnlen(val, VIRTUAL_PATH_MAX)));
			f = FOUND_BAD;
		}
	}
	free(val);
	return f;
}

