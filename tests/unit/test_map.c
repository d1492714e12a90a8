/*
 * test_map - unit tests for common/map.c (compiling, looking up, atomic
 * replacement under an open reader) and for lookupd's recipient logic in
 * lookupd/lookup_rcpt.c (verdicts and alias expansion).  Each test works
 * in its own temporary directory.
 */
#include "config.h"

#include <sys/stat.h>

#include <db.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alias_target.h"
#include "check_suites.h"
#include "../../lookupd/lookup_rcpt.h"
#include "map.h"
#include "settings.h"
#include "xmalloc.h"

static char tdir[] = "/tmp/tern-test-map.XXXXXX";
static char tpath[1024];

/* Problems collected from map_compile(). */
struct reports {
	int	n;
	int	lines[32];
	char	msgs[32][256];
};

static void
collect(const char *file, int line, const char *msg, void *arg)
{
	struct reports *r = arg;

	(void)file;
	if (r->n < 32) {
		r->lines[r->n] = line;
		snprintf(r->msgs[r->n], sizeof(r->msgs[0]), "%s", msg);
	}
	r->n++;
}

/* path_in - tdir/name in a static buffer */
static const char *
path_in(const char *name)
{
	snprintf(tpath, sizeof(tpath), "%s/%s", tdir, name);
	return tpath;
}

