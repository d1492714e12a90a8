/*
 * test_virtual - unit tests for virtual domains: the mailbox path check
 * (common/virtual_path.c), virtual_alias_map rewriting and virtual
 * mailbox resolution in lookupd (lookupd/lookup_rcpt.c,
 * lookup_virtual.c), the walk that opens a virtual Maildir in deliverd
 * (deliverd/virtual_mailbox.c) and the settings' cross-checks.  Each
 * test works in its own temporary directory with maps compiled by
 * map_compile, as ternmap would.
 */
#include "config.h"

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "../../deliverd/local_target.h"
#include "../../deliverd/maildir.h"
#include "../../deliverd/virtual_mailbox.h"
#include "../../lookupd/lookup_rcpt.h"
#include "../../lookupd/lookup_virtual.h"
#include "map.h"
#include "msg.h"
#include "settings.h"
#include "virtual_path.h"
#include "xmalloc.h"

static char vdir[] = "/tmp/tern-test-virtual.XXXXXX";
static char vpath[1024];
static struct settings vs;
static struct lookup_ctx vctx;

/* vpath_in - vdir/name in a static buffer */
static const char *
vpath_in(const char *name)
{
	snprintf(vpath, sizeof(vpath), "%s/%s", vdir, name);
	return vpath;
}

/* vcompile - write the text map vdir/name and compile it */
static void
vcompile(const char *name, const char *text)
{
	char src[1024];
	FILE *fp;

	snprintf(src, sizeof(src), "%s", vpath_in(name));
	ck_assert_ptr_nonnull(fp = fopen(src, "w"));
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
	ck_assert_int_eq(map_compile(src, MAP_SYNTAX_PLAIN, NULL, NULL), 0);
}

/* vlist_set - l = { a } */
static void
vlist_set(struct strlist *l, const char *a, const char *b)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = xcalloc(2, sizeof(char *));
	l->n = 0;
	l->v[l->n++] = xstrdup(a);
	if (b != NULL)
		l->v[l->n++] = xstrdup(b);
}

static void
vsetup(void)
{
	char *text = xmalloc(8192), line[128];
	int i;

	strlcpy(vdir, "/tmp/tern-test-virtual.XXXXXX", sizeof(vdir));
	ck_assert_ptr_nonnull(mkdtemp(vdir));
	settings_defaults(&vs);
	vlist_set(&vs.local_domains, "local.example", NULL);
	vlist_set(&vs.virtual_mailbox_domains, "virt.example",
	    "Other.Example.");
	free(vs.mailbox_base);
	vs.mailbox_base = xstrdup(vpath_in("mail"));
	ck_assert_int_eq(mkdir(vs.mailbox_base, 0755), 0);
	ck_assert_int_eq(mkdir(vpath_in("mail/alice"), 0755), 0);
	vcompile("vmailbox",
	    "a@virt.example virt.example/a/\n"
	    "c@virt.example virt.example/c/\n"
	    "s@virt.example virt.example/s/\n"
	    "o@other.example other.example/o/\n"
	    "evil@virt.example ../x/\n"
	    "abs@virt.example /etc/x/\n"
	    "mbox@virt.example virt.example/mbox\n");
	strlcpy(text,
	    "@other.example c@virt.example\n"
	    "@alias.example @virt.example\n"
	    "b@alias.example alice@local.example\n"
	    "fwd@virt.example x@Remote.Example, a@virt.example, alice\n"
	    "l1@virt.example l2@virt.example\n"
	    "l2@virt.example l1@virt.example\n"
	    "@ring1.example @ring2.example\n"
	    "@ring2.example @ring1.example\n"
	    "s@virt.example s@virt.example, a@virt.example\n"
	    "x@remote2.example a@virt.example\n"
	    "bad@virt.example \"unterminated\n"
	    "cmd@virt.example \"|/bin/sh -c x\", a@virt.example\n"
	    "file@virt.example /tmp/x\n"
	    "alice@local.example alice@local.example, z@remote.example\n",
	    8192);
	/* v1 -> ... -> v20 -> a: 20 nested rewrites, the limit; w: 21. */
	for (i = 1; i <= 20; i++) {
		snprintf(line, sizeof(line), "v%d@virt.example v%d@virt.example"
		    "\n", i, i + 1);
		if (i == 20)
			snprintf(line, sizeof(line), "v20@virt.example "
			    "a@virt.example\n");
		strlcat(text, line, 8192);
	}
	for (i = 1; i <= 21; i++) {
		snprintf(line, sizeof(line), "w%d@virt.example w%d@virt.example"
		    "\n", i, i + 1);
		if (i == 21)
			snprintf(line, sizeof(line), "w21@virt.example "
			    "a@virt.example\n");
		strlcat(text, line, 8192);
	}
	vcompile("valias", text);
	free(text);
	free(vs.virtual_mailbox_map);
	vs.virtual_mailbox_map = xstrdup(vpath_in("vmailbox"));
	free(vs.virtual_alias_map);
	vs.virtual_alias_map = xstrdup(vpath_in("valias"));
	vctx.settings = &vs;
	vctx.mailbox_fd = -1;
	vctx.aliases = NULL;
	vctx.virtual = lookup_virtual_open(&vs);
}

