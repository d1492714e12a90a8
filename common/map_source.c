/*
 * map_source - choose, at each lookup, between a map's compiled .db and
 * its source text.  See map_source.h.
 *
 * "Up to date" is by modification time: newaliases writes FILE.db after
 * reading FILE, so a .db at least as new as its source was made from it
 * (or from a later edit).  The text is parsed again only when the
 * source's identity (inode, size, time) changes, so a busy lookupd does
 * one stat() per file per lookup, as map.c does for a .db.
 */
#include "config.h"

#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "map.h"
#include "map_source.h"
#include "xmalloc.h"

struct map_source {
	char		*src;
	char		*dbpath;	/* src.db */
	int		 syntax;
	struct map	*db;		/* src.db, while up to date */
	struct map	*text;		/* src parsed, while it is not */
	struct stat	 text_st;	/* the source text holds */
	int		 text_problems;	/* lines of it that did not parse */
	int		 warned;	/* a failure to read was logged */
	int		 blind_warned;	/* map_source_blind said so */
};

static void map_source_prime(struct map_source *);

/* map_source_open - follow src, opened now (lookupd is still root) */
struct map_source *
map_source_open(const char *src, int syntax)
{
	struct map_source *ms = xcalloc(1, sizeof(*ms));

	ms->src = xstrdup(src);
	ms->dbpath = xasprintf("%s.db", src);
	ms->syntax = syntax;
	map_source_prime(ms);
	return ms;
}

/* map_source_reuse - *old when it follows src, taken (*old = NULL) */
struct map_source *
map_source_reuse(struct map_source **old, const char *src, int syntax)
{
	struct map_source *ms = *old;

	if (ms == NULL || ms->syntax != syntax || strcmp(ms->src, src) != 0)
		return map_source_open(src, syntax);
	*old = NULL;
	return ms;
}

/* map_source_close - close and free */
void
map_source_close(struct map_source *ms)
{
	if (ms == NULL)
		return;
	map_close(ms->db);
	map_close(ms->text);
	free(ms->src);
	free(ms->dbpath);
	free(ms);
}

/* map_source_fresh - the .db (db) was made from the source (src) or later */
static int
map_source_fresh(const struct stat *db, const struct stat *src)
{
	return db->st_mtim.tv_sec > src->st_mtim.tv_sec ||
	    (db->st_mtim.tv_sec == src->st_mtim.tv_sec &&
	    db->st_mtim.tv_nsec >= src->st_mtim.tv_nsec);
}

/* map_source_report - a line of the source that did not parse */
static void
map_source_report(const char *file, int line, const char *msg, void *arg)
{
	(void)arg;
	log_warn("%s:%d: %s", file, line, msg);
}

/* map_source_fail - log a failure to read once, until one succeeds */
static int
map_source_fail(struct map_source *ms, const char *err)
{
	if (!ms->warned)
		log_warn("map %s: %s", ms->src, err);
	ms->warned = 1;
	return -1;
}

/* map_source_db - src.db open (opened now if need be), or NULL */
static struct map *
map_source_db(struct map_source *ms)
{
	char err[512];

	if (ms->db == NULL &&
	    (ms->db = map_open(ms->src, err, sizeof(err))) == NULL) {
		map_source_fail(ms, err);
		return NULL;
	}
	return ms->db;
}

/* map_source_same - st is the source the text map was read from */
static int
map_source_same(const struct map_source *ms, const struct stat *st)
{
	return ms->text != NULL && st->st_ino == ms->text_st.st_ino &&
	    st->st_dev == ms->text_st.st_dev &&
	    st->st_size == ms->text_st.st_size &&
	    st->st_mtim.tv_sec == ms->text_st.st_mtim.tv_sec &&
	    st->st_mtim.tv_nsec == ms->text_st.st_mtim.tv_nsec;
}

/*
 * map_source_load - (re)read the source text when it changed; -1 when
 * it cannot be read (the previous text, if any, stays).
 */
