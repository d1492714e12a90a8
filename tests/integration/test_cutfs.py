"""
cutfs, the filesystem of the power-cut test, keeps after a cut exactly
what was made durable, and nothing else: a synced file whose directory
was not synced is gone, a synced one in a synced directory is there with
its synced content, and unsynced appends, truncations, unlinks, renames,
mkdirs and chmods are undone.  If cutfs kept too much, the power-cut test
of tern could pass without proving anything; these tests keep it honest.
"""

import mmap
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import unittest

from cutfs_harness import CutFS
from tern_harness import TERN_QUEUE_USER, TERN_USER, is_root

PAGE = 4096


def write_file(path, data, sync=None, flags=0):
    """Create or rewrite path with data; sync: None, "data" or "full"."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | flags, 0o644)
    try:
        os.write(fd, data)
        if sync == "data":
            os.fdatasync(fd)
        elif sync == "full":
            os.fsync(fd)
    finally:
        os.close(fd)


def append_file(path, data):
    with open(path, "ab") as f:
        f.write(data)


def sync_file(path, data_only=False):
    fd = os.open(path, os.O_RDONLY)
    try:
        (os.fdatasync if data_only else os.fsync)(fd)
    finally:
        os.close(fd)


def sync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


class CutfsTestCase(unittest.TestCase):
    """Each test gets its own cutfs at self.mnt."""

    def setUp(self):
        if not is_root():
            self.skipTest("root only: mounts a FUSE filesystem with "
                          "allow_other")
        self.tmp = tempfile.mkdtemp(prefix="tern-it-cutfs-")
        os.chmod(self.tmp, 0o755)       # other users reach the mount
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mnt = os.path.join(self.tmp, "mnt")
        self.fs = CutFS(self.mnt, os.path.join(self.tmp, "image"),
                        os.path.join(self.tmp, "cutfs.log"))
        self.addCleanup(self.fs.cleanup)
        self.fs.mount()

    def p(self, *names):
        return os.path.join(self.mnt, *names)

    def cut(self, harsh_seed=None):
        """Cut the power and mount again; the cut's report."""
        stats = self.fs.cut()
        self.fs.harsh_seed = harsh_seed
        self.fs.mount()
        return stats

    def durable_file(self, name, data):
        """A file that is fully on disk: synced, and its entry too."""
        write_file(self.p(name), data, sync="full")
        sync_dir(os.path.dirname(self.p(name)))


class TestCutfsFiles(CutfsTestCase):

    def test_synced_file_in_unsynced_directory_is_gone(self):
        self.durable_file("old", b"kept")
        write_file(self.p("new"), b"synced data", sync="data")
        stats = self.cut()
        self.assertEqual(sorted(os.listdir(self.mnt)), ["old"])
        self.assertEqual(read_file(self.p("old")), b"kept")
        self.assertEqual(stats["lost_nodes"], 1, stats)
        self.assertEqual(stats["unsynced_dirs"], 1, stats)

    def test_synced_file_in_synced_directory_keeps_synced_content(self):
        body = bytes(range(256)) * 20 + b"tail"
        write_file(self.p("f"), body, sync="data")
        sync_dir(self.mnt)
        append_file(self.p("f"), b"unsynced append" * 1000)
        stats = self.cut()
        self.assertEqual(read_file(self.p("f")), body)
        self.assertEqual(stats["unsynced_files"], 1, stats)
        self.assertGreaterEqual(stats["lost_pages"], 3, stats)

    def test_entry_synced_before_data_leaves_an_empty_file(self):
        write_file(self.p("f"), b"never synced")
        sync_dir(self.mnt)
        self.cut()
        self.assertEqual(read_file(self.p("f")), b"")

    def test_unsynced_truncation_comes_back(self):
        self.durable_file("t", b"x" * 10000)
        self.durable_file("u", b"y" * 10000)
        os.truncate(self.p("t"), 10)
        os.truncate(self.p("u"), 10)
        sync_file(self.p("u"), data_only=True)
        self.cut()
        self.assertEqual(read_file(self.p("t")), b"x" * 10000)
        self.assertEqual(read_file(self.p("u")), b"y" * 10)

    def test_truncate_then_extend_reads_zeros(self):
        self.durable_file("z", b"a" * 6000)
        os.truncate(self.p("z"), 100)
        os.truncate(self.p("z"), 6000)
        self.assertEqual(read_file(self.p("z")), b"a" * 100 + b"\0" * 5900)
        sync_file(self.p("z"))
        self.cut()
        self.assertEqual(read_file(self.p("z")), b"a" * 100 + b"\0" * 5900)

    def test_o_sync_write_is_durable(self):
        write_file(self.p("s"), b"", sync="full")
        sync_dir(self.mnt)
        fd = os.open(self.p("s"), os.O_WRONLY | os.O_DSYNC)
        os.write(fd, b"dsync write")
        os.close(fd)
        self.cut()
        self.assertEqual(read_file(self.p("s")), b"dsync write")

    def test_shared_mmap_write_is_durable_after_msync_only(self):
        self.durable_file("m", b"\0" * (2 * PAGE))
        self.durable_file("n", b"\0" * (2 * PAGE))
        for name, flush in (("m", True), ("n", False)):
            with open(self.p(name), "r+b") as f:
                mm = mmap.mmap(f.fileno(), 2 * PAGE, mmap.MAP_SHARED)
                mm[PAGE:PAGE + 6] = b"mapped"
                if flush:
                    mm.flush()      # msync(MS_SYNC): fsync of the range
                mm.close()
        self.assertEqual(read_file(self.p("n"))[PAGE:PAGE + 6], b"mapped")
        self.cut()
        self.assertEqual(read_file(self.p("m"))[PAGE:PAGE + 6], b"mapped")
        self.assertEqual(read_file(self.p("n")), b"\0" * (2 * PAGE))

    def test_durable_state_survives_several_cuts(self):
        self.durable_file("d", b"durable")
        for _ in range(3):
            write_file(self.p("tmp"), b"volatile")
            self.cut()
            self.assertEqual(os.listdir(self.mnt), ["d"])
            self.assertEqual(read_file(self.p("d")), b"durable")


