"""
runner - discover tests/integration/test_*.py, run every test, print one
line per test and the final "integration: N passed, N failed[, N skipped]".

Called by tests/integration/run (so by make check).  A skipped test counts
as failed unless it is a root-only test skipped because we are not root:
a test that cannot run because something is missing is a failure.
Arguments (optional) are name substrings selecting tests to run.
Set TERN_KEEP_TMP=1 to keep the temporary directories of failed tests.
"""

import os
import signal
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tern_harness  # noqa: E402

ROOT_SKIP_PREFIX = "root only"
DEFAULT_TEST_TIMEOUT = 240


class TestTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise TestTimeout("test exceeded its time limit")


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


class Result(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.outcome = None
        self.detail = ""

    def addSuccess(self, test):
        if self.outcome is None:
            self.outcome = "PASS"

    def addFailure(self, test, err):
        self.outcome = "FAIL"
        self.detail += self._exc_info_to_string(err, test)

    def addError(self, test, err):
        self.outcome = "ERROR"
        self.detail += self._exc_info_to_string(err, test)

    def addSkip(self, test, reason):
        if reason.startswith(ROOT_SKIP_PREFIX):
            self.outcome = "SKIP"
            self.detail = reason
        else:
            self.outcome = "FAIL"
            self.detail = "skipped, counted as failure: %s" % reason

    def addExpectedFailure(self, test, err):
        self.outcome = "FAIL"
        self.detail = "expected failures are not allowed"

    def addUnexpectedSuccess(self, test):
        self.outcome = "FAIL"
        self.detail = "unexpected success"

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self.outcome = "FAIL"
            self.detail += "[%s]\n%s" % (subtest._subDescription(),
                                         self._exc_info_to_string(err, test))


def main(argv):
    for var in ("TERN_BUILDDIR", "TERN_SRCDIR"):
        if not os.environ.get(var):
            print("runner.py: %s must be set" % var, file=sys.stderr)
            print("integration: 0 passed, 1 failed")
            return 1
    if os.geteuid() == 0:
        try:
            tern_harness.ensure_system_users()
        except Exception as e:  # noqa: BLE001
            print("runner.py: cannot create system users: %s" % e)
    loader = unittest.TestLoader()
    try:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        print("integration: 0 passed, 1 failed")
        return 1
    tests = list(iter_tests(suite))
    if argv:
        tests = [t for t in tests if any(a in t.id() for a in argv)]
    passed = failed = skipped = 0
    signal.signal(signal.SIGALRM, _alarm)
    t_all = time.monotonic()
    for test in tests:
        res = Result()
        t0 = time.monotonic()
        limit = getattr(test, "time_limit", DEFAULT_TEST_TIMEOUT)
        signal.alarm(limit)
        try:
            test.run(res)
        except TestTimeout:
            res.outcome = "ERROR"
            res.detail += "test exceeded %ds time limit\n" % limit
        finally:
            signal.alarm(0)
        # Load-time errors (a module that does not import) come through
        # unittest's _FailedTest and are errors like any other.
        outcome = res.outcome or "ERROR"
        if outcome == "PASS":
            passed += 1
        elif outcome == "SKIP":
            skipped += 1
        else:
            failed += 1
        print("%-5s %s (%.1fs)" % (outcome, test.id(), time.monotonic() - t0),
              flush=True)
        insts = list(tern_harness.INSTANCES)
        del tern_harness.INSTANCES[:]
        for inst in insts:
            inst.cleanup()
        if outcome in ("FAIL", "ERROR"):
            for line in res.detail.rstrip().splitlines():
                print("    " + line)
            for inst in insts:
                print("    --- log tail of %s (%s; %s) ---"
                      % (inst.name, inst.logpath,
                         inst.ternd_state or "ternd running"))
                for line in inst.log_tail(40).splitlines():
                    print("    | " + line)
            sys.stdout.flush()
        elif outcome == "SKIP":
            print("    " + res.detail)
        keep = os.environ.get("TERN_KEEP_TMP") and outcome in ("FAIL", "ERROR")
        for inst in insts:
            if keep:
                print("    kept %s" % inst.tmp)
            else:
                inst.remove()
    if not tests:
        print("runner.py: no tests found")
        failed += 1
    line = "integration: %d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print("(%.0fs)" % (time.monotonic() - t_all))
    print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