/* write_file - create tdir/name with text; returns its path (static) */
static const char *
write_file(const char *name, const char *text)
{
	const char *p = path_in(name);
	FILE *fp = fopen(p, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
	return p;
}

/* compile - write and compile a map; the number of problems */
static int
compile(const char *name, const char *text, int aliases, struct reports *r)
{
	char src[1024];

	snprintf(src, sizeof(src), "%s", write_file(name, text));
	memset(r, 0, sizeof(*r));
	return map_compile(src, aliases, collect, r);
}

/* count_entries - files in tdir (to see that no temporary file is left) */
static int
count_entries(void)
{
	DIR *d = opendir(tdir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
setup(void)
{
	strlcpy(tdir, "/tmp/tern-test-map.XXXXXX", sizeof(tdir));
	ck_assert_ptr_nonnull(mkdtemp(tdir));
}

static void
teardown(void)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tdir);
}

static struct map *
open_map(const char *name)
{
	char err[256];
	struct map *m = map_open(path_in(name), err, sizeof(err));

	ck_assert_msg(m != NULL, "map_open: %s", err);
	return m;
}

START_TEST(test_compile_lookup)
{
	struct reports r;
	struct map *m;
	char val[256];

	ck_assert_int_eq(compile("plain",
	    "# a comment\n"
	    "\n"
	    "Alpha   first value  \n"
	    "beta\tsecond\n"
	    "   # indented comment\n"
	    "gamma one\n"
	    "  two\n"
	    "ALPHA duplicate\n", 0, &r), 0);
	/* The duplicate warns with its line and the first value stays. */
	ck_assert_int_eq(r.n, 1);
	ck_assert_int_eq(r.lines[0], 8);
	ck_assert_ptr_nonnull(strstr(r.msgs[0], "duplicate"));
	m = open_map("plain");
	ck_assert_int_eq(map_lookup(m, "alpha", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "first value");
	ck_assert_int_eq(map_lookup(m, "aLpHa", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "first value");
	ck_assert_int_eq(map_lookup(m, "BETA", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "second");
	ck_assert_int_eq(map_lookup(m, "gamma", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "one two");
	ck_assert_int_eq(map_lookup(m, "delta", val, sizeof(val)), 0);
	ck_assert_int_eq(map_lookup(m, "", val, sizeof(val)), 0);
	ck_assert_int_eq(map_lookup(m, "alph", val, sizeof(val)), 0);
	/* A value that does not fit is an error, not a truncated value. */
	ck_assert_int_eq(map_lookup(m, "alpha", val, 5), -1);
	map_close(m);
}
END_TEST

START_TEST(test_compile_errors_keep_old_map)
{
	struct reports r;
	struct map *m;
	char val[64];
	int before;

	ck_assert_int_eq(compile("t", "key old\n", 0, &r), 0);
	before = count_entries();
	ck_assert_int_eq(compile("t",
	    "key new\n"
	    "lonely\n"
	    "ok value\n"
	    "  \n"
	    "also fine\n", 0, &r), 1);
	ck_assert_int_eq(r.lines[0], 2);
	ck_assert_ptr_nonnull(strstr(r.msgs[0], "expected format"));
	/* Nothing replaced, and no temporary file left behind. */
	ck_assert_int_eq(count_entries(), before);
	m = open_map("t");
	ck_assert_int_eq(map_lookup(m, "key", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "old");
	map_close(m);

	ck_assert_int_eq(compile("u", "  starts indented\nk v\n", 0, &r), 1);
	ck_assert_int_eq(r.lines[0], 1);
	ck_assert_int_eq(access(path_in("u.db"), F_OK), -1);
}
END_TEST

START_TEST(test_compile_limits)
{
	struct reports r;
	char *text = xmalloc(3000);

	memset(text, 'k', 1100);
	strlcpy(text + 1100, " v\nok fine\n", 3000 - 1100);
	ck_assert_int_eq(compile("big", text, 0, &r), 1);
	ck_assert_int_eq(r.lines[0], 1);
	free(text);

	/* A NUL octet in the source is reported with its line. */
	{
		FILE *fp = fopen(path_in("nul"), "w");

		ck_assert_ptr_nonnull(fp);
		fwrite("a b\nc d\0e\n", 1, 10, fp);
		fclose(fp);
	}
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(map_compile(path_in("nul"), 0, collect, &r), 1);
	ck_assert_int_eq(r.lines[0], 2);
	ck_assert_ptr_nonnull(strstr(r.msgs[0], "NUL"));
}
END_TEST

START_TEST(test_atomic_replace)
{
	struct reports r;
	struct map *m;
	char val[64];

	ck_assert_int_eq(compile("live", "k one\n", 0, &r), 0);
	m = open_map("live");
	ck_assert_int_eq(map_lookup(m, "k", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "one");
	/* Replaced within the same second: the new inode gives it away. */
	ck_assert_int_eq(compile("live", "k two\nnew entry\n", 0, &r), 0);
	ck_assert_int_eq(map_lookup(m, "k", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "two");
	ck_assert_int_eq(map_lookup(m, "new", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "entry");
	/* A map removed under the reader keeps answering from the old file. */
	ck_assert_int_eq(unlink(path_in("live.db")), 0);
	ck_assert_int_eq(map_lookup(m, "k", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "two");
	map_close(m);
}
END_TEST

START_TEST(test_open_missing)
{
	char err[256] = "";

	ck_assert_ptr_null(map_open(path_in("nothing"), err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "nothing.db"));
}
END_TEST

START_TEST(test_aliases_syntax)
{
	struct reports r;
	struct map *m;
	char val[256];

	ck_assert_int_eq(compile("aliases",
	    "# sample\n"
	    "Postmaster: root\n"
	    "\"Team Lead\" : Alice, bob@Example.ORG,\n"
	    "\tcarol\n"
	    "quoted: \"x, y\"@example.org, dave\n", 1, &r), 0);
	m = open_map("aliases");
	ck_assert_int_eq(map_lookup(m, "postmaster", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "root");
	ck_assert_int_eq(map_lookup(m, "team lead", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "Alice, bob@example.org, carol");
	ck_assert_int_eq(map_lookup(m, "quoted", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "\"x, y\"@example.org, dave");
	map_close(m);

	ck_assert_int_eq(compile("bad",
	    "ok: root\n"
	    "pipe: root, |/usr/bin/procmail\n"
	    "file: /var/mail/x\n"
	    "inc: :INCLUDE:/etc/list\n"
	    "nocolon root\n"
	    "syntax: a@@b\n"
	    "empty:\n"
	    "hidden: \"\\|cmd\"\n"
	    "hidden2: root, \"\\/var/mail/y\"\n"
	    "relinc: :include:etc/list\n"
	    "nocmd: \"|  \"\n", 1, &r), 7);
	ck_assert_int_eq(r.lines[0], 5);
	ck_assert_int_eq(r.lines[1], 6);
	ck_assert_ptr_nonnull(strstr(r.msgs[1], "a@@b"));
	ck_assert_int_eq(r.lines[2], 7);
	/* A quoted pair hides nothing: "\|cmd" is the address |cmd, not a
	 * command, and no mailbox name either (found by fuzz_map). */
	ck_assert_int_eq(r.lines[3], 8);
	ck_assert_ptr_nonnull(strstr(r.msgs[3], "quoted command"));
	ck_assert_int_eq(r.lines[4], 9);
	ck_assert_ptr_nonnull(strstr(r.msgs[4], "quoted command"));
	ck_assert_int_eq(r.lines[5], 10);
	ck_assert_ptr_nonnull(strstr(r.msgs[5], "absolute"));
	ck_assert_int_eq(r.lines[6], 11);
	ck_assert_ptr_nonnull(strstr(r.msgs[6], "empty command"));
	ck_assert_int_eq(access(path_in("bad.db"), F_OK), -1);
}
END_TEST

/*
 * Commands, files and :include: lists compile, kept as written (lookupd
 * reads them again); Debian's stock /etc/aliases (as Debian's mail
 * packages write it) compiles whole.
 */
START_TEST(test_aliases_commands_files_includes)
{
	struct reports r;
	struct map *m;
	char val[512];

	ck_assert_int_eq(compile("aliases",
	    "pipe: root, |/usr/bin/procmail\n"
	    "qpipe: \"|/usr/bin/logger -t list, with comma\", bob\n"
	    "file: /var/mail/x\n"
	    "null: /dev/null\n"
	    "inc: :INCLUDE:/etc/list\n", 1, &r), 0);
	m = open_map("aliases");
	ck_assert_int_eq(map_lookup(m, "pipe", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "root, |/usr/bin/procmail");
	ck_assert_int_eq(map_lookup(m, "qpipe", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "\"|/usr/bin/logger -t list, with comma\", bob");
	ck_assert_int_eq(map_lookup(m, "file", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "/var/mail/x");
	ck_assert_int_eq(map_lookup(m, "inc", val, sizeof(val)), 1);
	ck_assert_str_eq(val, ":INCLUDE:/etc/list");
	map_close(m);
	ck_assert_int_eq(compile("debian",
	    "# /etc/aliases\n"
	    "mailer-daemon: postmaster\n"
	    "postmaster: root\n"
	    "nobody: root\n"
	    "hostmaster: root\n"
	    "usenet: root\n"
	    "news: root\n"
	    "webmaster: root\n"
	    "www: root\n"
	    "ftp: root\n"
	    "abuse: root\n"
	    "noc: root\n"
	    "security: root\n"
	    "root: admin\n", 1, &r), 0);
}
END_TEST

/* The alias value item parser: what is a command, a file, an include. */
START_TEST(test_alias_item_kind)
{
	const char *rest;
	size_t len;
	uid_t uid;
	char buf[ALIAS_TARGET_MAX + 8];

	ck_assert_int_eq(alias_item_kind("bob", &rest, &len),
	    ALIAS_ITEM_ADDRESS);
	ck_assert_int_eq(alias_item_kind("bob@example.org", &rest, &len),
	    ALIAS_ITEM_ADDRESS);
	ck_assert_int_eq(alias_item_kind("|/bin/cat", &rest, &len),
	    ALIAS_ITEM_COMMAND);
	ck_assert(len == 8 && strncmp(rest, "/bin/cat", len) == 0);
	ck_assert_int_eq(alias_item_kind("\"|/bin/x a, b\"", &rest, &len),
	    ALIAS_ITEM_COMMAND);
	ck_assert(len == 11 && strncmp(rest, "/bin/x a, b", len) == 0);
	ck_assert_int_eq(alias_item_kind("\"|\"", &rest, &len),
	    ALIAS_ITEM_BAD);
	ck_assert_int_eq(alias_item_kind("|a\nb", &rest, &len),
	    ALIAS_ITEM_BAD);
	ck_assert_int_eq(alias_item_kind("/var/mail/list", &rest, &len),
	    ALIAS_ITEM_FILE);
	ck_assert_uint_eq(len, 14);
	ck_assert_int_eq(alias_item_kind("\"/var/my list\"", &rest, &len),
	    ALIAS_ITEM_FILE);
	ck_assert(len == 12 && strncmp(rest, "/var/my list", len) == 0);
	ck_assert_int_eq(alias_item_kind("/", &rest, &len), ALIAS_ITEM_BAD);
	ck_assert_int_eq(alias_item_kind(":include:/etc/l", &rest, &len),
	    ALIAS_ITEM_INCLUDE);
	ck_assert(len == 6 && strncmp(rest, "/etc/l", len) == 0);
	ck_assert_int_eq(alias_item_kind(":Include:l", &rest, &len),
	    ALIAS_ITEM_BAD);
	/* An address that merely contains these is an address. */
	ck_assert_int_eq(alias_item_kind("a|b@example.org", &rest, &len),
	    ALIAS_ITEM_ADDRESS);
	/* "\\user": a mailbox, which an alias file names bare. */
	ck_assert_int_eq(alias_item_kind("\\bob", &rest, &len),
	    ALIAS_ITEM_MAILBOX);
	ck_assert(len == 3 && strncmp(rest, "bob", len) == 0);
	ck_assert(alias_item_user_ok(rest, len));
	ck_assert_int_eq(alias_item_kind("\\bob@localhost", &rest, &len),
	    ALIAS_ITEM_MAILBOX);
	ck_assert(!alias_item_user_ok(rest, len));
	ck_assert_int_eq(alias_item_kind("\\", &rest, &len), ALIAS_ITEM_BAD);
	ck_assert_int_eq(alias_item_kind("\\a b", &rest, &len),
	    ALIAS_ITEM_BAD);
	ck_assert(!alias_item_user_ok(".x", 2));
	ck_assert(!alias_item_user_ok("a/b", 3));
	ck_assert(!alias_item_user_ok("|cmd", 4));

	ck_assert_int_eq(alias_target_format(buf, sizeof(buf), 1000,
	    "/bin/x a", 8), 0);
	ck_assert_str_eq(buf, "1000:/bin/x a");
	ck_assert_int_eq(alias_target_parse(buf, &uid, &rest), 0);
	ck_assert(uid == 1000 && strcmp(rest, "/bin/x a") == 0);
	ck_assert_int_eq(alias_target_parse("bob", &uid, &rest), -1);
	ck_assert_int_eq(alias_target_parse("12:", &uid, &rest), -1);
	ck_assert_int_eq(alias_target_parse("-1:x", &uid, &rest), -1);
	ck_assert_int_eq(alias_target_parse("99999999999999999999:x", &uid,
	    &rest), -1);
	memset(buf, 'x', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	ck_assert_int_eq(alias_target_format(buf, sizeof(buf), 0, buf,
	    ALIAS_TARGET_MAX), -1);
}
END_TEST

/* ---- lookup_rcpt -------------------------------------------------- */

static struct settings rs;
static struct lookup_ctx rctx;

static void
strlist_set(struct strlist *l, const char *a, const char *b)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = xcalloc(2, sizeof(char *));
	l->n = 0;
	if (a != NULL)
		l->v[l->n++] = xstrdup(a);
	if (b != NULL)
		l->v[l->n++] = xstrdup(b);
}

static void
mkdir_in(const char *name)
{
	ck_assert_int_eq(mkdir(path_in(name), 0755), 0);
}

/* rcpt_setup - mailboxes alice, bob, root; an alias map; two domains */
static void
rcpt_setup(void)
{
	struct reports r;
	char line[64], *text;
	size_t off = 0;
	int i;

	setup();
	settings_defaults(&rs);
	strlist_set(&rs.local_domains, "Local.Example.", "localhost");
	free(rs.mailbox_base);
	rs.mailbox_base = xstrdup(path_in("mail"));
	mkdir_in("mail");
	mkdir_in("mail/alice");
	mkdir_in("mail/bob");
	mkdir_in("mail/root");
	mkdir_in("mail/.hidden");
	mkdir_in("mail/a");
	mkdir_in("mail/a/b");
	ck_assert_int_eq(symlink(tdir, path_in("mail/evil")), 0);
	write_file("mail/plain", "not a directory\n");

	text = xmalloc(65536);
	off = strlcpy(text,
	    "info: alice, bob\n"
	    "team: info, Carol@Remote.Example\n"
	    "self: self, alice\n"
	    "loopa: loopb\n"
	    "loopb: loopa, bob\n"
	    "dup: alice, Alice, alice@local.example, ALICE@LOCALHOST, info\n"
	    "mixed: x@Elsewhere.ORG, bob@localhost\n"
	    "ghost: nosuchuser\n", 65536);
	/* n1 -> ... -> n20 -> alice: 20 nested aliases, the limit. */
	for (i = 1; i <= 20; i++) {
		if (i < 20)
			snprintf(line, sizeof(line), "n%d: n%d\n", i, i + 1);
		else
			snprintf(line, sizeof(line), "n%d: alice\n", i);
		off = strlcat(text, line, 65536);
	}
	/* m1 -> ... -> m21 -> alice: one too many. */
	for (i = 1; i <= 21; i++) {
		if (i < 21)
			snprintf(line, sizeof(line), "m%d: m%d\n", i, i + 1);
		else
			snprintf(line, sizeof(line), "m%d: alice\n", i);
		off = strlcat(text, line, 65536);
	}
	off = strlcat(text, "wide: alice", 65536);
	for (i = 0; i < LOOKUP_MAX_TARGETS + 5; i++) {
		snprintf(line, sizeof(line), ", u%d@remote.example", i);
		off = strlcat(text, line, 65536);
	}
	ck_assert_uint_lt(off, 65000);
	strlcat(text, "\n", 65536);
	ck_assert_int_eq(compile("aliases", text, 1, &r), 0);
	free(text);
	strlist_set(&rs.alias_maps, path_in("aliases"), NULL);
	rctx.settings = &rs;
	rctx.mailbox_fd = -1;
	rctx.aliases = lookup_aliases_open(&rs.alias_maps);
}

static void
rcpt_teardown(void)
{
	lookup_aliases_close(rctx.aliases);
	settings_free(&rs);
	teardown();
}

/* verdict - shorthand */
static enum lookup_verdict
verdict(const char *address)
{
	return lookup_rcpt_verdict(&rctx, address);
}

/* has_target - t holds (kind, target) */
static int
has_target(const struct lookup_targets *t, enum resolve_kind kind,
    const char *target)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].kind == kind && strcmp(t->v[i].target, target) == 0)
			return 1;
	return 0;
}

START_TEST(test_rcpt_local_mailboxes)
{
	ck_assert_int_eq(verdict("alice@local.example"), LOOKUP_LOCAL);
	ck_assert_int_eq(verdict("ALICE@localhost"), LOOKUP_LOCAL);
	ck_assert_int_eq(verdict("nobody@local.example"), LOOKUP_UNKNOWN);
	/* Only real directories count: no symlinks, files, sub-paths. */
	ck_assert_int_eq(verdict("evil@local.example"), LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict("plain@local.example"), LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict("a/b@local.example"), LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict("\".hidden\"@local.example"),
	    LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict("\"..\"@local.example"), LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict("alice@remote.example"), LOOKUP_REMOTE);
	ck_assert_int_eq(verdict("alice@local.example.org"), LOOKUP_REMOTE);
	ck_assert_int_eq(verdict("not an address"), LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict(""), LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict("info@Local.Example"), LOOKUP_ALIAS);
	ck_assert_int_eq(verdict("INFO@localhost"), LOOKUP_ALIAS);
	/* An alias in a domain that is not ours is just remote. */
	ck_assert_int_eq(verdict("info@remote.example"), LOOKUP_REMOTE);
}
END_TEST

START_TEST(test_rcpt_resolve_basic)
{
	struct lookup_targets t = { NULL, 0, 0 };

	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "Alice@local.example",
	    &t), LOOKUP_LOCAL);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "alice"));

	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "Someone@Remote.Example",
	    &t), LOOKUP_REMOTE);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(has_target(&t, RESOLVE_REMOTE, "Someone@remote.example"));

	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "nobody@localhost", &t),
	    LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);

	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "team@local.example",
	    &t), LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 3);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "alice"));
	ck_assert(has_target(&t, RESOLVE_LOCAL, "bob"));
	ck_assert(has_target(&t, RESOLVE_REMOTE, "Carol@remote.example"));

	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "mixed@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	ck_assert(has_target(&t, RESOLVE_REMOTE, "x@elsewhere.org"));
	ck_assert(has_target(&t, RESOLVE_LOCAL, "bob"));

	/* Duplicates (by case, domain or through another alias) go. */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "dup@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "alice"));
	ck_assert(has_target(&t, RESOLVE_LOCAL, "bob"));

	/* An alias target without a mailbox is left to delivery to bounce. */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "ghost@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "nosuchuser"));
	lookup_targets_free(&t);
}
END_TEST

START_TEST(test_rcpt_resolve_loops_limits)
{
	struct lookup_targets t = { NULL, 0, 0 };

	/* An alias naming itself delivers to that mailbox. */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "self@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "self"));
	ck_assert(has_target(&t, RESOLVE_LOCAL, "alice"));

	/* A longer loop stops where it closes. */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "loopa@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "loopa"));
	ck_assert(has_target(&t, RESOLVE_LOCAL, "bob"));

	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "n1@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "alice"));
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "n2@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);

	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "m1@localhost", &t),
	    LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);
	/* Starting one level lower it fits again. */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "m2@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);

	ck_assert_int_eq(verdict("wide@localhost"), LOOKUP_ALIAS);
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "wide@localhost", &t),
	    LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);
	lookup_targets_free(&t);
}
END_TEST

