"""
runner - discover tests/integration/test_*.py, run every test, print one
line per test and the final "integration: N passed, N failed[, N skipped]".

Called by tests/integration/run (so by make check).  A skipped test counts
as failed unless it is a root-only test skipped because we are not root:
a test that cannot run because something is missing is a failure.
Arguments (optional) are name substrings selecting tests to run.
Set TERN_KEEP_TMP=1 to keep the temporary directories of failed tests.

Test modules run in TERN_TEST_JOBS worker processes at once (default: the
number of CPUs, at most 4; 1 runs everything in this process), each module
whole in one worker, the longest first.  A module that sets RUN_ALONE (a
string saying why) runs after the others with no other module beside it.
Workers share nothing but the machine: free_port gives each its own ports,
and host_lock serializes what they change on the host (passwd, loop
devices).  A test's lines are printed together when it ends.
"""

import os
import select
import signal
import subprocess
import sys
import time
import tempfile
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import tern_harness  # noqa: E402

ROOT_SKIP_PREFIX = "root only"
DEFAULT_TEST_TIMEOUT = 240
MAX_DEFAULT_JOBS = 4
# Ends each test's block of lines in a worker's output, and the
# "module done" line.
END_OF_TEST = b"\x1e"
END_OF_MODULE = b"\x1d"


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


def module_of(test):
    return test.id().split(".")[0]


def run_test(test):
    """
    Run one test; returns (outcome, its lines of output as one string).
    Removes the test's instances (keeping those of a failed test when
    TERN_KEEP_TMP is set).
    """
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
    out = ["%-5s %s (%.1fs)" % (outcome, test.id(), time.monotonic() - t0)]
    insts = list(tern_harness.INSTANCES)
    del tern_harness.INSTANCES[:]
    for inst in insts:
        inst.cleanup()
    if outcome in ("FAIL", "ERROR"):
        for line in res.detail.rstrip().splitlines():
            out.append("    " + line)
        for inst in insts:
            out.append("    --- log tail of %s (%s; %s) ---"
                       % (inst.name, inst.logpath,
                          inst.ternd_state or "ternd running"))
            for line in inst.log_tail(40).splitlines():
                out.append("    | " + line)
    elif outcome == "SKIP":
        out.append("    " + res.detail)
    keep = os.environ.get("TERN_KEEP_TMP") and outcome in ("FAIL", "ERROR")
    for inst in insts:
        if keep:
            out.append("    kept %s" % inst.tmp)
        else:
            inst.remove()
    return outcome, "\n".join(out) + "\n"


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def count(self, outcome):
        if outcome == "PASS":
            self.passed += 1
        elif outcome == "SKIP":
            self.skipped += 1
        else:
            self.failed += 1


def discover(argv):
    """The tests selected by argv (name substrings; all when empty), in
    discovery order; raises what discovery raises."""
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = list(iter_tests(suite))
    if argv:
        tests = [t for t in tests if any(a in t.id() for a in argv)]
    return tests


def worker(argv):
    """
    Worker mode: read module names from stdin, one a line; run that
    module's selected tests, writing each test's block then END_OF_TEST,
    and END_OF_MODULE once the module is done.  Ends at end of input.
    The tests and what they start get /dev/null as their input and the
    worker's standard error as their output, so that nothing but these
    blocks reaches the runner, and nothing the tests start reads the
    module names or keeps the runner's pipe open after the worker exits.
    """
    orders = os.fdopen(os.dup(0), "r")
    blocks = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    for f in (orders, blocks):
        os.set_inheritable(f.fileno(), False)
    signal.signal(signal.SIGALRM, _alarm)
    by_module = {}
    for t in discover(argv):
        by_module.setdefault(module_of(t), []).append(t)
    for line in orders:
        name = line.strip()
        for test in by_module.get(name, []):
            outcome, text = run_test(test)
            blocks.write("%s%s%s\n" % (outcome[0], text,
                                        END_OF_TEST.decode()))
            blocks.flush()
        blocks.write(END_OF_MODULE.decode() + "\n")
        blocks.flush()
    return 0


def module_order(tests):
    """(parallel, alone): module names, each list longest first (by the
    size of the module's file, which tracks its running time well enough
    to start the long ones early)."""
    mods = {}
    for t in tests:
        mods.setdefault(module_of(t), sys.modules.get(type(t).__module__))
    par, alone = [], []
    for name, mod in mods.items():
        path = getattr(mod, "__file__", None) or ""
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        (alone if getattr(mod, "RUN_ALONE", None) else par).append(
            (-size, name))
    return [n for _, n in sorted(par)], [n for _, n in sorted(alone)]