static void
vteardown(void)
{
	char cmd[1200];

	lookup_virtual_close(vctx.virtual);
	settings_free(&vs);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", vdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", vdir);
}

/* resolve1 - resolve address: its verdict; the targets in t */
static enum lookup_verdict
resolve1(const char *address, struct lookup_targets *t)
{
	return lookup_rcpt_resolve(&vctx, address, t);
}

/* vhas - t holds (kind, target) */
static int
vhas(const struct lookup_targets *t, enum resolve_kind kind,
    const char *target)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->v[i].kind == kind && strcmp(t->v[i].target, target) == 0)
			return 1;
	return 0;
}

START_TEST(test_virtual_path_check)
{
	static const char *const good[] = { "a/", "virt.example/bob/",
	    "d/u/Maildir/", "x y/z/", "a.b/c-d_e/" };
	static const char *const bad[] = { "", "/etc/", "../x/", "a/../b/",
	    "a/./b/", "./a/", "a//b/", ".hidden/", "a/.b/", "a/b",
	    "virt.example/bob", "a\n/", "a\\b/", "..", "/" };
	const char *why;
	char longp[VIRTUAL_PATH_MAX + 8];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(virtual_path_check(good[i], &why) == 0,
		    "%s refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(virtual_path_check(bad[i], &why) == -1,
		    "%s accepted", bad[i]);
	ck_assert_int_eq(virtual_path_check("a/b", &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "mbox"));
	memset(longp, 'a', sizeof(longp) - 2);
	longp[sizeof(longp) - 2] = '/';
	longp[sizeof(longp) - 1] = '\0';
	ck_assert_int_eq(virtual_path_check(longp, &why), -1);
	ck_assert(virtual_path_is("d/u/"));
	ck_assert(!virtual_path_is("alice"));
}
END_TEST

START_TEST(test_virtual_mailboxes)
{
	struct lookup_targets t = { NULL, 0, 0 };

	/* virtual_alias_map may name no command and no file: refused. */
	ck_assert_int_eq(resolve1("cmd@virt.example", &t), LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_int_eq(resolve1("file@virt.example", &t), LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);

	ck_assert_int_eq(resolve1("A@Virt.Example", &t), LOOKUP_LOCAL);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "virt.example/a/"));
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "a@virt.example"),
	    LOOKUP_LOCAL);
	/* Unknown users of a virtual domain: refused, at RCPT too. */
	ck_assert_int_eq(resolve1("nobody@virt.example", &t), LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "nobody@virt.example"),
	    LOOKUP_UNKNOWN);
	/* Entries whose path leaves the base, or is an mbox: refused. */
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "evil@virt.example"),
	    LOOKUP_UNKNOWN);
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "abs@virt.example"),
	    LOOKUP_UNKNOWN);
	ck_assert_int_eq(resolve1("mbox@virt.example", &t), LOOKUP_UNKNOWN);
	/* postmaster of a virtual domain without an entry: the local one
	 * (here no alias and no mailbox: root). */
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "PostMaster@virt.example"),
	    LOOKUP_LOCAL);
	ck_assert_int_eq(resolve1("postmaster@virt.example", &t), LOOKUP_LOCAL);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "root"));
	/* Local and remote recipients are as before. */
	ck_assert_int_eq(resolve1("nobody@local.example", &t),
	    LOOKUP_UNKNOWN);
	ck_assert_int_eq(resolve1("someone@remote.example", &t),
	    LOOKUP_REMOTE);
	ck_assert(vhas(&t, RESOLVE_REMOTE, "someone@remote.example"));
	lookup_targets_free(&t);
}
END_TEST