START_TEST(test_rcpt_postmaster)
{
	struct lookup_targets t = { NULL, 0, 0 };
	struct reports r;

	/* No alias, no mailbox: accepted anyway, delivered to root. */
	ck_assert_int_eq(verdict("postmaster"), LOOKUP_ALIAS);
	ck_assert_int_eq(verdict("PostMaster@local.example"), LOOKUP_ALIAS);
	ck_assert_int_eq(verdict("postmaster@remote.example"), LOOKUP_REMOTE);
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "postmaster", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "root"));

	/* root itself an alias: followed. */
	ck_assert_int_eq(compile("aliases", "root: bob, alice\n", 1, &r), 0);
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "postmaster@localhost",
	    &t), LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "bob"));
	ck_assert(has_target(&t, RESOLVE_LOCAL, "alice"));

	/* An explicit alias wins. */
	ck_assert_int_eq(compile("aliases", "postmaster: alice\n", 1, &r), 0);
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "postmaster", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "alice"));

	/* As does a mailbox of that name. */
	ck_assert_int_eq(compile("aliases", "x: y\n", 1, &r), 0);
	mkdir_in("mail/postmaster");
	ck_assert_int_eq(verdict("postmaster"), LOOKUP_LOCAL);
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "postmaster", &t),
	    LOOKUP_LOCAL);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "postmaster"));
	lookup_targets_free(&t);
}
END_TEST