class TestCutfsNames(CutfsTestCase):

    def test_unlink_is_undone_without_directory_sync(self):
        self.durable_file("a", b"A")
        self.durable_file("b", b"B")
        os.unlink(self.p("a"))
        self.cut()
        self.assertEqual(sorted(os.listdir(self.mnt)), ["a", "b"])
        self.assertEqual(read_file(self.p("a")), b"A")
        os.unlink(self.p("a"))
        sync_dir(self.mnt)
        self.cut()
        self.assertEqual(os.listdir(self.mnt), ["b"])

    def test_rename_is_durable_only_with_directory_sync(self):
        self.durable_file("a", b"A")
        os.rename(self.p("a"), self.p("b"))
        self.cut()
        self.assertEqual(os.listdir(self.mnt), ["a"])
        os.rename(self.p("a"), self.p("b"))
        sync_dir(self.mnt)
        self.cut()
        self.assertEqual(os.listdir(self.mnt), ["b"])
        self.assertEqual(read_file(self.p("b")), b"A")

    def test_rename_between_directories_syncing_only_the_target(self):
        os.mkdir(self.p("src"))
        os.mkdir(self.p("dst"))
        sync_dir(self.mnt)
        self.durable_file("src/f", b"F")
        os.rename(self.p("src", "f"), self.p("dst", "f"))
        sync_dir(self.p("dst"))
        self.cut()
        # The old entry is still durable: the file has two names now.
        self.assertEqual(os.listdir(self.p("src")), ["f"])
        self.assertEqual(os.listdir(self.p("dst")), ["f"])
        self.assertEqual(os.stat(self.p("src", "f")).st_ino,
                         os.stat(self.p("dst", "f")).st_ino)
        self.assertEqual(os.stat(self.p("dst", "f")).st_nlink, 2)

    def test_rename_replacing_a_file(self):
        self.durable_file("old", b"old")
        self.durable_file("new", b"new")
        os.rename(self.p("new"), self.p("old"))
        self.assertEqual(read_file(self.p("old")), b"new")
        self.cut()
        self.assertEqual(read_file(self.p("old")), b"old")
        self.assertEqual(read_file(self.p("new")), b"new")
        os.rename(self.p("new"), self.p("old"))
        sync_dir(self.mnt)
        self.cut()
        self.assertEqual(os.listdir(self.mnt), ["old"])
        self.assertEqual(read_file(self.p("old")), b"new")

    def test_new_directory_needs_its_parent_synced(self):
        for d in ("lost", "kept"):
            os.mkdir(self.p(d), 0o700)
            self.durable_file(d + "/f", b"in " + d.encode())
        sync_dir(self.mnt)
        os.mkdir(self.p("later"))
        self.durable_file("later/f", b"x")
        self.cut()
        self.assertEqual(sorted(os.listdir(self.mnt)), ["kept", "lost"])
        self.assertEqual(read_file(self.p("kept", "f")), b"in kept")
        self.assertEqual(os.stat(self.p("kept")).st_mode & 0o7777, 0o700)

    def test_hard_link_survives_when_its_directory_is_synced(self):
        self.durable_file("a", b"linked")
        os.link(self.p("a"), self.p("b"))
        self.assertEqual(os.stat(self.p("a")).st_nlink, 2)
        sync_dir(self.mnt)
        os.link(self.p("a"), self.p("c"))
        self.cut()
        self.assertEqual(sorted(os.listdir(self.mnt)), ["a", "b"])
        self.assertEqual(os.stat(self.p("b")).st_nlink, 2)
        self.assertEqual(read_file(self.p("b")), b"linked")

    def test_readdir_while_unlinking_sees_each_entry_once(self):
        for i in range(300):
            write_file(self.p("f%03d" % i), b"")
        seen = []
        with os.scandir(self.mnt) as it:
            for e in it:
                seen.append(e.name)
                os.unlink(e.path)
        self.assertEqual(sorted(seen), ["f%03d" % i for i in range(300)])
        self.assertEqual(os.listdir(self.mnt), [])

    def test_open_unlinked_file_stays_usable(self):
        fd = os.open(self.p("gone"), os.O_RDWR | os.O_CREAT, 0o600)
        os.unlink(self.p("gone"))
        os.write(fd, b"still here")
        self.assertEqual(os.pread(fd, 100, 0), b"still here")
        os.fsync(fd)
        os.close(fd)
        self.assertEqual(os.listdir(self.mnt), [])
        stats = self.cut()
        self.assertEqual(os.listdir(self.mnt), [])
        self.assertEqual(stats["files"], 0, stats)


