/*
 * test_mbox - unit tests for deliverd's mbox writer (mbox.c, mbox_lock.c):
 * the "From " line, mboxrd quoting, the empty line between messages,
 * truncation after a failed write, and the two locks.
 *
 * Every test works in its own mkdtemp() directory.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "check_suites.h"
#include "ipc.h"
#include "msg.h"
#include "msg_codec.h"
#include "../../deliverd/file_out.h"
#include "../../deliverd/local_child.h"
#include "../../deliverd/local_target.h"
#include "../../deliverd/mbox.h"
#include "settings.h"

static char tdir[64];
static char mpath[128];

/* setup - a fresh temporary directory and the mbox path in it */
static void
setup(void)
{
	strlcpy(tdir, "/tmp/tern-mbox-XXXXXX", sizeof(tdir));
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	snprintf(mpath, sizeof(mpath), "%s/user", tdir);
}

/* teardown - remove what the tests left (flat directory) */
static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tdir);
	(void)!system(cmd);
}

/* msgfd - a file holding s, as a queue file would (its descriptor) */
static int
msgfd(const char *s)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/msg.XXXXXX", tdir);
	ck_assert_int_ne(fd = mkstemp(path), -1);
	unlink(path);
	ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	return fd;
}

/* slurp - the whole file at path, NUL-terminated (caller frees) */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd;

	ck_assert_int_ne(fd = open(path, O_RDONLY), -1);
	ck_assert_int_eq(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	if (len != NULL)
		*len = (size_t)st.st_size;
	return buf;
}

/* deliver - body (CRLF lines) from sender to the mbox; the status */
static int
deliver(const char *body, const char *sender, char *err, size_t errsize)
{
	struct mbox_msg m;
	int fd = msgfd(body), rc;

	m.fd = fd;
	m.offset = 0;
	m.size = (off_t)strlen(body);
	m.sender = sender;
	m.recipient = "user@example.org";
	m.date = 0;
	rc = mbox_deliver(mpath, MBOX_F_OWNED, &m, err, errsize);
	close(fd);
	return rc;
}

START_TEST(test_from_line)
{
	char buf[600], longer[400];

	setenv("TZ", "UTC", 1);
	tzset();
	ck_assert_int_eq(mbox_from_line(buf, sizeof(buf), "", 0), 0);
	ck_assert_str_eq(buf, "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n");
	ck_assert_int_eq(mbox_from_line(buf, sizeof(buf), "\"a b\"@x\t.y",
	    1000000000), 0);
	ck_assert_str_eq(buf, "From \"a_b\"@x_.y Sun Sep  9 01:46:40 2001\n");
	ck_assert_int_eq(mbox_from_line(buf, 20, "someone@example.org", 0), -1);
	/* The longest address fits in strlen + MBOX_FROM_EXTRA. */
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	ck_assert_int_eq(mbox_from_line(buf, strlen(longer) + MBOX_FROM_EXTRA,
	    longer, (time_t)253402300799LL), 0);
	ck_assert_uint_eq(strlen(buf), 5 + strlen(longer) + 1 + 24 + 1);
}
END_TEST

