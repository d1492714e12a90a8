/*
 * test_maildir - unit tests for deliverd's Maildir writer and the local
 * transport's mailbox resolution, its delivery process (batches written
 * as the mailbox owner) and the checks on what that process reports.
 *
 * Every test works in its own mkdtemp() directory.  Tests that need to be
 * an ordinary user fork and switch to nobody (65534) when run as root.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_suites.h"
#include "../../deliverd/maildir.h"
#include "ipc.h"
#include "msg.h"
#include "msg_codec.h"
#include "../../deliverd/local_child.h"
#include "../../deliverd/local_forward.h"
#include "../../deliverd/local_target.h"
#include "settings.h"

#define NOBODY	65534

static char tdir[64];

/* settings_named - settings with only myhostname set (the last call's) */
static const struct settings *
settings_named(const char *host)
{
	static char name[64];
	static struct settings set;

	snprintf(name, sizeof(name), "%s", host);
	set.myhostname = name;
	return &set;
}

/* setup - a fresh temporary directory for each test */
static void
setup(void)
{
	strlcpy(tdir, "/tmp/tern-maildir-XXXXXX", sizeof(tdir));
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	chmod(tdir, 0755);
}

/* rm_rf - remove a test tree (no symlinks are followed) */
static void
rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	char sub[1024];

	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		chmod(path, 0700);
		if ((d = opendir(path)) != NULL) {
			while ((e = readdir(d)) != NULL) {
				if (strcmp(e->d_name, ".") == 0 ||
				    strcmp(e->d_name, "..") == 0)
					continue;
				snprintf(sub, sizeof(sub), "%s/%s", path,
				    e->d_name);
				rm_rf(sub);
			}
			closedir(d);
		}
		rmdir(path);
	} else
		unlink(path);
}

/* teardown - remove the test's directory */
static void
teardown(void)
{
	rm_rf(tdir);
}

/* count_files - entries in dir other than . and .. (-1 if unreadable) */
static int
count_files(const char *dir, char *first, size_t firstsize)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n++ == 0 && first != NULL)
			strlcpy(first, e->d_name, firstsize);
	}
	closedir(d);
	return n;
}

/* assert_maildir_files - maildir's tmp/ and new/ hold ntmp and nnew files */
static void
assert_maildir_files(const char *maildir, int ntmp, int nnew)
{
	char dir[200];

	snprintf(dir, sizeof(dir), "%s/tmp", maildir);
	ck_assert_int_eq(count_files(dir, NULL, 0), ntmp);
	snprintf(dir, sizeof(dir), "%s/new", maildir);
	ck_assert_int_eq(count_files(dir, NULL, 0), nnew);
}

/* msgfile - a queue-like file: junk of prefix octets, then body */
static int
msgfile(const char *body, size_t len, size_t prefix)
{
	char path[128];
	int fd;
	size_t i;

	snprintf(path, sizeof(path), "%s/queuefile", tdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	for (i = 0; i < prefix; i++)
		ck_assert_int_eq(write(fd, "E", 1), 1);
	ck_assert_int_eq(write(fd, body, len), (ssize_t)len);
	/* What follows the body in a queue file (its trailer) must never
	 * reach a mailbox: every test would see these octets. */
	ck_assert_int_eq(write(fd, "\r\nTRAILER", 9), 9);
	close(fd);
	fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	return fd;
}

/* slurp - whole file into a new buffer; *len gets its size */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	*len = (size_t)st.st_size;
	close(fd);
	return buf;
}

/* the_message - path of the single message in MAILDIR/new (asserted) */
static void
the_message(const char *maildir, char *path, size_t size)
{
	char dir[256], name[256];

	snprintf(dir, sizeof(dir), "%s/tmp", maildir);
	ck_assert_int_eq(count_files(dir, NULL, 0), 0);
	snprintf(dir, sizeof(dir), "%s/new", maildir);
	ck_assert_int_eq(count_files(dir, name, sizeof(name)), 1);
	snprintf(path, size, "%s/%s", dir, name);
}

/* crlf_to_lf - what the Maildir copy of body should hold */
static char *
crlf_to_lf(const char *body, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);
	size_t i, o = 0;

	ck_assert_ptr_nonnull(out);
	for (i = 0; i < len; i++) {
		if (body[i] == '\r' && i + 1 < len && body[i + 1] == '\n')
			continue;
		out[o++] = body[i];
	}
	*outlen = o;
	return out;
}

/* cmp_name - qsort order for unique names */
static int
cmp_name(const void *a, const void *b)
{
	return strcmp(a, b);
}