class Worker:
    def __init__(self, k, n, argv, env):
        env = dict(env, TERN_TEST_WORKER=str(k), TERN_TEST_WORKERS=str(n))
        self.proc = subprocess.Popen(
            [sys.executable, "-B", os.path.abspath(__file__), "--worker"]
            + argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.buf = b""
        self.module = None

    def give(self, module):
        self.module = module
        self.proc.stdin.write(module.encode() + b"\n")
        self.proc.stdin.flush()

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait()


def run_parallel(tests, jobs, argv, tally):
    """Run tests' modules in jobs workers; print each test's block as it
    ends; count outcomes in tally."""
    par, alone = module_order(tests)
    counts = {}
    for t in tests:
        counts[module_of(t)] = counts.get(module_of(t), 0) + 1
    lockdir = tempfile.mkdtemp(prefix="tern-it-lock-")
    env = dict(os.environ, TERN_TEST_LOCK=os.path.join(lockdir, "host"))
    workers = [Worker(k, jobs, argv, env) for k in range(jobs)]
    todo = list(par)
    try:
        while todo or alone or any(w.module for w in workers):
            if not todo and alone and not any(w.module for w in workers):
                todo.append(alone.pop(0))
            for w in workers:
                if w.module is None and todo:
                    w.give(todo.pop(0))
            busy = [w for w in workers if w.module]
            ready, _, _ = select.select([w.proc.stdout for w in busy], [], [])
            for w in busy:
                if w.proc.stdout not in ready:
                    continue
                data = os.read(w.proc.stdout.fileno(), 65536)
                if not data:
                    # The worker died: what it did not report failed.
                    print("ERROR %s (worker exited with status %s; %d tests "
                          "not reported)" % (w.module, w.proc.wait(),
                                             counts[w.module]), flush=True)
                    for _ in range(counts[w.module]):
                        tally.count("ERROR")
                    workers[workers.index(w)] = Worker(
                        workers.index(w), jobs, argv, env)
                    continue
                w.buf += data
                while True:
                    i = w.buf.find(END_OF_TEST + b"\n")
                    j = w.buf.find(END_OF_MODULE + b"\n")
                    if i < 0 and j < 0:
                        break
                    if i >= 0 and (j < 0 or i < j):
                        block, w.buf = w.buf[:i], w.buf[i + 2:]
                        tally.count({b"P": "PASS", b"S": "SKIP"}.get(
                            block[:1], "FAIL"))
                        counts[w.module] -= 1
                        sys.stdout.write(block[1:].decode(errors="replace"))
                        sys.stdout.flush()
                    else:
                        w.buf = w.buf[j + 2:]
                        w.module = None
    finally:
        for w in workers:
            w.close()
        try:
            os.unlink(env["TERN_TEST_LOCK"])
        except OSError:
            pass
        os.rmdir(lockdir)


def run_serial(tests, tally):
    signal.signal(signal.SIGALRM, _alarm)
    for test in tests:
        outcome, text = run_test(test)
        tally.count(outcome)
        sys.stdout.write(text)
        sys.stdout.flush()


def jobs_wanted():
    v = os.environ.get("TERN_TEST_JOBS", "")
    if v.isdigit() and int(v) > 0:
        return int(v)
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_JOBS))


def main(argv):
    for var in ("TERN_BUILDDIR", "TERN_SRCDIR"):
        if not os.environ.get(var):
            print("runner.py: %s must be set" % var, file=sys.stderr)
            print("integration: 0 passed, 1 failed")
            return 1
    if argv[:1] == ["--worker"]:
        return worker(argv[1:])
    if os.geteuid() == 0:
        try:
            tern_harness.ensure_system_users()
        except Exception as e:  # noqa: BLE001
            print("runner.py: cannot create system users: %s" % e)
    try:
        tests = discover(argv)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        print("integration: 0 passed, 1 failed")
        return 1
    tally = Tally()
    t_all = time.monotonic()
    jobs = min(jobs_wanted(), len({module_of(t) for t in tests}))
    if jobs > 1:
        run_parallel(tests, jobs, argv, tally)
    else:
        run_serial(tests, tally)
    if not tests:
        print("runner.py: no tests found")
        tally.failed += 1
    line = "integration: %d passed, %d failed" % (tally.passed, tally.failed)
    if tally.skipped:
        line += ", %d skipped" % tally.skipped
    print("(%.0fs)" % (time.monotonic() - t_all))
    print(line)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