static int
map_source_load(struct map_source *ms, const struct stat *st, int have_db)
{
	char err[512];
	struct map *m;
	int problems;

	if (map_source_same(ms, st))
		return 0;
	if ((m = map_load_text(ms->src, ms->syntax, map_source_report, NULL,
	    &problems, err, sizeof(err))) == NULL)
		return map_source_fail(ms, err);
	map_close(ms->text);
	ms->text = m;
	ms->text_st = *st;
	ms->text_problems = problems;
	if (problems == 0)
		log_warn("map %s: %s %s; reading %s itself until it is "
		    "compiled (newaliases, ternmap)", ms->src, ms->dbpath,
		    have_db ? "is older than its source" : "is missing",
		    ms->src);
	else if (have_db)
		log_warn("map %s: lines that do not parse (see above); the "
		    "older %s stays in use until they are fixed", ms->src,
		    ms->dbpath);
	else
		log_warn("map %s: lines that do not parse (see above) and no "
		    "%s: names not found in %s are deferred until they are "
		    "fixed", ms->src, ms->dbpath, ms->src);
	return 0;
}

/*
 * map_source_stale - src.db is missing or older than src: *m is the
 * source text while it parses whole; else the older src.db, the last
 * good compile; else the text, where a name not found may be on a line
 * that did not parse (*strict: not finding it is a failure, not a "no").
 */
static int
map_source_stale(struct map_source *ms, const struct stat *st, int have_db,
    struct map **m, int *strict)
{
	struct map *db;

	if (map_source_load(ms, st, have_db) < 0 && ms->text == NULL)
		return -1;
	if (ms->text_problems > 0 && have_db &&
	    (db = map_source_db(ms)) != NULL) {
		*m = db;
		return 0;
	}
	map_close(ms->db);
	ms->db = NULL;
	ms->warned = 0;
	*m = ms->text;
	*strict = ms->text_problems > 0;
	return 0;
}

/*
 * map_source_blind - src cannot even be looked at (err: its directory
 * is not searchable by the user lookupd runs as, once it dropped root):
 * the map opened before, if any, stays in use; its changes are not seen
 * until lookupd starts again as root.
 */
static int
map_source_blind(struct map_source *ms, int err, struct map **m,
    int *strict)
{
	if (ms->db == NULL && ms->text == NULL)
		return map_source_fail(ms, strerror(err));
	if (!ms->blind_warned)
		log_warn("map %s: %s; using the copy opened at start (edits "
		    "are seen after a restart of tern, or when its directory "
		    "is made searchable by tern_user)", ms->src,
		    strerror(err));
	ms->blind_warned = 1;
	*m = ms->db != NULL ? ms->db : ms->text;
	*strict = ms->db == NULL && ms->text_problems > 0;
	return 0;
}

/*
 * map_source_pick - bring ms up to date with its files: *m is the map
 * to ask (NULL: neither file exists, nothing is in it) and *strict says
 * that not finding a key is a failure.  0, or -1 on a failure.
 */
static int
map_source_pick(struct map_source *ms, struct map **m, int *strict)
{
	struct stat src, db;
	int have_src, have_db, err;

	*m = NULL;
	*strict = 0;
	have_src = stat(ms->src, &src) == 0;
	err = errno;
	if (!have_src && (err == EACCES || err == EPERM))
		return map_source_blind(ms, err, m, strict);
	if (!have_src && err != ENOENT)
		return map_source_fail(ms, strerror(err));
	have_db = stat(ms->dbpath, &db) == 0;
	if (!have_src && !have_db) {
		/* No such map (yet): nothing is an alias. */
		map_close(ms->db);
		map_close(ms->text);
		ms->db = ms->text = NULL;
		return 0;
	}
	if (have_db && (!have_src || map_source_fresh(&db, &src))) {
		if (ms->text != NULL) {
			map_close(ms->text);
			ms->text = NULL;
			log_info("map %s: compiled again; reading %s", ms->src,
			    ms->dbpath);
		}
		if (map_source_db(ms) == NULL)
			return -1;
		ms->warned = 0;
		*m = ms->db;
		return 0;
	}
	return map_source_stale(ms, &src, have_db, m, strict);
}

/* map_source_lookup - from src.db while it is current, else from src */
int
map_source_lookup(struct map_source *ms, const char *key, char *val,
    size_t valsize)
{
	struct map *m;
	int strict, r;

	if (map_source_pick(ms, &m, &strict) < 0)
		return -1;
	if (m == NULL) {
		if (valsize > 0)
			val[0] = '\0';
		return 0;
	}
	r = map_lookup(m, key, val, valsize);
	return r == 0 && strict ? -1 : r;
}

/*
 * map_source_prime - open ms's current map now: lookupd calls
 * map_source_open as root, so a map under a directory that tern_user
 * cannot search is still served (map_source_blind) after the drop.
 */
static void
map_source_prime(struct map_source *ms)
{
	struct map *m;
	int strict;

	(void)map_source_pick(ms, &m, &strict);
}