START_TEST(test_unique_names)
{
	enum { N = 2000 };
	static char names[N][128];
	char buf[128], tiny[8];
	long long sec;
	long usec, pid;
	unsigned int q, r;
	int i, consumed;

	for (i = 0; i < N; i++) {
		ck_assert_int_eq(maildir_unique_name(names[i], sizeof(names[i]),
		    "mx.example.org"), 0);
		consumed = 0;
		ck_assert_int_eq(sscanf(names[i], "%lld.M%ldP%ldQ%uR%8x.%n",
		    &sec, &usec, &pid, &q, &r, &consumed), 5);
		ck_assert_int_gt(consumed, 0);
		ck_assert_str_eq(names[i] + consumed, "mx.example.org");
		ck_assert_int_eq(pid, (long)getpid());
		ck_assert(usec >= 0 && usec < 1000000);
		ck_assert_ptr_null(strchr(names[i], '/'));
	}
	qsort(names, N, sizeof(names[0]), cmp_name);
	for (i = 1; i < N; i++)
		ck_assert_str_ne(names[i - 1], names[i]);

	ck_assert_int_eq(maildir_unique_name(buf, sizeof(buf), "a/b:c"), 0);
	ck_assert_ptr_nonnull(strstr(buf, ".a\\057b\\072c"));
	ck_assert_ptr_null(strchr(buf, '/'));
	ck_assert_ptr_null(strchr(buf, ':'));
	ck_assert_int_eq(maildir_unique_name(tiny, sizeof(tiny), "host"), -1);
}
END_TEST