START_TEST(test_virtual_alias_rewrites)
{
	struct lookup_targets t = { NULL, 0, 0 };

	/* A catch-all takes the unknown users, not those with a mailbox. */
	ck_assert_int_eq(resolve1("x@other.example", &t), LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "virt.example/c/"));
	ck_assert_int_eq(resolve1("o@other.example", &t), LOOKUP_LOCAL);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "other.example/o/"));
	/* @domain @other keeps the local part; the exact entry wins. */
	ck_assert_int_eq(resolve1("A@alias.example", &t), LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "virt.example/a/"));
	ck_assert_int_eq(resolve1("b@alias.example", &t), LOOKUP_ALIAS);
	/* ... and its result is rewritten again (alice@local.example). */
	ck_assert_uint_eq(t.n, 2);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "alice"));
	ck_assert(vhas(&t, RESOLVE_REMOTE, "z@remote.example"));
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "a@alias.example"),
	    LOOKUP_ALIAS);
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "zz@alias.example"),
	    LOOKUP_UNKNOWN);
	/* Remote, virtual and local (a bare name) targets together. */
	ck_assert_int_eq(resolve1("fwd@virt.example", &t), LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 3);
	ck_assert(vhas(&t, RESOLVE_REMOTE, "x@remote.example"));
	ck_assert(vhas(&t, RESOLVE_LOCAL, "virt.example/a/"));
	ck_assert(vhas(&t, RESOLVE_LOCAL, "alice"));
	/* A local domain's address is rewritten too; naming itself keeps
	 * its own mailbox. */
	ck_assert_int_eq(resolve1("alice@local.example", &t), LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "alice"));
	ck_assert(vhas(&t, RESOLVE_REMOTE, "z@remote.example"));
	ck_assert_int_eq(resolve1("s@virt.example", &t), LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 2);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "virt.example/s/"));
	ck_assert(vhas(&t, RESOLVE_LOCAL, "virt.example/a/"));
	/* An exact entry for a domain not ours: relay policy decides at
	 * RCPT, and the rewrite applies once accepted. */
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "x@remote2.example"),
	    LOOKUP_REMOTE);
	ck_assert_int_eq(resolve1("x@remote2.example", &t), LOOKUP_ALIAS);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "virt.example/a/"));
	lookup_targets_free(&t);
}
END_TEST

START_TEST(test_virtual_alias_loops_limits)
{
	struct lookup_targets t = { NULL, 0, 0 };

	ck_assert_int_eq(resolve1("l1@virt.example", &t), LOOKUP_LOOP);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "l1@virt.example"),
	    LOOKUP_LOOP);
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "q@ring1.example"),
	    LOOKUP_LOOP);
	ck_assert_int_eq(resolve1("v1@virt.example", &t), LOOKUP_ALIAS);
	ck_assert_uint_eq(t.n, 1);
	ck_assert(vhas(&t, RESOLVE_LOCAL, "virt.example/a/"));
	ck_assert_int_eq(resolve1("w1@virt.example", &t), LOOKUP_UNKNOWN);
	ck_assert_uint_eq(t.n, 0);
	/* A malformed value is no address: refused, not guessed at. */
	ck_assert_int_eq(resolve1("bad@virt.example", &t), LOOKUP_UNKNOWN);
	lookup_targets_free(&t);
}
END_TEST

