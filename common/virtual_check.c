/*
 * virtual_check - configuration checks for virtual domains
 * (virtual_check.h).
 *
 * Read-only, like the rest of tern_check: it opens the maps to read
 * them, nothing else.  It reads what lookupd would read (the .db while
 * it is up to date, else the source text), so that what it reports is
 * what mail would meet.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "map.h"
#include "virtual_check.h"
#include "virtual_path.h"

#define CHECK_MSG_LEN	(2 * PATH_MAX + 256)

/* What the walk over virtual_mailbox_map needs. */
struct entry_check {
	const struct tern_check	*c;
	int			 bad;
};

/* check_entry - one virtual_mailbox_map entry: its path must be safe */
static void
check_entry(const char *key, size_t klen, const char *val, size_t vlen,
    void *arg)
{
	struct entry_check *ec = arg;
	char path[VIRTUAL_PATH_MAX + 2], vkey[256], vpath[256];
	char msg[CHECK_MSG_LEN];
	const char *why = "path too long";

	if (vlen < sizeof(path)) {
		memcpy(path, val, vlen);
		path[vlen] = '\0';
		if (memchr(path, '\0', vlen) == NULL &&
		    virtual_path_check(path, &why) == 0)
			return;
		if (memchr(path, '\0', vlen) != NULL)
			why = "NUL in the path";
	}
	ec->bad++;
	snprintf(msg, sizeof(msg), "virtual_mailbox_map: entry for <%s> "
	    "refused: %s: %s", log_vis(vkey, sizeof(vkey), key, klen), why,
	    log_vis(vpath, sizeof(vpath), val, vlen));
	ec->c->report(msg, ec->c->arg);
}

/* check_report - a line of the source that does not parse */
static void
check_report(const char *file, int line, const char *m, void *arg)
{
	const struct tern_check *c = arg;
	char msg[CHECK_MSG_LEN];

	snprintf(msg, sizeof(msg), "%s:%d: %s", file, line, m);
	c->report(msg, c->arg);
}

/*
 * check_map - name's map file: present, compiled and current; returns it
 * opened (the .db while current, else the text), or NULL (reported).
 */
static struct map *
check_map(const char *name, const char *file, const struct tern_check *c)
{
	char db[PATH_MAX], msg[CHECK_MSG_LEN], err[512];
	struct stat src, dst;
	struct map *m;
	int problems = 0;

	if (strncmp(file, "hash:", 5) == 0)
		file += 5;
	if (stat(file, &src) < 0) {
		snprintf(msg, sizeof(msg), "%s %s: %s", name, file,
		    strerror(errno));
		c->report(msg, c->arg);
		return NULL;
	}
	snprintf(db, sizeof(db), "%s.db", file);
	if (stat(db, &dst) == 0 && (dst.st_mtim.tv_sec > src.st_mtim.tv_sec ||
	    (dst.st_mtim.tv_sec == src.st_mtim.tv_sec &&
	    dst.st_mtim.tv_nsec >= src.st_mtim.tv_nsec))) {
		if ((m = map_open(file, err, sizeof(err))) == NULL) {
			snprintf(msg, sizeof(msg), "%s: %s", name, err);
			c->report(msg, c->arg);
		}
		return m;
	}
	snprintf(msg, sizeof(msg), "%s: %s is missing or older than %s; "
	    "lookupd reads %s itself until you run ternmap %s", name, db,
	    file, file, file);
	(c->strict ? c->report : c->warn)(msg, c->arg);
	m = map_load_text(file, MAP_SYNTAX_PLAIN, check_report, (void *)c,
	    &problems, err, sizeof(err));
	if (m == NULL) {
		snprintf(msg, sizeof(msg), "%s: %s", name, err);
		c->report(msg, c->arg);
	}
	return m;
}

/* virtual_check - the base, the maps, the mailbox paths */
void
virtual_check(const struct settings *s, const struct tern_check *c)
{
	struct entry_check ec = { c, 0 };
	char msg[CHECK_MSG_LEN];
	struct stat st;
	struct map *m;

	if (s->virtual_alias_map[0] != '\0' &&
	    (m = check_map("virtual_alias_map", s->virtual_alias_map, c)) !=
	    NULL)
		map_close(m);
	if (s->virtual_mailbox_domains.n == 0)
		return;
	if (stat(s->virtual_mailbox_base, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(msg, sizeof(msg), "virtual_mailbox_base %s: not a "
		    "directory", s->virtual_mailbox_base);
		c->report(msg, c->arg);
	}
	if ((m = check_map("virtual_mailbox_map", s->virtual_mailbox_map,
	    c)) == NULL)
		return;
	if (map_walk(m, check_entry, &ec) < 0) {
		snprintf(msg, sizeof(msg), "virtual_mailbox_map %s: cannot "
		    "read it to its end", s->virtual_mailbox_map);
		c->report(msg, c->arg);
	}
	map_close(m);
}
