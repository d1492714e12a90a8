/*
 * fuzz_map - libFuzzer target for the text map compiler (common/map.c,
 * what ternmap and newaliases run): aliases(5) lines, passwd-map lines
 * and plain "key value" lines.
 *
 * The first input octet picks the syntax, the rest is the source file,
 * compiled through map_compile_stream() into an in-memory Berkeley DB.
 * Checks: the count of problems is the count of reports that are not
 * warnings; every stored key is lowercase, non-empty, bounded and free
 * of NUL (and, for aliases, of '@' and control characters); every value
 * is bounded and NUL-free; and each stored entry, written back as a
 * source line of the same syntax, compiles to the very same entry, so
 * what ternmap stored reads back unchanged (for aliases: each item is
 * already in canonical form).  Built by build.sh.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "map.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports of one compile. */
struct reports {
	int	problems;	/* reports that are not warnings */
	int	lines;		/* physical lines in the source */
};

/* fail - report a broken promise and abort, so libFuzzer keeps the input */
static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_map: %s\n", what);
	abort();
}

/* fail_on - fail() naming the source line, escaped */
static void
fail_on(const char *what, const char *line, size_t len)
{
	fprintf(stderr, "fuzz_map: the line: \"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fprintf(stderr, "\"\n");
	fail(what);
}

/* report - count a report; its line must be one of the source's */
static void
report(const char *file, int line, const char *msg, void *arg)
{
	struct reports *r = arg;

	if (line < 0 || line > r->lines || strlen(msg) == 0)
		fail("report without a message or on no line");
	if (strncmp(msg, "warning: ", 9) != 0)
		r->problems++;
}

/* db_new - an empty in-memory hash database */
static DB *
db_new(void)
{
	DB *db;

	if (db_create(&db, NULL, 0) != 0 ||
	    db->open(db, NULL, NULL, NULL, DB_HASH, DB_CREATE, 0) != 0)
		fail("cannot create an in-memory database");
	return db;
}

/* compile - text[0..len) in syntax into a new database; problems */
static DB *
compile(const char *text, size_t len, int syntax, int *problems)
{
	struct reports r = { 0, 1 };
	DB *db = db_new();
	FILE *fp;
	int n;

	for (size_t i = 0; i < len; i++)
		r.lines += text[i] == '\n';
	if ((fp = fmemopen((void *)(uintptr_t)text, len, "r")) == NULL)
		fail("fmemopen");
	n = map_compile_stream(fp, "fuzz", syntax, db, report, &r);
	fclose(fp);
	if (n != r.problems)
		fail("problem count differs from the reports");
	*problems = n;
	return db;
}

/* entry_check - the promises every stored entry keeps */
static void
entry_check(const DBT *k, const DBT *v, int syntax)
{
	const unsigned char *key = k->data;

	if (k->size == 0 || k->size > MAP_KEY_MAX || v->size > MAP_VALUE_MAX ||
	    memchr(k->data, '\0', k->size) != NULL ||
	    memchr(v->data, '\0', v->size) != NULL)
		fail("key or value empty, too long or holding NUL");
	for (size_t i = 0; i < k->size; i++) {
		if (key[i] != tolower(key[i]))
			fail("key not lowercased");
		if (syntax == MAP_SYNTAX_ALIASES &&
		    (key[i] == '@' || iscntrl(key[i])))
			fail("alias name with '@' or a control character");
	}
	if (syntax == MAP_SYNTAX_ALIASES && k->size > ADDR_LOCAL_MAX)
		fail("alias name too long");
	if (syntax != MAP_SYNTAX_PLAIN && v->size == 0)
		fail("empty value");
}

/* source_line - entry k -> v written as a source line of syntax */
static size_t
source_line(char *buf, const DBT *k, const DBT *v, int syntax)
{
	const char *key = k->data;
	size_t n = 0;

	if (syntax == MAP_SYNTAX_ALIASES) {
		/* quoted, so that any stored name reads back */
		buf[n++] = '"';
		for (size_t i = 0; i < k->size; i++) {
			if (key[i] == '"' || key[i] == '\\')
				buf[n++] = '\\';
			buf[n++] = key[i];
		}
		memcpy(buf + n, "\": ", 3);
		n += 3;
	} else {
		memcpy(buf + n, key, k->size);
		n += k->size;
		buf[n++] = syntax == MAP_SYNTAX_PASSWD ? ':' : ' ';
	}
	memcpy(buf + n, v->data, v->size);
	n += v->size;
	buf[n++] = '\n';
	return n;
}

/* reread - the entry, written as source and compiled, comes back as is */
static void
reread(const DBT *k, const DBT *v, int syntax)
{
	static char buf[2 * MAP_KEY_MAX + MAP_VALUE_MAX + 16];
	size_t len = source_line(buf, k, v, syntax);
	DBT k2, v2;
	int problems;
	DB *db;

	db = compile(buf, len, syntax, &problems);
	if (problems != 0)
		fail_on("a stored entry does not compile again", buf, len);
	memset(&k2, 0, sizeof(k2));
	memset(&v2, 0, sizeof(v2));
	k2.data = k->data;
	k2.size = k->size;
	if (db->get(db, NULL, &k2, &v2, 0) != 0)
		fail_on("a stored entry compiles to another key", buf, len);
	if (v2.size != v->size || memcmp(v2.data, v->data, v->size) != 0)
		fail_on("a stored entry compiles to another value", buf, len);
	db->close(db, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int syntaxes[] = { MAP_SYNTAX_PLAIN, MAP_SYNTAX_ALIASES,
	    MAP_SYNTAX_PASSWD, MAP_SYNTAX_ALIASES };
	DBC *cur;
	DBT k, v;
	int syntax, problems, n = 0;
	DB *db;

	if (size < 2 || size > 300000)
		return 0;
	syntax = syntaxes[data[0] & 3];
	db = compile((const char *)data + 1, size - 1, syntax, &problems);
	if (db->cursor(db, NULL, &cur, 0) != 0)
		fail("cursor");
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	while (cur->get(cur, &k, &v, DB_NEXT) == 0) {
		entry_check(&k, &v, syntax);
		reread(&k, &v, syntax);
		n++;
	}
	cur->close(cur);
	db->close(db, 0);
	if (n > 0 && (size_t)n > size / 2)
		fail("more entries than the source could hold");
	return 0;
}