START_TEST(test_deliver_content)
{
	static const char body[] =
	    "Received: from a.example (a.example [192.0.2.1])\r\n"
	    "\tby mx.example.org with ESMTP id 0123\r\n"
	    "Subject: test\r\n"
	    "\r\n"
	    "first line\r\n"
	    "caf\xc3\xa9 \xff 8-bit line\r\n"
	    ".\r\n"
	    "a lone\rCR stays\r\n"
	    "no final newline";
	static const char want[] =
	    "Return-Path: <alice@a.example>\n"
	    "Delivered-To: bob@example.org\n"
	    "Received: from a.example (a.example [192.0.2.1])\n"
	    "\tby mx.example.org with ESMTP id 0123\n"
	    "Subject: test\n"
	    "\n"
	    "first line\n"
	    "caf\xc3\xa9 \xff 8-bit line\n"
	    ".\n"
	    "a lone\rCR stays\n"
	    "no final newline";
	char maildir[128], path[512], err[256], sub[160];
	struct stat st;
	size_t len;
	char *got;
	int fd, rc;

	fd = msgfile(body, sizeof(body) - 1, 37);
	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	rc = maildir_deliver(maildir, fd, 37, sizeof(body) - 1,
	    "alice@a.example", "bob@example.org", "mx.example.org", err,
	    sizeof(err));
	ck_assert_msg(rc == DELIVER_OK, "rc %d: %s", rc, err);
	ck_assert_str_eq(err, "2.0.0 delivered to maildir");
	close(fd);

	ck_assert_int_eq(lstat(maildir, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	snprintf(sub, sizeof(sub), "%s/cur", maildir);
	ck_assert_int_eq(lstat(sub, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0700);

	the_message(maildir, path, sizeof(path));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_nlink, 1);
	got = slurp(path, &len);
	ck_assert_uint_eq(len, sizeof(want) - 1);
	ck_assert(memcmp(got, want, len) == 0);
	free(got);
}
END_TEST

START_TEST(test_deliver_null_sender_second_message)
{
	static const char body[] = "Subject: x\r\n\r\nhi\r\n";
	char maildir[128], dir[160], err[256];
	size_t len;
	char *got, path[512], name[256];
	int fd;

	fd = msgfile(body, sizeof(body) - 1, 0);
	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	ck_assert_int_eq(maildir_deliver(maildir, fd, 0, sizeof(body) - 1,
	    "", "u@h", NULL, err, sizeof(err)), DELIVER_OK);
	the_message(maildir, path, sizeof(path));
	got = slurp(path, &len);
	ck_assert_str_eq(got, "Return-Path: <>\nDelivered-To: u@h\n"
	    "Subject: x\n\nhi\n");
	free(got);
	/* An existing Maildir takes a second message beside the first. */
	ck_assert_int_eq(maildir_deliver(maildir, fd, 0, sizeof(body) - 1,
	    "", "u@h", NULL, err, sizeof(err)), DELIVER_OK);
	snprintf(dir, sizeof(dir), "%s/new", maildir);
	ck_assert_int_eq(count_files(dir, name, sizeof(name)), 2);
	close(fd);
}
END_TEST

/* A body far larger than the copy buffer, with CRLFs split across it. */
START_TEST(test_deliver_large_body)
{
	size_t blen = 300000, i, wlen, len, hdr;
	char *body = malloc(blen), *want, *got;
	char maildir[128], path[512], err[256];
	int fd;

	ck_assert_ptr_nonnull(body);
	for (i = 0; i < blen; i++)
		body[i] = (char)('a' + i % 26);
	/* CR as the last octet of a 64 KiB read, LF as the first of the next */
	for (i = 65535; i + 1 < blen; i += 65536) {
		body[i] = '\r';
		body[i + 1] = '\n';
	}
	for (i = 100; i + 1 < blen; i += 997) {
		body[i] = '\r';
		body[i + 1] = '\n';
	}
	body[131071] = '\r';	/* a lone CR at a read boundary stays */
	body[131072] = 'x';
	body[blen - 1] = '\r';	/* and a lone CR at the very end */
	want = crlf_to_lf(body, blen, &wlen);

	fd = msgfile(body, blen, 5);
	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	ck_assert_int_eq(maildir_deliver(maildir, fd, 5, (off_t)blen,
	    "s@x", "r@y", "h", err, sizeof(err)), DELIVER_OK);
	close(fd);
	the_message(maildir, path, sizeof(path));
	got = slurp(path, &len);
	hdr = strlen("Return-Path: <s@x>\nDelivered-To: r@y\n");
	ck_assert_uint_eq(len, hdr + wlen);
	ck_assert(memcmp(got + hdr, want, wlen) == 0);
	free(got);
	free(want);
	free(body);
}
END_TEST

/* Exactly the body's octets: a trailer after it is not the message, and
 * a file that ends before the size is damaged (deferred, nothing left). */
START_TEST(test_deliver_exact_body_size)
{
	static const char file[] = "Subject: x\r\n\r\nhi\r\nTRAILER\r\n";
	char maildir[128], path[512], err[256], dir[160];
	size_t len;
	char *got;
	int fd;

	fd = msgfile(file, sizeof(file) - 1, 4);
	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	ck_assert_int_eq(maildir_deliver(maildir, fd, 4, 18, "s@x", "r@y", "h",
	    err, sizeof(err)), DELIVER_OK);
	the_message(maildir, path, sizeof(path));
	got = slurp(path, &len);
	ck_assert_str_eq(got, "Return-Path: <s@x>\nDelivered-To: r@y\n"
	    "Subject: x\n\nhi\n");
	free(got);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(maildir_deliver(maildir, fd, 4, sizeof(file) + 9, "s@x",
	    "r@y", "h", err, sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_msg(strncmp(err, "4.3.0 ", 6) == 0, "%s", err);
	snprintf(dir, sizeof(dir), "%s/new", maildir);
	ck_assert_int_eq(count_files(dir, NULL, 0), 0);
	snprintf(dir, sizeof(dir), "%s/tmp", maildir);
	ck_assert_int_eq(count_files(dir, NULL, 0), 0);
	close(fd);
}
END_TEST

START_TEST(test_deliver_symlinked_tmp)
{
	static const char body[] = "Subject: x\r\n\r\nhi\r\n";
	char maildir[128], p[192], target[128], err[256];
	int fd;

	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	snprintf(target, sizeof(target), "%s/elsewhere", tdir);
	ck_assert_int_eq(mkdir(maildir, 0700), 0);
	ck_assert_int_eq(mkdir(target, 0700), 0);
	snprintf(p, sizeof(p), "%s/tmp", maildir);
	ck_assert_int_eq(symlink(target, p), 0);
	fd = msgfile(body, sizeof(body) - 1, 0);
	ck_assert_int_eq(maildir_deliver(maildir, fd, 0, sizeof(body) - 1,
	    "s@x", "r@y", "h", err, sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_msg(strncmp(err, "4.", 2) == 0, "%s", err);
	ck_assert_int_eq(count_files(target, NULL, 0), 0);
	snprintf(p, sizeof(p), "%s/new", maildir);
	ck_assert_int_le(count_files(p, NULL, 0), 0);

	/* The same for new/ */
	snprintf(p, sizeof(p), "%s/tmp", maildir);
	ck_assert_int_eq(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/new", maildir);
	rmdir(p);
	ck_assert_int_eq(symlink(target, p), 0);
	ck_assert_int_eq(maildir_deliver(maildir, fd, 0, sizeof(body) - 1,
	    "s@x", "r@y", "h", err, sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_int_eq(count_files(target, NULL, 0), 0);
	close(fd);
}
END_TEST

START_TEST(test_deliver_header_injection)
{
	static const char body[] = "Subject: x\r\n\r\nhi\r\n";
	char maildir[128], err[256];
	int fd;

	fd = msgfile(body, sizeof(body) - 1, 0);
	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	ck_assert_int_eq(maildir_deliver(maildir, fd, 0, sizeof(body) - 1,
	    "a@b>\nX-Evil: 1", "r@y", "h", err, sizeof(err)), DELIVER_PERMFAIL);
	ck_assert_int_eq(maildir_deliver(maildir, fd, 0, sizeof(body) - 1,
	    "a@b", "r@y\r", "h", err, sizeof(err)), DELIVER_PERMFAIL);
	close(fd);
}
END_TEST

/*
 * unwritable_child - as nobody, deliver where nobody cannot write; exit
 * 0 when the result was a 4.x.x temporary failure.
 */
static void
unwritable_child(const char *maildir, int fd)
{
	char err[256];
	int rc;

	if (geteuid() == 0 && (setgroups(0, NULL) != 0 ||
	    setgid(NOBODY) != 0 || setuid(NOBODY) != 0))
		_exit(2);
	rc = maildir_deliver(maildir, fd, 0, 1, "s@x", "r@y", "h", err,
	    sizeof(err));
	_exit(rc == DELIVER_TEMPFAIL && strncmp(err, "4.2.0 ", 6) == 0 ?
	    0 : 1);
}

START_TEST(test_deliver_unwritable)
{
	static const char body[] = "Subject: x\r\n\r\nhi\r\n";
	char maildir[128], p[192];
	int fd, ws;
	pid_t pid;

	fd = msgfile(body, sizeof(body) - 1, 0);
	/* A Maildir that would have to be created in a read-only directory */
	snprintf(maildir, sizeof(maildir), "%s/ro/Maildir", tdir);
	snprintf(p, sizeof(p), "%s/ro", tdir);
	ck_assert_int_eq(mkdir(p, 0555), 0);
	chmod(p, 0555);
	if ((pid = fork()) == 0)
		unwritable_child(maildir, fd);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);

	/* An existing Maildir whose tmp/ is not writable */
	snprintf(maildir, sizeof(maildir), "%s/rw/Maildir", tdir);
	snprintf(p, sizeof(p), "%s/rw", tdir);
	ck_assert_int_eq(mkdir(p, 0777), 0);
	chmod(p, 0777);
	ck_assert_int_eq(mkdir(maildir, 0777), 0);
	chmod(maildir, 0777);
	snprintf(p, sizeof(p), "%s/rw/Maildir/tmp", tdir);
	ck_assert_int_eq(mkdir(p, 0555), 0);
	snprintf(p, sizeof(p), "%s/rw/Maildir/new", tdir);
	ck_assert_int_eq(mkdir(p, 0777), 0);
	snprintf(p, sizeof(p), "%s/rw/Maildir/cur", tdir);
	ck_assert_int_eq(mkdir(p, 0777), 0);
	if ((pid = fork()) == 0)
		unwritable_child(maildir, fd);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	close(fd);
}
END_TEST

START_TEST(test_deliver_bad_msgfd)
{
	char maildir[128], err[256], dir[160];

	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	ck_assert_int_eq(maildir_deliver(maildir, -1, 0, 10, "s@x", "r@y", "h",
	    err, sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_msg(strncmp(err, "4.3.0 ", 6) == 0, "%s", err);
	snprintf(dir, sizeof(dir), "%s/tmp", maildir);
	ck_assert_int_eq(count_files(dir, NULL, 0), 0);
	snprintf(dir, sizeof(dir), "%s/new", maildir);
	ck_assert_int_eq(count_files(dir, NULL, 0), 0);
}
END_TEST

START_TEST(test_user_check)
{
	char err[64], longname[80];

	ck_assert_int_eq(local_target_check_user("bob", err, sizeof(err)), 0);
	ck_assert_int_eq(local_target_check_user("b.o-b_1+x", err, sizeof(err)), 0);
	ck_assert_int_eq(local_target_check_user("", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "5.1.3 bad mailbox name");
	ck_assert_int_eq(local_target_check_user(".", err, sizeof(err)), -1);
	ck_assert_int_eq(local_target_check_user("..", err, sizeof(err)), -1);
	ck_assert_int_eq(local_target_check_user(".hidden", err, sizeof(err)), -1);
	ck_assert_int_eq(local_target_check_user("a/b", err, sizeof(err)), -1);
	ck_assert_int_eq(local_target_check_user("a\nb", err, sizeof(err)), -1);
	ck_assert_int_eq(local_target_check_user("a\x7f", err, sizeof(err)), -1);
	memset(longname, 'a', 64);
	longname[64] = '\0';
	ck_assert_int_eq(local_target_check_user(longname, err, sizeof(err)), 0);
	longname[64] = 'a';
	longname[65] = '\0';
	ck_assert_int_eq(local_target_check_user(longname, err, sizeof(err)), -1);
}
END_TEST

START_TEST(test_resolve_base)
{
	struct local_target t;
	char p[192], q[192], err[256];

	snprintf(p, sizeof(p), "%s/bob", tdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(p, NOBODY, NOBODY), 0);
	ck_assert_int_eq(local_target_resolve(tdir, "bob", &t, err,
	    sizeof(err)), DELIVER_OK);
	snprintf(q, sizeof(q), "%s/bob/Maildir", tdir);
	ck_assert_str_eq(t.maildir, q);
	ck_assert_int_eq(t.uid, geteuid() == 0 ? NOBODY : geteuid());
	ck_assert_str_eq(t.user, "");
	ck_assert_int_eq(t.become, geteuid() == 0);

	/* A root-owned mailbox is written as root, without switching. */
	snprintf(p, sizeof(p), "%s/rootbox", tdir);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(local_target_resolve(tdir, "rootbox", &t, err,
	    sizeof(err)), DELIVER_OK);
	if (geteuid() == 0)
		ck_assert_int_eq(t.become, 0);

	ck_assert_int_eq(local_target_resolve(tdir, "nosuch", &t, err,
	    sizeof(err)), DELIVER_PERMFAIL);
	ck_assert_str_eq(err, "5.1.1 user unknown");

	/* A link in mailbox_base is refused, however its target looks. */
	snprintf(q, sizeof(q), "%s/linked", tdir);
	snprintf(p, sizeof(p), "%s/bob", tdir);
	ck_assert_int_eq(symlink(p, q), 0);
	ck_assert_int_eq(local_target_resolve(tdir, "linked", &t, err,
	    sizeof(err)), DELIVER_TEMPFAIL);
	ck_assert_msg(strncmp(err, "4.2.0 ", 6) == 0, "%s", err);

	snprintf(p, sizeof(p), "%s/file", tdir);
	close(open(p, O_WRONLY | O_CREAT, 0600));
	ck_assert_int_eq(local_target_resolve(tdir, "file", &t, err,
	    sizeof(err)), DELIVER_TEMPFAIL);

	ck_assert_int_eq(local_target_resolve(tdir, "../etc", &t, err,
	    sizeof(err)), DELIVER_PERMFAIL);
	ck_assert_str_eq(err, "5.1.3 bad mailbox name");
}
END_TEST

START_TEST(test_resolve_passwd)
{
	struct local_target t;
	char err[256];

	ck_assert_int_eq(local_target_resolve("", "root", &t, err,
	    sizeof(err)), DELIVER_OK);
	ck_assert_int_eq(t.uid, 0);
	ck_assert_str_eq(t.user, "root");
	ck_assert_int_eq(t.become, 0);
	ck_assert_str_eq(t.maildir, "/root/Maildir");
	ck_assert_int_eq(local_target_resolve(NULL,
	    "no-such-user-tern-test", &t, err, sizeof(err)), DELIVER_PERMFAIL);
	ck_assert_str_eq(err, "5.1.1 user unknown");
}
END_TEST

/* give - send the delivery process one delivery of fd's body */
static void
give(struct ipc_conn *c, uint32_t id, const char *maildir, const char *home,
    int fd, off_t off, off_t size)
{
	struct msg_local_delivery d = { id, "alice@a.example",
	    "bob@example.org", maildir, home, (uint64_t)off, (uint64_t)size,
	    "", RESOLVE_LOCAL, "", "", 0, "" };
	struct ipc_msg m;

	ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERY, 0, &d), 0);
	m.fd = dup(fd);
	ck_assert_int_ge(m.fd, 0);
	ck_assert_int_eq(ipc_send(c, &m), 0);
}

/* report - the next report of the delivery process, checked as its
 * parent checks it; the status (-1: not believable) */
static int
report(struct ipc_conn *c, uint32_t *id, char *dsn, char *text)
{
	struct msg_local_delivered r;
	struct ipc_msg m;
	const char *why;
	int status;

	ck_assert_int_eq(ipc_recv(c, &m, 30000), 0);
	ck_assert_uint_eq(m.type, MSG_LOCAL_DELIVERED);
	ck_assert_int_eq(msg_decode(&m, MSG_LOCAL_DELIVERED, &r, &why), 0);
	*id = r.id;
	status = local_child_report_check(&r, dsn, 16, text, 256);
	ipc_msg_free(&m);
	return status;
}

/*
 * The delivery process of one owner takes several deliveries over its
 * channel, writes each as that owner, reports each only once all of
 * them are in new/, and exits when its parent closes the channel.
 */
START_TEST(test_owner_process_delivers_a_batch_as_owner)
{
	static const char body[] = "Subject: x\r\n\r\nhi\r\n";
	struct local_target t;
	struct ipc_conn c;
	struct stat st;
	char p[192], home[192], maildir[192], dir[PATH_MAX + 300], dsn[16];
	char text[256], err[LOCAL_TARGET_ERR_MAX];
	uint32_t id;
	int fd, sock, ws, i;
	pid_t pid;

	snprintf(home, sizeof(home), "%s/bob", tdir);
	ck_assert_int_eq(mkdir(home, 0700), 0);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(home, NOBODY, NOBODY), 0);
	ck_assert_int_eq(local_target_resolve(tdir, "bob", &t, err,
	    sizeof(err)), DELIVER_OK);
	fd = msgfile(body, sizeof(body) - 1, 3);
	pid = local_child_spawn(&t, settings_named("mx.example.org"), &sock);
	ck_assert_int_gt(pid, 0);
	ipc_conn_init(&c, sock);
	for (i = 0; i < 3; i++)
		give(&c, (uint32_t)i + 10, t.maildir, t.home, fd, 3,
		    sizeof(body) - 1);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(report(&c, &id, dsn, text), DELIVER_OK);
		ck_assert_uint_eq(id, (uint32_t)i + 10);
		ck_assert_str_eq(dsn, "2.0.0");
		ck_assert_str_eq(text, "delivered to maildir");
		/* Reported means in new/, all of the batch. */
		snprintf(dir, sizeof(dir), "%s/new", t.maildir);
		ck_assert_int_ge(count_files(dir, NULL, 0), i + 1);
	}
	snprintf(dir, sizeof(dir), "%s/new", t.maildir);
	ck_assert_int_eq(count_files(dir, p, sizeof(p)), 3);
	snprintf(dir, sizeof(dir), "%s/new/%s", t.maildir, p);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_uid, geteuid() == 0 ? NOBODY : geteuid());
	ck_assert_int_eq(lstat(t.maildir, &st), 0);
	ck_assert_int_eq(st.st_uid, geteuid() == 0 ? NOBODY : geteuid());
	snprintf(dir, sizeof(dir), "%s/tmp", t.maildir);
	ck_assert_int_eq(count_files(dir, NULL, 0), 0);

	/* A home that has gone away: deferred, not bounced. */
	snprintf(maildir, sizeof(maildir), "%s/gone/Maildir", tdir);
	snprintf(p, sizeof(p), "%s/gone", tdir);
	give(&c, 99, maildir, p, fd, 3, sizeof(body) - 1);
	ck_assert_int_eq(report(&c, &id, dsn, text), DELIVER_TEMPFAIL);
	ck_assert_uint_eq(id, 99);
	ck_assert_str_eq(dsn, "4.2.0");

	/* The parent closes the channel: the process ends, cleanly. */
	ipc_conn_close(&c);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	close(fd);
}
END_TEST

/* A passwd user whose home directory is missing: mail waits, not bounces. */
START_TEST(test_owner_process_missing_home)
{
	static const char body[] = "Subject: x\r\n\r\nhi\r\n";
	struct local_target t;
	struct passwd *pw;
	struct ipc_conn c;
	struct stat st;
	char dsn[16], text[256], err[LOCAL_TARGET_ERR_MAX];
	uint32_t id;
	int fd, sock, ws;
	pid_t pid;

	pw = getpwnam("nobody");
	if (pw == NULL || pw->pw_uid == 0 || stat(pw->pw_dir, &st) == 0)
		return;		/* this system's nobody has a home */
	ck_assert_int_eq(local_target_resolve("", "nobody", &t, err,
	    sizeof(err)), DELIVER_OK);
	fd = msgfile(body, sizeof(body) - 1, 0);
	pid = local_child_spawn(&t, settings_named("h"), &sock);
	ck_assert_int_gt(pid, 0);
	ipc_conn_init(&c, sock);
	give(&c, 1, t.maildir, t.home, fd, 0, sizeof(body) - 1);
	ck_assert_int_eq(report(&c, &id, dsn, text), DELIVER_TEMPFAIL);
	ck_assert_msg(strcmp(dsn, "4.2.0") == 0, "%s %s", dsn, text);
	ipc_conn_close(&c);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	close(fd);
}
END_TEST

/* check - local_child_report_check of one report */
static int
check(uint32_t status, const char *dsn_in, const char *text_in, char *dsn,
    char *text)
{
	struct msg_local_delivered r = { 1, status, dsn_in, text_in };

	return local_child_report_check(&r, dsn, 16, text, 64);
}

/* What a delivery process reports is believed only when consistent. */
START_TEST(test_report_check)
{
	char dsn[16], text[64];

	ck_assert_int_eq(check(DELIVER_TEMPFAIL, "4.2.2", "mailbox full: x",
	    dsn, text), DELIVER_TEMPFAIL);
	ck_assert_str_eq(dsn, "4.2.2");
	ck_assert_str_eq(text, "mailbox full: x");
	ck_assert_int_eq(check(DELIVER_PERMFAIL, "5.1.1", "user\x1b[0m unknown",
	    dsn, text), DELIVER_PERMFAIL);
	ck_assert_str_eq(text, "user?[0m unknown");
	ck_assert_int_eq(check(DELIVER_OK, "2.0.0", "delivered", dsn, text),
	    DELIVER_OK);

	/* A status that contradicts its DSN class is not believed. */
	ck_assert_int_eq(check(DELIVER_OK, "5.1.1", "ok", dsn, text), -1);
	ck_assert_int_eq(check(DELIVER_OK, "4.3.0", "ok", dsn, text), -1);
	ck_assert_int_eq(check(DELIVER_OK, "2.0.0000", "x", dsn, text), -1);
	ck_assert_int_eq(check(DELIVER_OK, "", "x", dsn, text), -1);
	ck_assert_int_eq(check(DELIVER_OK, "2.0", "x", dsn, text), -1);
	ck_assert_int_eq(check(7, "2.0.0", "x", dsn, text), -1);
}
END_TEST

START_TEST(test_exit_text)
{
	char text[64];

	local_child_exit_text(SIGSEGV, text, sizeof(text));
	ck_assert_str_eq(text, "local delivery process killed by signal 11");
	local_child_exit_text(3 << 8, text, sizeof(text));
	ck_assert_str_eq(text, "local delivery process exited with status 3");
	local_child_exit_text(0, text, sizeof(text));
	ck_assert_str_eq(text, "local delivery process gave no result");
}
END_TEST

/*
 * Several messages written and linked, then one sync of new/: each file
 * is complete in new/ and nothing is left in tmp/.  Written files have
 * no name in new/ before maildir_link; in tmp/ they have none either
 * (O_TMPFILE, where the file system has it, as /tmp here must), or one
 * each when named files are asked for (_i: 1).
 */
START_TEST(test_batch_shares_one_sync)
{
	static const char body[] = "Subject: batch\r\n\r\nline\r\n";
	struct maildir md;
	struct maildir_msg mm[4];
	char maildir[128], err[256];
	int fd, i;

	maildir_tmp_names(_i);
	fd = msgfile(body, sizeof(body) - 1, 0);
	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	ck_assert_int_eq(maildir_open(&md, maildir, err, sizeof(err)),
	    DELIVER_OK);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(maildir_write(&md, &mm[i], fd, 0,
		    sizeof(body) - 1, "s@x", "r@y", "h", err, sizeof(err)),
		    DELIVER_OK);
		ck_assert_int_eq(mm[i].anon, !_i);
	}
	assert_maildir_files(maildir, _i ? 4 : 0, 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(maildir_link(&md, &mm[i], err, sizeof(err)),
		    DELIVER_OK);
	ck_assert_int_eq(maildir_sync(&md, err, sizeof(err)), DELIVER_OK);
	assert_maildir_files(maildir, 0, 4);
	/* A name taken back out (after a failed sync) is gone from new/. */
	maildir_unlink(&md, mm[0].name);
	assert_maildir_files(maildir, 0, 3);
	maildir_close(&md);
	close(fd);
	maildir_tmp_names(0);
}
END_TEST

/*
 * When a nameless file cannot be linked into new/ (here: its descriptor
 * turned into a deleted named file, whose /proc link cannot be followed,
 * as when /proc goes away or the file system refuses), the delivery is
 * deferred with nothing left in new/ or tmp/, and later deliveries fall
 * back to named files in tmp/, which still arrive.
 */
START_TEST(test_failed_anonymous_link_falls_back_to_named_files)
{
	static const char body[] = "Subject: fallback\r\n\r\nline\r\n";
	struct maildir md;
	struct maildir_msg mm;
	char maildir[128], other[200], err[256];
	int fd, ofd;

	maildir_tmp_names(0);
	fd = msgfile(body, sizeof(body) - 1, 0);
	snprintf(maildir, sizeof(maildir), "%s/Maildir", tdir);
	ck_assert_int_eq(maildir_open(&md, maildir, err, sizeof(err)),
	    DELIVER_OK);
	ck_assert_int_eq(maildir_write(&md, &mm, fd, 0, sizeof(body) - 1,
	    "s@x", "r@y", "h", err, sizeof(err)), DELIVER_OK);
	ck_assert_int_eq(mm.anon, 1);
	snprintf(other, sizeof(other), "%s/deleted", tdir);
	ofd = open(other, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(ofd, 0);
	ck_assert_int_eq(unlink(other), 0);
	ck_assert_int_eq(dup2(ofd, mm.fd), mm.fd);
	close(ofd);
	ck_assert_int_eq(maildir_link(&md, &mm, err, sizeof(err)),
	    DELIVER_TEMPFAIL);
	ck_assert_msg(strncmp(err, "4.", 2) == 0, "%s", err);
	ck_assert_int_eq(mm.fd, -1);
	assert_maildir_files(maildir, 0, 0);
	/* The next delivery is a named file in tmp/, linked as before. */
	ck_assert_int_eq(maildir_write(&md, &mm, fd, 0, sizeof(body) - 1,
	    "s@x", "r@y", "h", err, sizeof(err)), DELIVER_OK);
	ck_assert_int_eq(mm.anon, 0);
	assert_maildir_files(maildir, 1, 0);
	ck_assert_int_eq(maildir_link(&md, &mm, err, sizeof(err)),
	    DELIVER_OK);
	ck_assert_int_eq(maildir_sync(&md, err, sizeof(err)), DELIVER_OK);
	assert_maildir_files(maildir, 0, 1);
	maildir_close(&md);
	close(fd);
	maildir_tmp_names(0);
}
END_TEST

/*
 * .forward parsing: addresses, "\\user" and the user's own name (the
 * mailbox), commands and files (quoted commas kept), comments, and
 * :include: left out with a note.
 */
START_TEST(test_forward_parse)
{
	static char text[] = "# comment, with comma\n"
	    "friend@remote.test, \\bob\n"
	    "\"|/bin/prog a, b\", /var/tmp/file\n"
	    "  other , Bob@host.example\n"
	    ":include:/etc/x\n";
	struct forward f;

	struct forward_self self = { "bob", "host.example", NULL, NULL };

	memset(&f, 0, sizeof(f));
	local_forward_parse(text, &self, &f);
	ck_assert_uint_eq(f.n, 6);
	ck_assert_int_eq(f.v[0].kind, FORWARD_ADDRESS);
	ck_assert_str_eq(f.v[0].text, "friend@remote.test");
	ck_assert_int_eq(f.v[1].kind, FORWARD_SELF);
	ck_assert_int_eq(f.v[2].kind, FORWARD_COMMAND);
	ck_assert_str_eq(f.v[2].text, "/bin/prog a, b");
	ck_assert_int_eq(f.v[3].kind, FORWARD_FILE);
	ck_assert_str_eq(f.v[3].text, "/var/tmp/file");
	ck_assert_int_eq(f.v[4].kind, FORWARD_ADDRESS);
	ck_assert_str_eq(f.v[4].text, "other");
	ck_assert_int_eq(f.v[5].kind, FORWARD_SELF);
	ck_assert_ptr_nonnull(strstr(f.note, ":include:"));
}
END_TEST

/*
 * The user's own address in any local domain, with or without an
 * extension after recipient_delimiter, is the mailbox (FORWARD_SELF), not
 * an address to forward to: else the recipient is marked forwarded and
 * its copy is dropped as a duplicate of itself.  Another user, another
 * domain, or an extension without a delimiter configured, is forwarded.
 */
START_TEST(test_forward_self_in_any_local_domain)
{
	static char text[] = "bob@localhost\n"
	    "BOB@Other.Example.\n"
	    "\\bob@other.example\n"
	    "bob+list@localhost, bob+list\n"
	    "bob@host.example\n"
	    "bob@remote.test, bobby@localhost, bo@localhost\n"
	    "bob+x@remote.test, \"bob\"@localhost\n";
	static char plain[] = "bob+list@localhost\n";
	char *dv[] = { "localhost", "other.example" };
	struct strlist domains = { dv, 2 };
	struct forward_self self = { "bob", "host.example", &domains, "+" };
	struct forward f;
	size_t i;

	memset(&f, 0, sizeof(f));
	local_forward_parse(text, &self, &f);
	ck_assert_uint_eq(f.n, 11);
	for (i = 0; i < 6; i++)
		ck_assert_msg(f.v[i].kind == FORWARD_SELF, "item %zu", i);
	ck_assert_int_eq(f.v[6].kind, FORWARD_ADDRESS);
	ck_assert_str_eq(f.v[6].text, "bob@remote.test");
	ck_assert_int_eq(f.v[7].kind, FORWARD_ADDRESS);
	ck_assert_str_eq(f.v[7].text, "bobby@localhost");
	ck_assert_int_eq(f.v[8].kind, FORWARD_ADDRESS);
	ck_assert_str_eq(f.v[8].text, "bo@localhost");
	ck_assert_int_eq(f.v[9].kind, FORWARD_ADDRESS);
	ck_assert_str_eq(f.v[9].text, "bob+x@remote.test");
	/* A quoted local part is still the same name. */
	ck_assert_int_eq(f.v[10].kind, FORWARD_SELF);

	/* Without a recipient_delimiter "bob+list" is another name. */
	self.delimiter = "";
	memset(&f, 0, sizeof(f));
	local_forward_parse(plain, &self, &f);
	ck_assert_uint_eq(f.n, 1);
	ck_assert_int_eq(f.v[0].kind, FORWARD_ADDRESS);
}
END_TEST

/* maildir_suite - the Maildir writer and the local transport */
Suite *
maildir_suite(void)
{
	Suite *s = suite_create("maildir");
	TCase *tc = tcase_create("maildir");
	TCase *tl = tcase_create("transport_local");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_unique_names);
	tcase_add_test(tc, test_deliver_content);
	tcase_add_test(tc, test_deliver_null_sender_second_message);
	tcase_add_test(tc, test_deliver_large_body);
	tcase_add_test(tc, test_deliver_exact_body_size);
	tcase_add_test(tc, test_deliver_symlinked_tmp);
	tcase_add_test(tc, test_deliver_header_injection);
	tcase_add_test(tc, test_deliver_unwritable);
	tcase_add_test(tc, test_deliver_bad_msgfd);
	tcase_add_test(tc, test_failed_anonymous_link_falls_back_to_named_files);
	tcase_add_loop_test(tc, test_batch_shares_one_sync, 0, 2);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tl, setup, teardown);
	tcase_add_test(tl, test_user_check);
	tcase_add_test(tl, test_resolve_base);
	tcase_add_test(tl, test_resolve_passwd);
	tcase_add_test(tl, test_owner_process_delivers_a_batch_as_owner);
	tcase_add_test(tl, test_owner_process_missing_home);
	tcase_add_test(tl, test_report_check);
	tcase_add_test(tl, test_exit_text);
	tcase_add_test(tl, test_forward_parse);
	tcase_add_test(tl, test_forward_self_in_any_local_domain);
	suite_add_tcase(s, tl);
	return s;
}
