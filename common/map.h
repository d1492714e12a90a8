/*
 * map - read-only lookups in Berkeley DB hash maps compiled by ternmap.
 *
 * A map "FILE" is read from "FILE.db".  Keys are stored lowercased with
 * their terminating NUL excluded; values are the text after the key.
 * Readers notice when ternmap atomically replaced the file (inode or mtime
 * changed) and reopen it.
 */
#ifndef TERN_MAP_H
#define TERN_MAP_H

#include <stddef.h>
#include <stdio.h>

#include <db.h>

#define MAP_KEY_MAX	1024		/* octets in a key */
#define MAP_VALUE_MAX	(64 * 1024)	/* octets in a value */
#define MAP_TEXT_MAX	(64 * 1024 * 1024)	/* a source read as text */

struct map;

/* map_open - open FILE.db read-only; NULL with a reason in err */
struct map *map_open(const char *file, char *err, size_t errsize);
/* map_close - close and free */
void map_close(struct map *m);
/*
 * map_lookup - look key up (case-insensitively); copies the value into
 * val.  Reopens the file first if it was replaced.  1 found, 0 not found,
 * -1 error (value too long, or the database could not be read).
 */
int map_lookup(struct map *m, const char *key, char *val, size_t valsize);
/*
 * map_walk - call fn(key, klen, value, vlen, arg) for every entry, in the
 * database's order (a NUL that ends a key or value, as other programs
 * store them, is not counted).  0, or -1 when the database could not be
 * read to its end.
 */
typedef void (*map_walk_fn)(const char *key, size_t klen, const char *val,
    size_t vlen, void *arg);
int map_walk(struct map *m, map_walk_fn fn, void *arg);

/*
 * map_compile - compile the text map src into src.db atomically (written
 * to a temporary file, fsynced, renamed).  aliases is a map_syntax:
 * MAP_SYNTAX_ALIASES selects the aliases(5) syntax ("name: value, value",
 * continuation lines start with white space), MAP_SYNTAX_PASSWD
 * "login:crypt-hash" lines, MAP_SYNTAX_PLAIN (0) "key value".  Problems go
 * to report (file, line, message); returns the number of problems, 0 when
 * the map was written.
 */
enum map_syntax {
	MAP_SYNTAX_PLAIN = 0,
	MAP_SYNTAX_ALIASES = 1,
	MAP_SYNTAX_PASSWD = 2,
};
typedef void (*map_report_fn)(const char *file, int line, const char *msg,
    void *arg);
int map_compile(const char *src, int aliases, map_report_fn report,
    void *arg);
/*
 * map_compile_stream - map_compile's parser alone: the text map read from
 * fp (called src in reports) stored into db, an open writable BDB handle.
 * Returns the number of problems; with problems, db may hold some entries.
 */
int map_compile_stream(FILE *fp, const char *src, int syntax, DB *db,
    map_report_fn report, void *arg);

/*
 * map_load_text - the text map src (syntax as for map_compile) parsed
 * into a map held in memory, for map_lookup; it is never reopened (see
 * map_source.h for a map that follows its files).  *problems is the
 * number of lines that did not parse (each went to report); the rest
 * is there.  NULL with a reason in err when src cannot be read or is
 * larger than MAP_TEXT_MAX.
 */
struct map *map_load_text(const char *src, int syntax, map_report_fn report,
    void *arg, int *problems, char *err, size_t errsize);

#endif