START_TEST(test_quoting_and_separator)
{
	static const char body1[] =
	    "Subject: one\r\n\r\n"
	    "From here\r\n"
	    ">From there\r\n"
	    ">>From x\r\n"
	    "From\r\n"
	    "Fro\r\n"
	    " From y\r\n"
	    "a From z\r\n"
	    "lone\rcr\r\n"
	    ">\r\n"
	    "From ";
	static const char body2[] = "Subject: two\r\n\r\nFrom last\r\n";
	static const char want[] =
	    "From s@example.com Thu Jan  1 00:00:00 1970\n"
	    "Return-Path: <s@example.com>\n"
	    "Delivered-To: user@example.org\n"
	    "Subject: one\n\n"
	    ">From here\n"
	    ">>From there\n"
	    ">>>From x\n"
	    "From\n"
	    "Fro\n"
	    " From y\n"
	    "a From z\n"
	    "lone\rcr\n"
	    ">\n"
	    ">From \n"
	    "\n"
	    "From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n"
	    "Return-Path: <>\n"
	    "Delivered-To: user@example.org\n"
	    "Subject: two\n\n"
	    ">From last\n"
	    "\n";
	char err[256], lock[160];
	struct stat st;
	char *got;

	setenv("TZ", "UTC", 1);
	tzset();
	ck_assert_int_eq(deliver(body1, "s@example.com", err, sizeof(err)),
	    DELIVER_OK);
	ck_assert_str_eq(err, "2.0.0 delivered to mbox");
	ck_assert_int_eq(deliver(body2, "", err, sizeof(err)), DELIVER_OK);
	got = slurp(mpath, NULL);
	ck_assert_str_eq(got, want);
	free(got);
	ck_assert_int_eq(stat(mpath, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	snprintf(lock, sizeof(lock), "%s.lock", mpath);
	ck_assert_int_eq(access(lock, F_OK), -1);
}
END_TEST

/* fill_to - CRLF lines of 'a' appended to b until it is at off */
static void
fill_to(char *b, size_t *len, size_t off)
{
	size_t n;

	ck_assert_uint_ge(off, *len + 3);
	while (off - *len > 102) {
		memset(b + *len, 'a', 78);
		memcpy(b + *len + 78, "\r\n", 2);
		*len += 80;
	}
	n = off - *len - 2;
	memset(b + *len, 'a', n);
	memcpy(b + *len + n, "\r\n", 2);
	*len += n + 2;
}

/* put - s appended to b */
static void
put(char *b, size_t *len, const char *s)
{
	memcpy(b + *len, s, strlen(s));
	*len += strlen(s);
}

/* mboxrd - what the mbox should hold of body: CRLF as LF, each line
 * that is ">*From " given one more '>' (caller frees) */
static char *
mboxrd(const char *body)
{
	char *out = malloc(2 * strlen(body) + 1), *o = out;
	const char *p = body, *q;

	ck_assert_ptr_nonnull(out);
	for (const char *line = p; *line != '\0'; line = p) {
		for (q = line; *q == '>'; q++)
			;
		if (strncmp(q, "From ", 5) == 0)
			*o++ = '>';
		for (; *p != '\0'; p++) {
			if (p[0] == '\r' && p[1] == '\n')
				continue;
			*o++ = *p;
			if (*p == '\n') {
				p++;
				break;
			}
		}
	}
	*o = '\0';
	return out;
}

/*
 * The message is read FILE_OUT_BUFSIZE octets at a time, and the quoting
 * copies the rest of a line in one piece: a line, a CRLF, a bare CR and
 * a "From " line split by a read, or starting right at one, come out as
 * they would from one read.
 */
START_TEST(test_quoting_across_read_boundaries)
{
	const size_t b = FILE_OUT_BUFSIZE;
	size_t len = 0, glen;
	char *body = malloc(6 * b), *want, *got, err[256], head[128];

	ck_assert_ptr_nonnull(body);
	fill_to(body, &len, b - 100);
	for (int i = 0; i < 200; i++)		/* a line across the first */
		put(body, &len, "L");
	put(body, &len, "\r\n");
	fill_to(body, &len, 2 * b - 11);
	put(body, &len, "bbbbbbbbbb\r\n");	/* CR and LF split */
	fill_to(body, &len, 3 * b);
	put(body, &len, "From here\r\n");	/* "From " at a read */
	fill_to(body, &len, 4 * b - 2);
	put(body, &len, ">From split\r\n");	/* ">F" | "rom " */
	fill_to(body, &len, 5 * b - 1);
	put(body, &len, "\rX and more\r\n");	/* a bare CR, then X */
	put(body, &len, "From last\r\n");
	body[len] = '\0';
	ck_assert_uint_lt(len, 6 * b);

	setenv("TZ", "UTC", 1);
	tzset();
	ck_assert_int_eq(deliver(body, "s@example.com", err, sizeof(err)),
	    DELIVER_OK);
	snprintf(head, sizeof(head), "From s@example.com Thu Jan  1 00:00:00 "
	    "1970\nReturn-Path: <s@example.com>\nDelivered-To: "
	    "user@example.org\n");
	want = mboxrd(body);
	got = slurp(mpath, &glen);
	ck_assert_uint_eq(glen, strlen(head) + strlen(want) + 1);
	ck_assert(memcmp(got, head, strlen(head)) == 0);
	ck_assert(memcmp(got + strlen(head), want, strlen(want)) == 0);
	ck_assert_int_eq(got[glen - 1], '\n');
	/* The cases are there: quoted, and the split CRLF joined. */
	ck_assert_ptr_nonnull(strstr(want, "\n>From here\n"));
	ck_assert_ptr_nonnull(strstr(want, "\n>>From split\n"));
	ck_assert_ptr_nonnull(strstr(want, "bbbbbbbbbb\na"));
	ck_assert_ptr_nonnull(strstr(want, "\rX and more\n>From last\n"));
	free(want);
	free(got);
	free(body);
}
END_TEST

START_TEST(test_damaged_tail_gets_empty_line)
{
	char err[256];
	char *got;
	int fd;

	setenv("TZ", "UTC", 1);
	tzset();
	ck_assert_int_ne(fd = open(mpath, O_WRONLY | O_CREAT, 0600), -1);
	ck_assert_int_eq(write(fd, "no newline", 10), 10);
	close(fd);
	ck_assert_int_eq(deliver("x\r\n", "a@b", err, sizeof(err)), DELIVER_OK);
	got = slurp(mpath, NULL);
	ck_assert_str_eq(got, "no newline\n\nFrom a@b Thu Jan  1 00:00:00 "
	    "1970\nReturn-Path: <a@b>\nDelivered-To: user@example.org\nx\n\n");
	free(got);
}
END_TEST

/*
 * A write that fails half-way (here: the file size limit, EFBIG, as a
 * full disk would with ENOSPC) leaves the file exactly as it was.
 */
START_TEST(test_failed_write_truncates)
{
	char err[256], *big, *before, *after;
	size_t blen = 300000, len0, len1;
	struct mbox_msg m;
	struct rlimit rl;
	int status;
	pid_t pid;

	ck_assert_int_eq(deliver("Subject: first\r\n\r\nhello\r\n", "a@b", err,
	    sizeof(err)), DELIVER_OK);
	before = slurp(mpath, &len0);
	big = malloc(blen + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'x', blen);
	memcpy(big + blen - 2, "\r\n", 2);
	big[blen] = '\0';
	m.fd = msgfd(big);
	m.offset = 0;
	m.size = (off_t)blen;
	m.sender = "a@b";
	m.recipient = "user@example.org";
	m.date = 0;
	if ((pid = fork()) == 0) {
		signal(SIGXFSZ, SIG_IGN);
		rl.rlim_cur = rl.rlim_max = (rlim_t)len0 + 100000;
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(2);
		if (mbox_deliver(mpath, 0, &m, err, sizeof(err)) !=
		    DELIVER_TEMPFAIL)
			_exit(3);
		_exit(strncmp(err, "4.2.2 ", 6) == 0 ? 0 : 4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(m.fd);
	after = slurp(mpath, &len1);
	ck_assert_uint_eq(len1, len0);
	ck_assert_mem_eq(after, before, len0);
	free(after);
	/* And the next message goes on as if nothing had happened. */
	ck_assert_int_eq(deliver("Subject: next\r\n\r\nok\r\n", "a@b", err,
	    sizeof(err)), DELIVER_OK);
	after = slurp(mpath, &len1);
	ck_assert_mem_eq(after, before, len0);
	ck_assert_ptr_nonnull(strstr(after + len0, "Subject: next\n\nok\n\n"));
	ck_assert_int_eq(strncmp(after + len0, "From a@b ", 9), 0);
	free(after);
	free(before);
	free(big);
}
END_TEST

/* A batch whose sync fails goes back to where it began: mbox_sync. */
START_TEST(test_batch_appends_then_one_sync)
{
	struct mbox mb;
	struct mbox_msg m;
	char err[256], *got;
	int fd, i;

	setenv("TZ", "UTC", 1);
	tzset();
	ck_assert_int_eq(mbox_open(&mb, mpath, 0, 1, err, sizeof(err)),
	    DELIVER_OK);
	fd = msgfd("Subject: b\r\n\r\nbody\r\n");
	m.fd = fd;
	m.offset = 0;
	m.size = (off_t)strlen("Subject: b\r\n\r\nbody\r\n");
	m.sender = "s@x";
	m.recipient = "r@y";
	m.date = 0;
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(mbox_append(&mb, &m, err, sizeof(err)),
		    DELIVER_OK);
	m.recipient = "bad\r\nX-Injected: yes";
	ck_assert_int_eq(mbox_append(&mb, &m, err, sizeof(err)),
	    DELIVER_PERMFAIL);
	ck_assert_int_eq(mbox_sync(&mb, err, sizeof(err)), DELIVER_OK);
	mbox_close(&mb);
	close(fd);
	got = slurp(mpath, NULL);
	ck_assert_ptr_null(strstr(got, "X-Injected"));
	ck_assert_int_eq((int)strlen(got), 3 * (int)strlen(
	    "From s@x Thu Jan  1 00:00:00 1970\nReturn-Path: <s@x>\n"
	    "Delivered-To: r@y\nSubject: b\n\nbody\n\n"));
	free(got);
}
END_TEST

START_TEST(test_fresh_dotlock_defers_stale_one_is_removed)
{
	char err[256], lock[160];
	struct utimbuf ut;
	int fd;

	snprintf(lock, sizeof(lock), "%s.lock", mpath);
	ck_assert_int_ne(fd = open(lock, O_WRONLY | O_CREAT, 0600), -1);
	close(fd);
	/* Fresh: waited for (1 second here), then deferred. */
	{
		struct mbox mb;

		ck_assert_int_eq(mbox_open(&mb, mpath, 0, 1, err, sizeof(err)),
		    DELIVER_TEMPFAIL);
		ck_assert_str_eq(err, "4.2.0 mailbox locked: dotlock held by "
		    "another process");
	}
	ck_assert_int_eq(access(lock, F_OK), 0);
	ck_assert_int_eq(access(mpath, F_OK), -1);
	/* Six minutes old: stale, removed, and the mail goes in. */
	ut.actime = ut.modtime = time(NULL) - 360;
	ck_assert_int_eq(utime(lock, &ut), 0);
	ck_assert_int_eq(deliver("x\r\n", "a@b", err, sizeof(err)), DELIVER_OK);
	ck_assert_int_eq(access(lock, F_OK), -1);
	ck_assert_int_eq(access(mpath, F_OK), 0);
}
END_TEST

START_TEST(test_fcntl_lock_held_defers)
{
	struct mbox mb;
	struct flock fl;
	char err[256], c;
	int fd, p[2], q[2];
	pid_t pid;

	ck_assert_int_ne(fd = open(mpath, O_RDWR | O_CREAT, 0600), -1);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(pipe(q), 0);
	if ((pid = fork()) == 0) {
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_SETLK, &fl) != 0)
			_exit(1);
		(void)!write(p[1], "l", 1);
		(void)!read(q[0], &c, 1);
		_exit(0);
	}
	close(fd);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(mbox_open(&mb, mpath, 0, 1, err, sizeof(err)),
	    DELIVER_TEMPFAIL);
	ck_assert_str_eq(err, "4.2.0 mailbox locked: fcntl lock held by "
	    "another process");
	/* The dotlock taken meanwhile is gone again. */
	ck_assert_int_eq(access(mb.lock, F_OK), -1);
	ck_assert_int_eq(write(q[1], "u", 1), 1);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	ck_assert_int_eq(deliver("x\r\n", "a@b", err, sizeof(err)), DELIVER_OK);
}
END_TEST

START_TEST(test_link_and_symlink_refused)
{
	char err[256], other[160];
	int fd;

	snprintf(other, sizeof(other), "%s/elsewhere", tdir);
	ck_assert_int_eq(symlink(other, mpath), 0);
	ck_assert_int_eq(deliver("x\r\n", "a@b", err, sizeof(err)),
	    DELIVER_TEMPFAIL);
	ck_assert_int_eq(access(other, F_OK), -1);
	ck_assert_int_eq(unlink(mpath), 0);
	ck_assert_int_ne(fd = open(other, O_WRONLY | O_CREAT, 0600), -1);
	close(fd);
	ck_assert_int_eq(link(other, mpath), 0);
	ck_assert_int_eq(deliver("x\r\n", "a@b", err, sizeof(err)),
	    DELIVER_TEMPFAIL);
	ck_assert_ptr_nonnull(strstr(err, "other links"));
}
END_TEST

/* With MBOX_F_OWNED, a file someone else made first is not written. */
START_TEST(test_owned_by_another_refused)
{
	char err[256];
	size_t len;
	char *got;
	int fd;

	ck_assert_int_ne(fd = open(mpath, O_WRONLY | O_CREAT, 0666), -1);
	close(fd);
	/* As root the file is given away; otherwise it is ours, and the
	 * test becomes: our own file is accepted. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(mpath, 65534, 65534), 0);
		ck_assert_int_eq(deliver("x\r\n", "a@b", err, sizeof(err)),
		    DELIVER_TEMPFAIL);
		ck_assert_str_eq(err, "4.2.0 cannot deliver to mbox: mbox "
		    "belongs to another user: Operation not permitted");
		got = slurp(mpath, &len);
		ck_assert_uint_eq(len, 0);
		free(got);
		ck_assert_int_eq(chown(mpath, 0, 0), 0);
	}
	ck_assert_int_eq(deliver("x\r\n", "a@b", err, sizeof(err)),
	    DELIVER_OK);
}
END_TEST

/*
 * A passwd user's mbox in a spool directory like Debian's /var/mail
 * (root:mail 2775): the owner's delivery process, running as the user
 * with the spool's group added, creates the file (0600, the user's) and
 * its dotlock there, appends a batch and reports each message only after
 * the sync.
 */
START_TEST(test_owner_process_appends_to_spool_mbox)
{
	static const char body[] = "Subject: x\r\n\r\nFrom me\r\n";
	struct msg_local_delivery d;
	struct msg_local_delivered r;
	struct local_target t;
	static char host[] = "h";
	static struct settings set;
	struct ipc_conn c;
	struct ipc_msg m;
	struct stat st;
	struct group *gr;
	struct passwd *pw;
	char spool[96], lock[160], err[LOCAL_TARGET_ERR_MAX], dsn[16];
	char text[256];
	const char *why;
	char *got, *p;
	int fd, sock, ws, i, n;
	pid_t pid;

	set.myhostname = host;
	pw = getpwnam("nobody");
	gr = getgrnam("mail");
	if (geteuid() != 0 || pw == NULL || gr == NULL)
		return;		/* needs root, nobody and the mail group */
	ck_assert_int_eq(chmod(tdir, 0755), 0);
	snprintf(spool, sizeof(spool), "%s/mail", tdir);
	ck_assert_int_eq(mkdir(spool, 0755), 0);
	ck_assert_int_eq(chown(spool, 0, gr->gr_gid), 0);
	ck_assert_int_eq(chmod(spool, 02775), 0);
	ck_assert_int_eq(local_target_resolve("", "nobody", &t, err,
	    sizeof(err)), DELIVER_OK);
	ck_assert_int_eq(local_target_mbox(&t, spool, err, sizeof(err)),
	    DELIVER_OK);
	snprintf(mpath, sizeof(mpath), "%s/nobody", spool);
	ck_assert_str_eq(t.mbox, mpath);
	ck_assert_int_eq(t.mail_gid, gr->gr_gid);
	fd = msgfd(body);
	pid = local_child_spawn(&t, &set, &sock);
	ck_assert_int_gt(pid, 0);
	ipc_conn_init(&c, sock);
	for (i = 0; i < 3; i++) {
		d.id = (uint32_t)i;
		d.sender = "s@example.com";
		d.address = "nobody@example.org";
		d.maildir = t.maildir;
		d.home = t.home;
		d.body_offset = 0;
		d.body_size = sizeof(body) - 1;
		d.mbox = t.mbox;
		d.kind = RESOLVE_LOCAL;
		d.target = "";
		d.user = "nobody";
		d.time_limit = 0;
		d.extension = "";
		ck_assert_int_eq(msg_encode(&m, MSG_LOCAL_DELIVERY, 0, &d), 0);
		m.fd = dup(fd);
		ck_assert_int_eq(ipc_send(&c, &m), 0);
	}
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ipc_recv(&c, &m, 30000), 0);
		ck_assert_int_eq(msg_decode(&m, MSG_LOCAL_DELIVERED, &r, &why),
		    0);
		ck_assert_int_eq(local_child_report_check(&r, dsn, sizeof(dsn),
		    text, sizeof(text)), DELIVER_OK);
		ck_assert_str_eq(text, "delivered to mbox");
		ipc_msg_free(&m);
	}
	ipc_conn_close(&c);
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	close(fd);
	ck_assert_int_eq(stat(mpath, &st), 0);
	ck_assert_int_eq(st.st_uid, pw->pw_uid);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	got = slurp(mpath, NULL);
	for (n = 0, p = got; (p = strstr(p, "From s@example.com ")) != NULL;
	    p++)
		n++;
	ck_assert_int_eq(n, 3);
	ck_assert_ptr_nonnull(strstr(got, "\n>From me\n\nFrom s@"));
	free(got);
	snprintf(lock, sizeof(lock), "%s.lock", mpath);
	ck_assert_int_eq(access(lock, F_OK), -1);
}
END_TEST

Suite *
mbox_suite(void)
{
	Suite *s = suite_create("mbox");
	TCase *tc = tcase_create("mbox");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_from_line);
	tcase_add_test(tc, test_quoting_and_separator);
	tcase_add_test(tc, test_quoting_across_read_boundaries);
	tcase_add_test(tc, test_damaged_tail_gets_empty_line);
	tcase_add_test(tc, test_failed_write_truncates);
	tcase_add_test(tc, test_batch_appends_then_one_sync);
	tcase_add_test(tc, test_fresh_dotlock_defers_stale_one_is_removed);
	tcase_add_test(tc, test_fcntl_lock_held_defers);
	tcase_add_test(tc, test_link_and_symlink_refused);
	tcase_add_test(tc, test_owned_by_another_refused);
	tcase_add_test(tc, test_owner_process_appends_to_spool_mbox);
	suite_add_tcase(s, tc);
	return s;
}