START_TEST(test_virtual_map_failure_is_temporary)
{
	struct lookup_targets t = { NULL, 0, 0 };
	struct timespec later[2];
	FILE *fp;

	/* A .db newer than its source that cannot be read. */
	ck_assert_ptr_nonnull(fp = fopen(vpath_in("vmailbox.db"), "w"));
	fputs("this is not a Berkeley DB file\n", fp);
	ck_assert_int_eq(fclose(fp), 0);
	clock_gettime(CLOCK_REALTIME, &later[0]);
	later[0].tv_sec += 10;
	later[1] = later[0];
	ck_assert_int_eq(utimensat(AT_FDCWD, vpath_in("vmailbox.db"), later,
	    0), 0);
	/* Found so at start (an open map replaced by a broken one stays in
	 * use: map.c). */
	lookup_virtual_close(vctx.virtual);
	vctx.virtual = lookup_virtual_open(&vs);
	ck_assert_int_eq(lookup_rcpt_verdict(&vctx, "a@virt.example"),
	    LOOKUP_TEMPFAIL);
	ck_assert_int_eq(resolve1("a@virt.example", &t), LOOKUP_TEMPFAIL);
	ck_assert_uint_eq(t.n, 0);
	/* The catch-all of a virtual domain asks the mailbox map first. */
	ck_assert_int_eq(resolve1("x@other.example", &t), LOOKUP_TEMPFAIL);
	lookup_targets_free(&t);
}
END_TEST