START_TEST(test_rcpt_map_states)
{
	struct lookup_targets t = { NULL, 0, 0 };
	struct reports r;
	char first[1024];

	/* Source present, never compiled: read from the source text, so
	 * neither a deferral of every local recipient nor a guess. */
	lookup_aliases_close(rctx.aliases);
	write_file("pending", "info: alice\n");
	strlist_set(&rs.alias_maps, path_in("pending"), NULL);
	rctx.aliases = lookup_aliases_open(&rs.alias_maps);
	ck_assert_int_eq(verdict("info@localhost"), LOOKUP_ALIAS);
	ck_assert_int_eq(verdict("nobody@localhost"), LOOKUP_UNKNOWN);
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "alice@localhost", &t),
	    LOOKUP_LOCAL);
	ck_assert_uint_eq(t.n, 1);
	ck_assert_int_eq(verdict("info@remote.example"), LOOKUP_REMOTE);
	/* Compiled later: picked up without a restart. */
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(map_compile(path_in("pending"), 1, collect, &r), 0);
	ck_assert_int_eq(verdict("info@localhost"), LOOKUP_ALIAS);
	/* Edited after newaliases: the edit counts at once, from the text. */
	write_file("pending", "info: alice\nsales: bob\n");
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "sales@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "bob"));
	ck_assert_int_eq(verdict("ghost@localhost"), LOOKUP_UNKNOWN);
	/* An edit that does not parse: the older .db, the last good
	 * compile, answers until it is fixed. */
	write_file("pending", "info: alice\nsales: bob\nbad: a@@b\n");
	ck_assert_int_eq(verdict("info@localhost"), LOOKUP_ALIAS);
	ck_assert_int_eq(verdict("sales@localhost"), LOOKUP_UNKNOWN);
	/* ... and without any .db, a name not found may be on the bad
	 * line: deferred, never "unknown". */
	ck_assert_int_eq(unlink(path_in("pending.db")), 0);
	ck_assert_int_eq(verdict("ghost@localhost"), LOOKUP_TEMPFAIL);
	ck_assert_int_eq(verdict("alice@localhost"), LOOKUP_TEMPFAIL);
	write_file("pending", "info: alice\nsales: bob\n");
	ck_assert_int_eq(verdict("ghost@localhost"), LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict("sales@localhost"), LOOKUP_ALIAS);

	/* Neither file exists: no aliases at all. */
	lookup_aliases_close(rctx.aliases);
	strlist_set(&rs.alias_maps, path_in("absent"), NULL);
	rctx.aliases = lookup_aliases_open(&rs.alias_maps);
	ck_assert_int_eq(verdict("info@localhost"), LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict("alice@localhost"), LOOKUP_LOCAL);

	/* The first map that knows a name decides. */
	lookup_aliases_close(rctx.aliases);
	ck_assert_int_eq(compile("first", "info: bob\n", 1, &r), 0);
	snprintf(first, sizeof(first), "%s", path_in("first"));
	strlist_set(&rs.alias_maps, first, path_in("aliases"));
	rctx.aliases = lookup_aliases_open(&rs.alias_maps);
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "info@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(has_target(&t, RESOLVE_LOCAL, "bob"));
	ck_assert_int_eq(verdict("team@localhost"), LOOKUP_ALIAS);
	lookup_targets_free(&t);
}
END_TEST

