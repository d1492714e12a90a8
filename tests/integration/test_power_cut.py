"""
Power cut: the spool survives a power cut, with every message that got
a 250.  The spool is on cutfs (tests/powercut), which keeps only what was
made durable (fsync/fdatasync of files, fsync of directories for their
entries) when its power is cut.
"""

import os
import pwd

from cutfs_harness import CutFS
from tern_harness import TERN_QUEUE_USER, TernTestCase, is_root


class TestPowerCut(TernTestCase):
    time_limit = 300

    def test_spool_layout_survives_a_power_cut_after_first_start(self):
        if not is_root():
            self.skipTest("root only: mounts a FUSE filesystem with "
                          "allow_other for tern's _tern and _ternq")
        inst = self.instance(start=False)
        fs = CutFS(inst.spool, os.path.join(inst.tmp, "cutfs.img"),
                   os.path.join(inst.tmp, "cutfs.log"))
        self.addCleanup(fs.cleanup)
        self.addCleanup(inst.cleanup)
        fs.mount()
        inst.start()
        inst.kill_all()
        fs.cut()
        fs.mount()
        q = pwd.getpwnam(TERN_QUEUE_USER)
        want = {"db": (q.pw_uid, 0o700), "msg": (q.pw_uid, 0o700),
                "empty": (0, 0o555), "run": (0, 0o755)}
        want.update(("msg/%X" % i, (q.pw_uid, 0o700)) for i in range(16))
        have = {}
        for d in want:
            try:
                st = os.stat(os.path.join(inst.spool, d))
                have[d] = (st.st_uid, st.st_mode & 0o7777)
            except FileNotFoundError:
                pass
        self.assertEqual(have, want, "spool layout after the cut")
