"""
cutfs_harness - mount tests/powercut/cutfs, cut its power, mount it again.

cutfs keeps a filesystem in memory in a volatile and a durable state
(tests/powercut/cutfs_model.h); unmounting it is the power cut: only the
durable state goes to its image file, and the next mount starts from
there.  Used by test_cutfs.py (the filesystem's own test) and
test_power_cut.py.  Needs root (allow_other mounts) and /dev/fuse.
"""

import os
import re
import subprocess
import time

from tern_harness import HarnessError, builddir, wait_until

CUT_RE = re.compile(
    r"cut: kept (\d+) files, (\d+) directories, (\d+) others; "
    r"lost (\d+) nodes not durably linked, unsynced data of (\d+) files "
    r"\((\d+) pages lost, (\d+) kept\), unsynced entries of (\d+) "
    r"directories; (\d+) second directory links dropped")
CUT_FIELDS = ("files", "dirs", "others", "lost_nodes", "unsynced_files",
              "lost_pages", "kept_pages", "unsynced_dirs",
              "dropped_dir_links")


def cutfs_binary():
    path = os.path.join(builddir(), "tests", "powercut", "cutfs")
    if not os.access(path, os.X_OK):
        raise HarnessError(
            "missing %s: configure builds it only when libfuse3 is found "
            "(Debian: apt-get install libfuse3-dev fuse3), and make check "
            "(or make tests/powercut/cutfs) builds it" % path)
    if not os.path.exists("/dev/fuse"):
        raise HarnessError("/dev/fuse does not exist (modprobe fuse)")
    return path


def mounted_fstype(path):
    """The filesystem type mounted exactly at path, or None."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            mnt = fields[4].replace("\\040", " ")
            if mnt == path:
                return fields[sep + 1]
    return None


class CutFS:
    """One cutfs mounted at mountpoint, its durable state kept in image."""

    def __init__(self, mountpoint, image, logpath, harsh_seed=None):
        self.mountpoint = mountpoint
        self.image = image
        self.logpath = logpath
        self.harsh_seed = harsh_seed
        self.proc = None
        self.cuts = []

    def mount(self, timeout=15):
        os.makedirs(self.mountpoint, exist_ok=True)
        opts = "image=%s" % self.image
        if self.harsh_seed is not None:
            opts += ",harsh=%d" % self.harsh_seed
        with open(self.logpath, "ab") as log:
            self.proc = subprocess.Popen(
                [cutfs_binary(), "-f", "-o", opts, self.mountpoint],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)

        def up():
            if self.proc.poll() is not None:
                raise HarnessError("cutfs exited with %s: %s"
                                   % (self.proc.returncode, self.log_tail()))
            return mounted_fstype(self.mountpoint) == "fuse.cutfs"
        wait_until(up, timeout, 0.02, what="cutfs mounted at %s"
                   % self.mountpoint)
        return self

    def cut(self, timeout=30):
        """
        Cut the power: unmount (every process using the filesystem must
        be dead), let cutfs write the durable state and exit.  Returns
        the cut's report as a dict (CUT_FIELDS).
        """
        deadline = time.monotonic() + timeout
        while True:
            r = subprocess.run(["umount", self.mountpoint],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise HarnessError("umount %s: %s" % (
                    self.mountpoint, r.stdout.decode(errors="replace")))
            time.sleep(0.05)
        rc = self.proc.wait(timeout=timeout)
        self.proc = None
        if rc != 0:
            raise HarnessError("cutfs exited with %d at the cut: %s"
                               % (rc, self.log_tail()))
        found = CUT_RE.findall(self.log())
        if len(found) != len(self.cuts) + 1:
            raise HarnessError("cutfs did not report the cut: %s"
                               % self.log_tail())
        stats = dict(zip(CUT_FIELDS, (int(x) for x in found[-1])))
        self.cuts.append(stats)
        return stats

    def cleanup(self):
        """Unmount (lazily if busy) and stop cutfs; for test cleanups."""
        if mounted_fstype(self.mountpoint) == "fuse.cutfs":
            r = subprocess.run(["umount", self.mountpoint],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode != 0:
                subprocess.run(["umount", "-l", self.mountpoint],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=20):
        return "\n".join(self.log().splitlines()[-n:])