/* put_raw - store key -> value in FILE.db directly, as a hostile writer */
static void
put_raw(const char *file, const char *key, const char *value)
{
	char path[1100];
	DB *db;
	DBT k, v;

	snprintf(path, sizeof(path), "%s.db", file);
	ck_assert_int_eq(db_create(&db, NULL, 0), 0);
	ck_assert_int_eq(db->open(db, NULL, path, NULL, DB_HASH, DB_CREATE,
	    0644), 0);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key);
	v.data = (void *)(uintptr_t)value;
	v.size = (u_int32_t)strlen(value);
	ck_assert_int_eq(db->put(db, NULL, &k, &v, 0), 0);
	ck_assert_int_eq(db->close(db, 0), 0);
}

START_TEST(test_rcpt_untrusted_map)
{
	struct lookup_targets t = { NULL, 0, 0 };
	char file[1024];

	lookup_aliases_close(rctx.aliases);
	snprintf(file, sizeof(file), "%s", path_in("raw"));
	put_raw(file, "pipe", "alice, |/bin/sh -c evil");
	put_raw(file, "garbage", "a@@b");
	put_raw(file, "escape", "\"../../etc\"");
	put_raw(file, "empty", "");
	strlist_set(&rs.alias_maps, file, NULL);
	rctx.aliases = lookup_aliases_open(&rs.alias_maps);
	/* A command in a map: run as the map's owner (here, us). */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "pipe@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	snprintf(file, sizeof(file), "%lu:/bin/sh -c evil",
	    (unsigned long)geteuid());
	ck_assert(has_target(&t, RESOLVE_COMMAND, file));
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "garbage@localhost", &t),
	    LOOKUP_UNKNOWN);
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "escape@localhost", &t),
	    LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);
	/* Accepted mail must go somewhere: an empty value cannot. */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "empty@localhost", &t),
	    LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);
	lookup_targets_free(&t);
}
END_TEST