START_TEST(test_virtual_mailbox_open_walk)
{
	struct maildir md;
	struct stat st;
	char err[512], target[1024];
	int fd;

	ck_assert_int_eq(mkdir(vpath_in("base"), 0755), 0);
	ck_assert_int_eq(virtual_mailbox_open(&md, vpath_in("base"),
	    "d.example/u/", err, sizeof(err)), DELIVER_OK);
	maildir_close(&md);
	ck_assert_int_eq(stat(vpath_in("base/d.example/u/new"), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(stat(vpath_in("base/d.example/u/cur"), &st), 0);
	/* Opened again: it exists now. */
	ck_assert_int_eq(virtual_mailbox_open(&md, vpath_in("base"),
	    "d.example/u/", err, sizeof(err)), DELIVER_OK);
	maildir_close(&md);
	/* A link on the way, or as the Maildir itself, is not followed. */
	ck_assert_int_eq(mkdir(vpath_in("outside"), 0755), 0);
	strlcpy(target, vpath_in("outside"), sizeof(target));
	ck_assert_int_eq(symlink(target, vpath_in("base/d.example/l")), 0);
	ck_assert_int_eq(virtual_mailbox_open(&md, vpath_in("base"),
	    "d.example/l/u/", err, sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
	ck_assert_int_eq(virtual_mailbox_open(&md, vpath_in("base"),
	    "d.example/l/", err, sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
	/* Nothing was made where the link points: it is still empty. */
	ck_assert_int_eq(rmdir(vpath_in("outside")), 0);
	/* Paths that leave the base by their text: permanent. */
	ck_assert_int_eq(virtual_mailbox_open(&md, vpath_in("base"),
	    "../outside/", err, sizeof(err)), DELIVER_PERMFAIL);
	ck_assert_ptr_nonnull(strstr(err, "5.3.5"));
	ck_assert_int_eq(virtual_mailbox_open(&md, vpath_in("base"),
	    "/tmp/x/", err, sizeof(err)), DELIVER_PERMFAIL);
	ck_assert_int_eq(virtual_mailbox_open(&md, vpath_in("nobase"),
	    "d/u/", err, sizeof(err)), DELIVER_TEMPFAIL);
	fd = open(vpath_in("base/d.example/u/new"), O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	close(fd);
}
END_TEST

START_TEST(test_virtual_target_never_root)
{
	struct local_target t;
	char err[LOCAL_TARGET_ERR_MAX];

	ck_assert_int_eq(local_target_virtual("/var/vmail", 5000, 5001,
	    "d.example/u/", &t, err, sizeof(err)), DELIVER_OK);
	ck_assert_uint_eq(t.uid, 5000);
	ck_assert_uint_eq(t.gid, 5001);
	ck_assert_str_eq(t.home, "/var/vmail");
	ck_assert_str_eq(t.maildir, "d.example/u/");
	ck_assert_str_eq(t.user, "");	/* no supplementary groups */
	ck_assert_int_eq(t.become, geteuid() == 0);
	/* Root, or no base, is a configuration to mend: deferred. */
	ck_assert_int_eq(local_target_virtual("/var/vmail", 0, 5001,
	    "d.example/u/", &t, err, sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_int_eq(local_target_virtual("/var/vmail", 5000, 0,
	    "d.example/u/", &t, err, sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_int_eq(local_target_virtual("", 5000, 5001,
	    "d.example/u/", &t, err, sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_int_eq(local_target_virtual("/var/vmail", 5000, 5001,
	    "../u/", &t, err, sizeof(err)), DELIVER_PERMFAIL);
	ck_assert_ptr_nonnull(strstr(err, "5.3.5"));
}
END_TEST

/* vreport - count settings problems */
static void
vreport(const char *file, int line, const char *msg, void *arg)
{
	(void)file;
	(void)line;
	(void)msg;
	(*(int *)arg)++;
}

/* vparse - defaults, then text; the number of problems */
static int
vparse(const char *text)
{
	struct settings s;
	int n = 0, problems;

	settings_defaults(&s);
	problems = settings_parse_buffer(&s, "t.conf", text, strlen(text),
	    vreport, &n);
	settings_free(&s);
	return problems;
}

START_TEST(test_virtual_settings_refuse_root)
{
	const char *ok = "virtual_mailbox_domains = v.example\n"
	    "virtual_mailbox_base = /var/vmail\n"
	    "virtual_mailbox_map = /etc/tern/vmailbox\n"
	    "virtual_uid = 5000\nvirtual_gid = 5000\n";

	ck_assert_int_eq(vparse(ok), 0);
	ck_assert_int_eq(vparse(""), 0);
	ck_assert_int_gt(vparse("virtual_mailbox_domains = v.example\n"
	    "virtual_mailbox_base = /var/vmail\n"
	    "virtual_mailbox_map = /etc/tern/vmailbox\n"
	    "virtual_uid = 0\nvirtual_gid = 5000\n"), 0);
	ck_assert_int_gt(vparse("virtual_mailbox_domains = v.example\n"
	    "virtual_mailbox_base = /var/vmail\n"
	    "virtual_mailbox_map = /etc/tern/vmailbox\n"
	    "virtual_uid = 5000\n"), 0);
	ck_assert_int_gt(vparse("virtual_mailbox_domains = v.example\n"
	    "virtual_uid = 5000\nvirtual_gid = 5000\n"), 0);
	ck_assert_int_gt(vparse("virtual_mailbox_domains = localhost\n"
	    "virtual_mailbox_base = /var/vmail\n"
	    "virtual_mailbox_map = /etc/tern/vmailbox\n"
	    "virtual_uid = 5000\nvirtual_gid = 5000\n"), 0);
	ck_assert_int_gt(vparse("virtual_mailbox_base = relative\n"), 0);
	ck_assert_int_gt(vparse("virtual_uid = -1\n"), 0);
}
END_TEST

Suite *
virtual_suite(void)
{
	Suite *s = suite_create("virtual");
	TCase *tc = tcase_create("virtual");

	tcase_add_checked_fixture(tc, vsetup, vteardown);
	tcase_add_test(tc, test_virtual_path_check);
	tcase_add_test(tc, test_virtual_mailboxes);
	tcase_add_test(tc, test_virtual_alias_rewrites);
	tcase_add_test(tc, test_virtual_alias_loops_limits);
	tcase_add_test(tc, test_virtual_map_failure_is_temporary);
	tcase_add_test(tc, test_virtual_mailbox_open_walk);
	tcase_add_test(tc, test_virtual_settings_refuse_root);
	tcase_add_test(tc, test_virtual_target_never_root);
	suite_add_tcase(s, tc);
	return s;
}
