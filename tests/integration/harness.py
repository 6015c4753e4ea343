"""Harness for libckpt integration tests (Python 3 standard library only).

A test is a function taking a `T` (the test context) and registered with
`@test`. `T` gives it:

- a fresh temporary directory (`t.path(name)`), removed when the test passes
  and kept (its path printed) when it fails;
- `t.launch(argv)`: start an application under `ckpt-run` with its own images
  directory, pid file and stdout/stderr files, returning an `App`;
- `t.checkpoint(app)`, `t.kill9(app)`, `t.restore(image)`: the three steps of
  a checkpoint/restart, each bounded and checked;
- `t.reference(argv)`: an undisturbed run of a program, to compare with;
- `t.ckpt(*args)`: any other bounded `ckpt-run` invocation (`--inspect`, ...);
- assertion helpers (`check`, `check_equal`, `check_same_lines`) that raise
  `TestFailure` with a readable message.

Every wait is bounded. Processes are tracked by pid *and* start time, so a
recycled pid is never signalled. The test process is a child subreaper: a
process orphaned by one the test started (e.g. a restored application left
behind by a failed restore) is re-parented to the test, where it can be seen
(`t.children()`) and is killed at the end. When a test fails, the report
gives the failure, the state of every application and the tail of its output
files.
"""

import argparse
import ctypes
import dataclasses
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

PR_SET_CHILD_SUBREAPER = 36


class TestFailure(Exception):
    """The product did not behave as required (or a wait timed out)."""


class TestSkip(Exception):
    """An optional prerequisite is missing; the message says which."""


# ---------------------------------------------------------------- registry

TESTS = {}


def test(fn):
    """Registers a test function under its name."""
    if fn.__name__ in TESTS:
        raise RuntimeError('duplicate test name ' + fn.__name__)
    TESTS[fn.__name__] = fn
    return fn


# ------------------------------------------------------------ assertions

def check(cond, message):
    if not cond:
        raise TestFailure(message)


def check_equal(actual, expected, what):
    if actual != expected:
        raise TestFailure(f'{what}: expected {expected!r}, got {actual!r}')