/*
 * Commands and files carry the owner of the file that named them; an
 * :include: file is read (its commands as its owner's), once per
 * resolve even when it includes itself, and refused when others may
 * write it; virtual_alias_map may name neither.
 */
START_TEST(test_rcpt_commands_files_includes)
{
	struct lookup_targets t = { NULL, 0, 0 };
	char text[8192], want[256];
	unsigned long me = (unsigned long)geteuid();
	struct reports r;

	lookup_aliases_close(rctx.aliases);
	/* list ends by including itself: a loop, expanded once. */
	snprintf(text, sizeof(text), "# members\nalice\n\"|/bin/cat -n\", "
	    "bob\n:include:%s\n", path_in("list"));
	write_file("list", text);
	write_file("open", "carol\n");
	ck_assert_int_eq(chmod(path_in("open"), 0666), 0);
	snprintf(text, sizeof(text),
	    "cmd: \"|/usr/bin/env > /tmp/x; echo $SENDER\", alice\n"
	    "box: /var/tmp/box.mbox\n"
	    "inc: :include:%s\n", path_in("list"));
	snprintf(text + strlen(text), sizeof(text) - strlen(text),
	    "badinc: :include:%s\n", path_in("open"));
	snprintf(text + strlen(text), sizeof(text) - strlen(text),
	    "noinc: :include:%s\n", path_in("missing"));
	ck_assert_int_eq(compile("cmdaliases", text, 1, &r), 0);
	strlist_set(&rs.alias_maps, path_in("cmdaliases"), NULL);
	rctx.aliases = lookup_aliases_open(&rs.alias_maps);

	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "cmd@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	snprintf(want, sizeof(want), "%lu:/usr/bin/env > /tmp/x; echo $SENDER",
	    me);
	ck_assert(has_target(&t, RESOLVE_COMMAND, want));
	ck_assert(has_target(&t, RESOLVE_LOCAL, "alice"));
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "box@localhost", &t),
	    LOOKUP_ALIAS);
	snprintf(want, sizeof(want), "%lu:/var/tmp/box.mbox", me);
	ck_assert(t.n == 1 && has_target(&t, RESOLVE_FILE, want));
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "inc@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 3);
	snprintf(want, sizeof(want), "%lu:/bin/cat -n", me);
	ck_assert(has_target(&t, RESOLVE_COMMAND, want));
	ck_assert(has_target(&t, RESOLVE_LOCAL, "alice"));
	ck_assert(has_target(&t, RESOLVE_LOCAL, "bob"));
	/* Writable by others: refused (bounced), never run. */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "badinc@localhost", &t),
	    LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);
	/* Missing: perhaps not yet mounted, so tried again later. */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "noinc@localhost", &t),
	    LOOKUP_TEMPFAIL);
	lookup_targets_free(&t);
}
END_TEST

