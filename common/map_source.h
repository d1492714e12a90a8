/*
 * map_source - a map named by its text source, that answers from the
 * compiled FILE.db while that is up to date and from FILE itself when
 * it is not.
 *
 * lookupd's alias maps are these.  An aliases file without a .db (the
 * administrator never ran newaliases, or another MTA's package left
 * one behind) or edited since its .db was made must not turn every
 * local recipient into a temporary failure, nor hide the edit: the
 * source text is parsed into memory (map_load_text) and parsed again
 * whenever it changes, until newaliases writes a .db at least as new as
 * the source.  "ternd -n" warns while that is the case.
 */
#ifndef TERN_MAP_SOURCE_H
#define TERN_MAP_SOURCE_H

#include <stddef.h>

struct map_source;

/*
 * map_source_open - follow src (syntax: enum map_syntax).  Never fails:
 * the files are opened now if they can be (lookupd calls this as root)
 * and looked at again by each lookup; a map whose directory the caller
 * can no longer search (after dropping root) is served as opened here.
 */
struct map_source *map_source_open(const char *src, int syntax);

/*
 * map_source_reuse - for a reload: *old itself (and *old set to NULL)
 * when it follows the same src and syntax, so a map that only the
 * start as root could open stays open; else map_source_open(src).
 */
struct map_source *map_source_reuse(struct map_source **old,
    const char *src, int syntax);

/* map_source_close - close and free (NULL is fine) */
void map_source_close(struct map_source *ms);

/*
 * map_source_lookup - key's value into val.  1 found, 0 not found
 * (also when neither src nor src.db exists), -1 a failure a retry may
 * mend: src exists but neither it nor a current src.db can be read, a
 * read error, or key not found in a source text with lines that did not
 * parse (key may be on one of them).
 */
int map_source_lookup(struct map_source *ms, const char *key, char *val,
    size_t valsize);

#endif
