"""
smallfs - a small file system of its own for a test, and a ballast file
to fill it: what the disk-full tests put the spool (or the mailboxes) on.

    fs = SmallFS(48).mount()          # ext4 on a loop device, or tmpfs
    fs = SmallFS(4, at=path).mount()  # mounted on path (which must exist)
    fs.fill(leave=200 * 1024)         # ballast until ~200 KiB are free
    fs.fill()                         # and now nothing at all
    fs.free()                         # octets free for an unprivileged user
    fs.empty()                        # remove the ballast
    fs.unmount()                      # always; also at interpreter exit

A real ext4 on a loop device is preferred, because Berkeley DB and
fdatasync() then behave as on a disk; when loop devices are not available
(some containers), a tmpfs with a size limit is used instead
(TERN_SMALLFS=tmpfs in the environment asks for it).  Both need root.  Every mount is undone by unmount(), which tests register with
addCleanup before anything can fail, and by an atexit handler as a last
resort, so that a failed or interrupted test leaves no mount behind.
Blocks reserved for root are turned off (mkfs -m 0): the ballast, written
by root, and tern, running as _ternq, then see the same free space.
"""

import atexit
import os
import shutil
import subprocess
import tempfile
import time

from tern_harness import HarnessError, host_lock

_MOUNTED = []      # mount points, innermost last
_INSTANCES = []    # SmallFS objects not yet unmounted


def _umount(path):
    """Unmount path, retrying while it is busy; lazily as a last resort."""
    for _ in range(50):
        r = subprocess.run(["umount", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        if r.returncode == 0 or not os.path.ismount(path):
            return
        time.sleep(0.1)
    subprocess.run(["umount", "-l", path], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30)


@atexit.register
def _umount_all():
    while _MOUNTED:
        _umount(_MOUNTED.pop())
    for fs in list(_INSTANCES):
        fs.unmount()


def mount_tmpfs(path, size_kib):
    """A tmpfs of size_kib KiB on path (which must exist); kept for
    unmount_all.  Raises HarnessError when mount fails."""
    r = subprocess.run(["mount", "-t", "tmpfs", "-o",
                        "size=%dk,mode=0755" % size_kib, "tmpfs", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=30)
    if r.returncode != 0:
        raise HarnessError("mount -t tmpfs on %s failed: %s"
                           % (path, r.stdout.decode(errors="replace")))
    _MOUNTED.append(path)


def unmount(path):
    """Undo a mount made here (a no-op when it is not mounted)."""
    if path in _MOUNTED:
        _MOUNTED.remove(path)
    if os.path.ismount(path):
        _umount(path)


class SmallFS:
    """A file system of size_mib MiB mounted on a new directory, or on the
    existing directory at."""

    def __init__(self, size_mib, at=None):
        self.size_mib = size_mib
        self.tmp = tempfile.mkdtemp(prefix="tern-smallfs-")
        self.path = at or os.path.join(self.tmp, "mnt")
        self.image = os.path.join(self.tmp, "fs.img")
        self.ballast = os.path.join(self.path, "ballast")
        self.kind = None
        if at is None:
            os.mkdir(self.path)
        _INSTANCES.append(self)

    def mount(self):
        """ext4 on a loop device when possible, else tmpfs."""
        if os.environ.get("TERN_SMALLFS") != "tmpfs" and self._mount_ext4():
            self.kind = "ext4 on a loop device"
        else:
            mount_tmpfs(self.path, self.size_mib * 1024)
            self.kind = "tmpfs"
        os.chmod(self.path, 0o755)
        return self

    def _mount_ext4(self):
        with open(self.image, "wb") as f:
            f.truncate(self.size_mib * 1024 * 1024)
        r = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", self.image],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        if r.returncode != 0:
            raise HarnessError("mkfs.ext4 failed: %s"
                               % r.stdout.decode(errors="replace"))
        # Two test processes picking a free loop device at once can both
        # pick the same one: they take turns.
        with host_lock():
            r = subprocess.run(["mount", "-o", "loop", self.image,
                                self.path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
        if r.returncode != 0:
            os.unlink(self.image)
            return False
        _MOUNTED.append(self.path)
        return True

    def free(self):
        """Octets an unprivileged user may still write (f_bavail)."""
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave=0):
        """
        Append to the ballast until the file system refuses (ENOSPC),
        then give back leave octets.  Returns the octets free after.
        """
        fd = os.open(self.ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                     0o600)
        try:
            for chunk in (1 << 20, 1 << 16, 4096, 1):
                data = b"\xa5" * chunk
                while True:
                    try:
                        if os.write(fd, data) <= 0:
                            break
                    except OSError:
                        break
            os.fsync(fd)
            if leave > 0:
                size = os.fstat(fd).st_size
                os.ftruncate(fd, max(0, size - leave))
                os.fsync(fd)
        finally:
            os.close(fd)
        # ext4 hands freed blocks back when its journal commits.
        os.sync()
        return self.free()

    def empty(self):
        """Remove the ballast; the space is free again at once."""
        try:
            os.unlink(self.ballast)
        except FileNotFoundError:
            pass
        os.sync()

    def unmount(self):
        unmount(self.path)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self in _INSTANCES:
            _INSTANCES.remove(self)