/*
 * "\\name" in an alias file is name's mailbox (RESOLVE_MAILBOX): not
 * looked up as an alias, not a duplicate of a bare "name", unknown
 * users left to delivery; anything but a bare user name is refused by
 * ternmap, and by lookupd when the text is read directly.
 */
START_TEST(test_rcpt_backslash_user)
{
	struct lookup_targets t = { NULL, 0, 0 };
	struct reports r;

	lookup_aliases_close(rctx.aliases);
	ck_assert_int_eq(compile("bsaliases",
	    "info: \\Info, info@remote.example\n"
	    "team: \\alice, \\nosuchuser, \\info, \\alice\n"
	    "alice: bob\n", 1, &r), 0);
	strlist_set(&rs.alias_maps, path_in("bsaliases"), NULL);
	rctx.aliases = lookup_aliases_open(&rs.alias_maps);
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "info@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	ck_assert(has_target(&t, RESOLVE_MAILBOX, "info"));
	ck_assert(has_target(&t, RESOLVE_REMOTE, "info@remote.example"));
	/* alice is an alias of bob; "\\alice" is alice's mailbox. */
	ck_assert_int_eq(lookup_rcpt_resolve(&rctx, "team@localhost", &t),
	    LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 3);
	ck_assert(has_target(&t, RESOLVE_MAILBOX, "alice"));
	ck_assert(has_target(&t, RESOLVE_MAILBOX, "nosuchuser"));
	ck_assert(has_target(&t, RESOLVE_MAILBOX, "info"));
	lookup_targets_free(&t);

	ck_assert_int_eq(compile("bsbad",
	    "a: \\\n"
	    "b: \\bob@localhost\n"
	    "c: \\.hidden\n"
	    "d: \\x/y\n", 1, &r), 4);
	ck_assert_ptr_nonnull(strstr(r.msgs[1], "local user name"));
}
END_TEST

