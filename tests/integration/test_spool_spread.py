"""
ternd asks the file system to spread the queue's hashed subdirectories
over its block groups (FS_TOPDIR_FL, "chattr +T" on msg/): on ext4 each
new file goes into its directory's block group, and the queue's steady
creation and deletion of message files in one group made every file
creation in that group slow (bench/README.md, "Where tern's time goes").
On a file system without these flags (tmpfs, say) there is nothing to
ask, and the test checks that the spool was made all the same.
"""

import errno
import fcntl
import os
import struct

from tern_harness import TernTestCase, smtp_connect

FS_IOC_GETFLAGS = 0x80086601
FS_TOPDIR_FL = 0x00020000


def fs_flags(path):
    """The directory's inode flags, or None when the file system has
    none to give."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buf = fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 8)
    except OSError as e:
        if e.errno in (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL):
            return None
        raise
    finally:
        os.close(fd)
    return struct.unpack("i", buf[:4])[0]


class TestSpoolSpread(TernTestCase):

    def test_queue_subdirectories_spread_over_block_groups(self):
        inst = self.instance()
        msg = os.path.join(inst.spool, "msg")
        self.assertEqual(sorted(os.listdir(msg)), list("0123456789ABCDEF"))
        flags = fs_flags(msg)
        if flags is not None:
            self.assertTrue(flags & FS_TOPDIR_FL,
                            "msg/ lacks FS_TOPDIR_FL: flags %#x" % flags)
            # Only msg/ asks for it: its subdirectories do not pass it on.
            self.assertFalse(fs_flags(os.path.join(msg, "0")) &
                             FS_TOPDIR_FL)
        # The queue works as before.
        with smtp_connect(inst) as s:
            s.sendmail("bob@client.example", ["alice@test.example"],
                       b"Subject: spread\r\n\r\nbody\r\n")
        inst.wait_for_delivery("alice", 1)
        self.assertIn(b"Subject: spread", inst.maildir_messages("alice")[0])
        inst.wait_queue_empty()