def check_same_lines(actual, expected, what, show=8):
    """Compares two collections of lines as sets, listing the differences."""
    actual, expected = set(actual), set(expected)
    missing = sorted(expected - actual)
    extra = sorted(actual - expected)
    if missing or extra:
        msg = [f'{what}: {len(missing)} line(s) missing, {len(extra)} unexpected']
        msg += ['  missing:    ' + l for l in missing[:show]]
        msg += ['  unexpected: ' + l for l in extra[:show]]
        raise TestFailure('\n'.join(msg))


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns a true value (returned) or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestFailure(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(interval)


def read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return ''


def user_popen_args(user):
    """subprocess keyword arguments that run a command as `user` (a name or
    a uid; None: as ourselves): its uid, its primary gid, no supplementary
    groups. Needs root."""
    if user is None:
        return {}
    pw = pwd.getpwnam(user) if isinstance(user, str) else pwd.getpwuid(user)
    return {'user': pw.pw_uid, 'group': pw.pw_gid, 'extra_groups': []}


def tail(path, lines=15):
    text = read_text(path)
    if not text:
        return '    (empty)' if os.path.exists(path) else '    (no such file)'
    return '\n'.join('    ' + l for l in text.splitlines()[-lines:])


# ------------------------------------------------------------- processes

def proc_stat(pid):
    """(state, ppid, starttime) of a process, or None if it does not exist."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(b')') + 2:].split()
    return fields[0].decode(), int(fields[1]), int(fields[19])


def pid_exists(pid):
    """True while /proc/PID exists (zombies included)."""
    return os.path.exists(f'/proc/{pid}')


class ProcRef:
    """A process identified by pid and start time, so that a pid recycled by
    the kernel for another process is never mistaken for it."""

    def __init__(self, pid):
        self.pid = pid
        st = proc_stat(pid)
        self.starttime = st[2] if st else None

    def is_same(self):
        st = proc_stat(self.pid)
        return st is not None and st[2] == self.starttime

    def alive(self):
        """Exists and is not a zombie."""
        st = proc_stat(self.pid)
        return st is not None and st[2] == self.starttime and st[0] not in 'ZX'

    def signal(self, sig):
        """Sends sig if the process is still this one; returns whether sent."""
        if not self.is_same():
            return False
        try:
            os.kill(self.pid, sig)
            return True
        except ProcessLookupError:
            return False


class Pump(threading.Thread):
    """Copies a pipe into a file as data arrives (for capture='pipe')."""

    def __init__(self, pipe, path):
        super().__init__(daemon=True)
        self.pipe, self.path = pipe, path
        open(path, 'wb').close()
        self.start()

    def run(self):
        with open(self.path, 'ab', buffering=0) as out:
            while True:
                chunk = os.read(self.pipe.fileno(), 65536)
                if not chunk:
                    break
                out.write(chunk)
        self.pipe.close()


@dataclasses.dataclass
class Result:
    """A finished ckpt-run (or other) command."""
    argv: list
    rc: int
    out: str
    err: str
    seconds: float

    def describe(self):
        return (f'`{" ".join(map(str, self.argv))}` exited {self.rc} after {self.seconds:.2f} s\n'
                f'  stdout: {self.out.strip()[-600:]!r}\n  stderr: {self.err.strip()[-600:]!r}')


@dataclasses.dataclass
class Image:
    path: str
    seconds: float  # wall time of `ckpt-run --checkpoint`
    size: int


class App:
    """An application under ckpt-run: launched (`T.launch`) or restored
    (`T.restore`). `popen` is the ckpt-run process: for a launch it *is* the
    application (ckpt-run execs it); for a restore it is the foreground
    `ckpt-run --restore`, whose exit status is the application's.

    out_path/err_path: where the application's stdout/stderr can be read.
    A restored application whose streams were regular files writes to those
    files again (file mode), so its out_path is the original one;
    launcher_out/launcher_err are always the ckpt-run process's own streams.
    """

    def __init__(self, t, tag, kind, popen, capture, pid_file, out_path, err_path,
                 launcher_out, launcher_err, image=None):
        self.t, self.tag, self.kind, self.popen, self.capture = t, tag, kind, popen, capture
        self.pid_file, self.out_path, self.err_path = pid_file, out_path, err_path
        self.launcher_out, self.launcher_err = launcher_out, launcher_err
        self.image = image
        self.pid = None
        self.ref = None
        self.pumps = []

    def __repr__(self):
        return f'<{self.kind} {self.tag} pid={self.pid}>'

    # -- state
    def read_pid_file(self):
        try:
            text = read_text(self.pid_file).strip()
            return int(text) if text else None
        except ValueError:
            return None

    def wait_ready(self, timeout=20):
        """Waits for the pid file (the app can be checkpointed / is running);
        returns the pid. Fails early if ckpt-run exits first."""
        def ready():
            pid = self.read_pid_file()
            if pid:
                return pid
            if self.popen.poll() is not None:
                raise TestFailure(f'{self.tag}: ckpt-run exited with status {self.popen.returncode} '
                                  f'before writing its pid file')
            return None
        self.pid = wait_until(ready, timeout, f'{self.tag}: pid file {self.pid_file}')
        self.ref = ProcRef(self.pid)
        self.t.log(f'{self.tag}: pid {self.pid}')
        return self.pid

    def exited(self):
        return self.popen.poll() is not None

    def output(self):
        return read_text(self.out_path)

    def wait_output(self, pattern, timeout=30):
        """Waits until the app's stdout matches pattern (a regex, multiline);
        returns the match. Fails early if the application ends first."""
        rx = re.compile(pattern, re.M)

        def found():
            done = self.exited()
            m = rx.search(self.output())
            if m:
                return m
            if done:
                raise TestFailure(f'{self.tag}: exited with status {self.popen.returncode} '
                                  f'without printing a line matching {pattern!r}')
            return None
        return wait_until(found, timeout, f'{self.tag}: output matching {pattern!r}')

    def wait_exit(self, timeout=60):
        """Waits for ckpt-run to exit; returns its status (negative: signal)."""
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure(f'{self.tag}: still running after {timeout:g} s') from None
        for p in self.pumps:
            p.join(5)
        self.t.log(f'{self.tag}: exited with status {rc}')
        return rc

    def describe(self):
        if self.exited():
            state = f'ckpt-run exited with status {self.popen.returncode}'
        else:
            state = 'ckpt-run running'
        if self.ref is not None:
            state += ', app ' + ('alive' if self.ref.alive() else 'gone')
        lines = [f'--- {self.kind} {self.tag} (pid {self.pid}; {state})']
        shown = []
        for label, path in (('stdout', self.out_path), ('stderr', self.err_path),
                            ('ckpt-run stdout', self.launcher_out),
                            ('ckpt-run stderr', self.launcher_err)):
            if path in shown:
                continue
            shown.append(path)
            lines.append(f'  {label} ({path}):')
            lines.append(tail(path))
        return '\n'.join(lines)


class Env:
    """Where things are: the build and source trees, ckpt-run, fixtures."""

    def __init__(self, build, source):
        self.build = os.path.realpath(build)
        self.source = os.path.realpath(source)
        self.ckpt_run = os.path.join(self.build, 'launcher', 'ckpt-run')
        # meson.current_build_dir() of tests/integration/meson.build
        self.programs = os.path.join(self.build, 'tests', 'integration')
        self.shared = os.path.realpath(os.path.join(self.source, '..', 'shared'))


class T:
    """The context of one test run; see the module docstring."""

    def __init__(self, env, name):
        self.env, self.name = env, name
        self.t0 = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix=f'ckpt-it-{name}-')
        self.apps = []
        self.procs = []  # (label, Popen) started with t.spawn
        self._seq = 0
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            self.log('warning: PR_SET_CHILD_SUBREAPER failed; orphans go to init')
        self.log(f'test {name}: temporary directory {self.tmp}')

    # -- small helpers
    def log(self, msg):
        print(f'[{time.monotonic() - self.t0:7.2f}s] {msg}', flush=True)

    def path(self, *names):
        return os.path.join(self.tmp, *names)

    def _tag(self, prefix):
        self._seq += 1
        return f'{prefix}{self._seq}'

    def program(self, name):
        """Path of a fixture program built by tests/integration/meson.build."""
        path = os.path.join(self.env.programs, name)
        check(os.access(path, os.X_OK), f'fixture program {path} is not built (run ninja -C {self.env.build})')
        return path

    def memwalk(self):
        """The shared memwalk workload; skips the test if it is not there."""
        path = os.path.join(self.env.programs, 'memwalk')
        if not os.access(path, os.X_OK):
            src = os.path.join(self.env.shared, 'bench', 'workloads', 'memwalk.c')
            raise TestSkip(f'memwalk is not built: {src} not found when the build was configured')
        return path

    # -- commands
    def run(self, argv, timeout=30, check_rc=None, user=None):
        """Runs a command to completion (bounded) and returns a Result.
        user: run it as that user (name or uid; see user_popen_args)."""
        argv = [str(a) for a in argv]
        start = time.monotonic()
        try:
            cp = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=self.tmp, timeout=timeout,
                                **user_popen_args(user))
        except subprocess.TimeoutExpired as e:
            def text(b):
                return (b or b'').decode('utf-8', 'replace').strip()[-600:]
            raise TestFailure(f'`{" ".join(argv)}` did not finish within {timeout:g} s '
                              f'(killed); stdout: {text(e.stdout)!r} stderr: {text(e.stderr)!r}') from None
        res = Result(argv, cp.returncode, cp.stdout.decode('utf-8', 'replace'),
                     cp.stderr.decode('utf-8', 'replace'), time.monotonic() - start)
        if check_rc is not None and res.rc != check_rc:
            raise TestFailure(f'expected exit status {check_rc}: ' + res.describe())
        return res

    def ckpt(self, *args, timeout=30, check_rc=None, user=None):
        """Runs `ckpt-run ARGS` (bounded), as `user` if given."""
        return self.run([self.env.ckpt_run, *args], timeout=timeout, check_rc=check_rc, user=user)

    def reference(self, argv, timeout=60, expect_rc=0):
        """An undisturbed run of argv without ckpt-run; returns its stdout."""
        res = self.run(argv, timeout=timeout)
        self.log(f'reference run of {os.path.basename(str(argv[0]))}: status {res.rc}, {res.seconds:.1f} s')
        if res.rc != expect_rc:
            raise TestFailure(f'the undisturbed reference run failed (expected status {expect_rc}): '
                              + res.describe())
        return res.out

    def spawn(self, argv, label=None):
        """Starts a plain process (not under ckpt-run), tracked for clean-up."""
        p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.tmp)
        self.procs.append((label or os.path.basename(str(argv[0])), p))
        return p

    # -- applications
    def _streams(self, tag, capture):
        """stdout/stderr arguments for Popen and the files they end up in."""
        out, err = self.path(tag + '.out'), self.path(tag + '.err')
        if capture == 'file':
            return open(out, 'wb'), open(err, 'wb'), out, err
        if capture == 'pipe':
            return subprocess.PIPE, subprocess.PIPE, out, err
        raise ValueError(capture)

    def _popen(self, argv, tag, capture, user=None, stdin=None):
        stdout, stderr, out, err = self._streams(tag, capture)
        argv = [str(a) for a in argv]
        self.log(f'{tag}: ' + ('' if user is None else f'(as user {user}) ') + ' '.join(argv))
        try:
            popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else stdin,
                                     stdout=stdout, stderr=stderr,
                                     cwd=self.tmp, **user_popen_args(user))
        finally:
            if capture == 'file':
                stdout.close()
                stderr.close()
        pumps = []
        if capture == 'pipe':
            pumps = [Pump(popen.stdout, out), Pump(popen.stderr, err)]
        return popen, out, err, pumps

    def launch(self, argv, tag=None, capture='file', images=None, options=(), user=None, prefix=(), stdin=None):
        """Starts `ckpt-run --images DIR --pid-file F [options] ARGV...`.

        capture='file': stdout/stderr are regular files TAG.out/TAG.err (not
        O_APPEND); capture='pipe': they are pipes copied into those files.
        user: run it as that user (the test directory must be writable by
        it); prefix: a command that runs ckpt-run (e.g. a wrapper that
        changes its namespaces and then execs it); stdin: a file
        descriptor for its standard input (default /dev/null), e.g. a
        pseudo-terminal."""
        tag = tag or self._tag('launch')
        images = images or self.path(tag + '-images')
        pid_file = self.path(tag + '.pid')
        popen, out, err, pumps = self._popen(
            [*prefix, self.env.ckpt_run, '--images', images, '--pid-file', pid_file, *options, *argv], tag, capture,
            user=user, stdin=stdin)
        app = App(self, tag, 'launch', popen, capture, pid_file, out, err, out, err)
        app.pumps = pumps
        app.images = images
        self.apps.append(app)
        return app

    def restore(self, image, continues=None, tag=None, capture='file', options=(), user=None, prefix=(), stdin=None):
        """Starts `ckpt-run --pid-file F [options] --restore IMAGE` in the background.

        continues: the App whose image this is. If its streams were regular
        files, the restored application writes to them again, so the returned
        App reads its output there. user, prefix, stdin: as for launch()."""
        image = image.path if isinstance(image, Image) else image
        tag = tag or self._tag('restore')
        pid_file = self.path(tag + '.pid')
        popen, out, err, pumps = self._popen(
            [*prefix, self.env.ckpt_run, '--pid-file', pid_file, *options, '--restore', image], tag, capture,
            user=user, stdin=stdin)
        app_out, app_err = out, err
        if continues is not None and continues.capture == 'file':
            app_out, app_err = continues.out_path, continues.err_path
        app = App(self, tag, 'restore', popen, capture, pid_file, app_out, app_err, out, err, image)
        app.pumps = pumps
        self.apps.append(app)
        return app

    def checkpoint(self, app, timeout=60, user=None):
        """`ckpt-run --checkpoint PID` (as `user` if given): must exit 0 and
        print the absolute path of a complete image as its last stdout line."""
        check(app.pid is not None, f'{app.tag}: checkpoint before wait_ready()')
        res = self.ckpt('--checkpoint', app.pid, timeout=timeout, user=user)
        if res.rc != 0:
            raise TestFailure(f'{app.tag}: checkpoint failed: ' + res.describe())
        lines = [l for l in res.out.splitlines() if l.strip()]
        check(lines, f'{app.tag}: --checkpoint printed no image path: ' + res.describe())
        path = lines[-1].strip()
        check(os.path.isabs(path), f'{app.tag}: --checkpoint printed {path!r}, not an absolute path')
        check(os.path.isfile(path), f'{app.tag}: --checkpoint printed {path!r}, which is not a file')
        img = Image(path, res.seconds, os.path.getsize(path))
        self.log(f'{app.tag}: checkpoint {path} ({img.size} bytes, {img.seconds:.3f} s)')
        return img

    def send(self, app, sig):
        """Sends a signal to the application (not to a recycled pid)."""
        check(app.ref is not None and app.ref.signal(sig),
              f'{app.tag}: cannot send signal {sig}: pid {app.pid} is gone')

    def kill9(self, app, timeout=15):
        """kill -9 the application, reap what is ours, and wait until its pid
        is free (/proc/PID gone), so that it can be restored under that pid."""
        check(app.ref is not None, f'{app.tag}: kill9 before wait_ready()')
        check(app.ref.signal(signal.SIGKILL), f'{app.tag}: pid {app.pid} already gone before kill -9')
        self.log(f'{app.tag}: kill -9 {app.pid}')
        # Either ckpt-run *is* the app (launch) or it waits for it (restore):
        # in both cases it must end now.
        rc = app.wait_exit(timeout)
        if app.kind == 'restore':
            check(rc in (-signal.SIGKILL, 128 + signal.SIGKILL),
                  f'{app.tag}: ckpt-run --restore exited {rc} after its app was killed with SIGKILL '
                  f'(expected the app\'s status: killed by signal 9)')
        self.wait_gone(app.pid, timeout)

    def wait_gone(self, pid, timeout=15):
        """Waits until /proc/PID vanishes, reaping it if it is our orphan."""
        def gone():
            self.reap_orphans()
            return not pid_exists(pid)
        wait_until(gone, timeout, f'pid {pid} to vanish from /proc')

    # -- descendants
    def _popen_pids(self):
        """Pids of our Popen children that are not reaped yet. (A restored
        application reuses the pid of a launch whose Popen is long reaped.)"""
        popens = [a.popen for a in self.apps] + [p for _, p in self.procs]
        return {p.pid for p in popens if p.poll() is None}

    def children(self):
        """Live (non-zombie) direct children, orphans re-parented to us included."""
        me, kids = os.getpid(), []
        for name in os.listdir('/proc'):
            if name.isdigit():
                st = proc_stat(int(name))
                if st and st[1] == me and st[0] not in 'ZX':
                    kids.append(int(name))
        return kids

    def reap_orphans(self):
        """Reaps zombie children that no Popen owns (orphans re-parented to us)."""
        owned = self._popen_pids()
        me = os.getpid()
        for name in os.listdir('/proc'):
            if not name.isdigit() or int(name) in owned:
                continue
            st = proc_stat(int(name))
            if st and st[1] == me and st[0] == 'Z':
                try:
                    os.waitpid(int(name), os.WNOHANG)
                except ChildProcessError:
                    pass

    def describe_child(self, pid):
        try:
            with open(f'/proc/{pid}/cmdline', 'rb') as f:
                cmd = f.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
        except OSError:
            cmd = '?'
        return f'pid {pid} ({cmd})'

    # -- the end
    def report(self):
        """Diagnostics printed when the test fails."""
        for app in self.apps:
            print(app.describe(), flush=True)
        for label, p in self.procs:
            print(f'--- process {label} pid {p.pid}: '
                  f'{"running" if p.poll() is None else "exited " + str(p.returncode)}', flush=True)
        for pid in self.children():
            print(f'--- still running: {self.describe_child(pid)}', flush=True)

    def cleanup(self, passed):
        """Kills what the test started and is still alive, only by tracked
        pid (with start time) or as our own child; removes the temporary
        directory if the test passed."""
        for app in self.apps:
            killed_app = False
            if app.ref is not None and app.ref.alive():
                self.log(f'clean-up: kill -9 {app.tag} app pid {app.pid}')
                killed_app = app.ref.signal(signal.SIGKILL)
            if app.popen.poll() is None and not (app.kind == 'launch' and killed_app):
                self.log(f'clean-up: kill -9 {app.tag} ckpt-run pid {app.popen.pid}')
                app.popen.kill()
        for label, p in self.procs:
            if p.poll() is None:
                self.log(f'clean-up: kill -9 {label} pid {p.pid}')
                p.kill()
        for app in self.apps:
            try:
                app.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.log(f'clean-up: {app.tag} ckpt-run pid {app.popen.pid} did not die')
        for _, p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
        # Orphans re-parented to us (we are a subreaper): only descendants of
        # this test can be here.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.reap_orphans()
            kids = [k for k in self.children() if k not in self._popen_pids()]
            if not kids:
                break
            for k in kids:
                self.log(f'clean-up: kill -9 left-over {self.describe_child(k)}')
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for app in self.apps:
            for p in app.pumps:
                p.join(2)
        if passed and not os.environ.get('CKPT_TEST_KEEP'):
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.log(f'kept {self.tmp}')


# ------------------------------------------------------- workload outputs

MEMWALK_LINE = re.compile(r'^(iter \d+|final) ')


def memwalk_lines(text):
    """memwalk's `iter`/`final` lines without their `t=` timestamps, as a
    sorted list of unique lines. A restored run may repeat lines printed
    between the checkpoint and the kill, hence the set."""
    out = set()
    for line in text.splitlines():
        if MEMWALK_LINE.match(line):
            out.add(re.sub(r' t=\d+', '', line).strip())
    return sorted(out)


def memwalk_final(lines):
    finals = [l for l in lines if l.startswith('final ')]
    return finals[0] if len(finals) == 1 else None


def max_iter(text):
    """The highest `iter N` printed so far (-1 if none)."""
    return max((int(m) for m in re.findall(r'^iter (\d+) ', text, re.M)), default=-1)


def check_memwalk_matches(actual_text, ref_lines, what):
    """The restored output's iter/final lines equal the undisturbed run's and
    contain exactly one final line."""
    lines = memwalk_lines(actual_text)
    check(memwalk_final(ref_lines), 'the reference memwalk run printed no final line')
    check(memwalk_final(lines) is not None,
          f'{what}: no single final line (last lines: {actual_text.splitlines()[-3:]})')
    check_same_lines(lines, ref_lines, f'{what}: memwalk iter/final lines vs. the undisturbed run')


def main(argv=None):
    """Command line of ckpt_test.py: run one registered test."""
    ap = argparse.ArgumentParser(description='Run one libckpt integration test.')
    ap.add_argument('--build', help='meson build directory')
    ap.add_argument('--source', help='project source directory')
    ap.add_argument('--list', action='store_true', help='list the tests and exit')
    ap.add_argument('name', nargs='?')
    args = ap.parse_args(argv)
    if args.list:
        print('\n'.join(TESTS))
        return 0
    if not (args.build and args.source and args.name):
        ap.error('--build, --source and a test name are required')
    fn = TESTS.get(args.name)
    if fn is None:
        ap.error(f'no test named {args.name!r}; --list shows them')
    env = Env(args.build, args.source)
    if not os.access(env.ckpt_run, os.X_OK):
        print(f'FAIL: {env.ckpt_run} is not built', flush=True)
        return 1

    def on_sigterm(signum, frame):
        raise TestFailure('terminated by SIGTERM (test timeout?)')
    signal.signal(signal.SIGTERM, on_sigterm)

    t = T(env, args.name)
    status, passed = 1, False
    try:
        fn(t)
        passed, status = True, 0
        t.log(f'PASS {args.name}')
    except TestSkip as e:
        passed, status = True, 77
        t.log(f'SKIP {args.name}: {e}')
    except TestFailure as e:
        t.log(f'FAIL {args.name}: {e}')
    except Exception:
        t.log(f'FAIL {args.name}: unexpected error in the test itself:')
        traceback.print_exc()
        sys.stdout.flush()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if not passed:
            t.report()
        t.cleanup(passed)
    return status