/* An aliases.db made by Postfix's or Sendmail's newaliases keeps the
 * terminating NUL of keys and values; tern reads it. */
START_TEST(test_map_nul_terminated_db)
{
	char file[1024], path[1100], val[256];
	struct map *m;
	DB *db;
	DBT k, v;

	snprintf(file, sizeof(file), "%s", path_in("postfixstyle"));
	snprintf(path, sizeof(path), "%s.db", file);
	ck_assert_int_eq(db_create(&db, NULL, 0), 0);
	ck_assert_int_eq(db->open(db, NULL, path, NULL, DB_HASH, DB_CREATE,
	    0644), 0);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *)(uintptr_t)"postmaster";
	k.size = sizeof("postmaster");		/* with the NUL */
	v.data = (void *)(uintptr_t)"root";
	v.size = sizeof("root");
	ck_assert_int_eq(db->put(db, NULL, &k, &v, 0), 0);
	ck_assert_int_eq(db->close(db, 0), 0);
	m = map_open(file, val, sizeof(val));
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(map_lookup(m, "PostMaster", val, sizeof(val)), 1);
	ck_assert_str_eq(val, "root");
	ck_assert_int_eq(map_lookup(m, "postmaste", val, sizeof(val)), 0);
	map_close(m);
}
END_TEST

START_TEST(test_rcpt_passwd)
{
	/* Without mailbox_base the password database decides. */
	free(rs.mailbox_base);
	rs.mailbox_base = xstrdup("");
	ck_assert_int_eq(verdict("root@localhost"), LOOKUP_LOCAL);
	ck_assert_int_eq(verdict("ROOT@localhost"), LOOKUP_LOCAL);
	ck_assert_int_eq(verdict("no-such-user-tern@localhost"),
	    LOOKUP_UNKNOWN);
	ck_assert_int_eq(verdict("info@localhost"), LOOKUP_ALIAS);
}
END_TEST

Suite *
map_suite(void)
{
	Suite *s = suite_create("map");
	TCase *tc;

	tc = tcase_create("map");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_compile_lookup);
	tcase_add_test(tc, test_compile_errors_keep_old_map);
	tcase_add_test(tc, test_compile_limits);
	tcase_add_test(tc, test_atomic_replace);
	tcase_add_test(tc, test_open_missing);
	tcase_add_test(tc, test_aliases_syntax);
	tcase_add_test(tc, test_aliases_commands_files_includes);
	tcase_add_test(tc, test_alias_item_kind);
	suite_add_tcase(s, tc);

	tc = tcase_create("lookup_rcpt");
	tcase_add_checked_fixture(tc, rcpt_setup, rcpt_teardown);
	tcase_add_test(tc, test_rcpt_local_mailboxes);
	tcase_add_test(tc, test_rcpt_resolve_basic);
	tcase_add_test(tc, test_rcpt_resolve_loops_limits);
	tcase_add_test(tc, test_rcpt_postmaster);
	tcase_add_test(tc, test_rcpt_map_states);
	tcase_add_test(tc, test_rcpt_untrusted_map);
	tcase_add_test(tc, test_rcpt_commands_files_includes);
	tcase_add_test(tc, test_rcpt_backslash_user);
	tcase_add_test(tc, test_rcpt_passwd);
	tcase_add_test(tc, test_map_nul_terminated_db);
	suite_add_tcase(s, tc);
	return s;
}