class TestCutfsAttributes(CutfsTestCase):

    def test_chmod_and_chown_are_durable_after_fsync(self):
        q = pwd.getpwnam(TERN_QUEUE_USER)
        self.durable_file("a", b"")
        self.durable_file("b", b"")
        self.durable_file("c", b"")
        for name in ("a", "b", "c"):
            os.chmod(self.p(name), 0o600)
            os.chown(self.p(name), q.pw_uid, q.pw_gid)
        sync_file(self.p("a"))
        sync_file(self.p("b"), data_only=True)
        self.cut()
        st = os.stat(self.p("a"))
        self.assertEqual((st.st_mode & 0o7777, st.st_uid), (0o600, q.pw_uid))
        for name in ("b", "c"):
            st = os.stat(self.p(name))
            self.assertEqual((st.st_mode & 0o7777, st.st_uid), (0o644, 0),
                             name)

    def test_permissions_are_enforced_for_other_users(self):
        t = pwd.getpwnam(TERN_USER)
        os.mkdir(self.p("private"), 0o700)
        os.chown(self.p("private"), t.pw_uid, t.pw_gid)
        # set -C: the shell creates the file with O_EXCL.
        script = 'umask 077; set -C; echo ok > "$0"'
        for user, ok in ((TERN_QUEUE_USER, False), (TERN_USER, True)):
            r = subprocess.run(["setpriv", "--reuid", user, "--regid", user,
                                "--clear-groups", "/bin/sh", "-c", script,
                                self.p("private", "f")],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            self.assertEqual(r.returncode == 0, ok, (user, r.stdout))
        st = os.stat(self.p("private", "f"))
        self.assertEqual((st.st_uid, st.st_mode & 0o7777), (t.pw_uid, 0o600))

    def test_exclusive_create_socket_statvfs_utime(self):
        write_file(self.p("x"), b"")
        with self.assertRaises(FileExistsError):
            os.open(self.p("x"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.p("sock"))
        s.close()
        self.assertTrue(os.path.exists(self.p("sock")))
        os.utime(self.p("x"), (1000000000, 1000000000))
        self.assertEqual(os.stat(self.p("x")).st_mtime, 1000000000)
        sv = os.statvfs(self.mnt)
        self.assertGreater(sv.f_bavail, 0)
        self.assertEqual(sv.f_namemax, 255)
        with self.assertRaises(OSError):
            os.symlink("x", self.p("link"))


class TestCutfsHarsh(CutfsTestCase):

    def test_harsh_cut_keeps_or_drops_whole_unsynced_pages(self):
        n = 64
        self.durable_file("h", b"A" * (n * PAGE))
        self.durable_file("s", b"S" * (n * PAGE))
        self.fs.cut()
        self.fs.harsh_seed = 12345
        self.fs.mount()
        with open(self.p("h"), "r+b") as f:
            f.write(b"B" * (n * PAGE))
        with open(self.p("s"), "r+b") as f:
            f.write(b"T" * (n * PAGE))
            os.fdatasync(f.fileno())
        stats = self.cut()
        data = read_file(self.p("h"))
        self.assertEqual(len(data), n * PAGE)
        pages = [data[i * PAGE:(i + 1) * PAGE] for i in range(n)]
        self.assertTrue(all(pg in (b"A" * PAGE, b"B" * PAGE)
                            for pg in pages), "a page was torn")
        kept = sum(pg == b"B" * PAGE for pg in pages)
        self.assertTrue(0 < kept < n, "harsh cut kept %d of %d" % (kept, n))
        self.assertEqual((stats["kept_pages"], stats["lost_pages"]),
                         (kept, n - kept))
        self.assertEqual(read_file(self.p("s")), b"T" * (n * PAGE))

    def test_harsh_cut_never_keeps_unsynced_names(self):
        self.fs.cut()
        self.fs.harsh_seed = 99
        self.fs.mount()
        for i in range(20):
            write_file(self.p("f%d" % i), b"data", sync="full")
        self.cut()
        self.assertEqual(os.listdir(self.mnt), [])
