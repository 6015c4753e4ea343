"""Kernel resources across checkpoint, kill -9 and restore: file
descriptions shared by dups, deleted and sparse files, locks, pipes and
FIFOs, event fds, timers (absolute ones too), sockets (pairs, UDP), shared
memory (POSIX shm too), file mappings, terminals, credentials and the rights
a root restore uses on paths; real programs (sqlite3, redis-server, python3
asyncio); and what a checkpoint must refuse (seccomp, io_uring, vfork,
ptrace) or survive failing (a full disk).

Fixtures: programs/res_*.c (see each file's header comment). The
self-checking ones set up their resources, print "ready", wait for a
trigger file the test creates (after the restore) and print `check NAME
ok|FAIL details`; an undisturbed plain run (no ckpt-run) must print the same
checks, all ok."""

import hashlib
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import termios
import time

from harness import (App, ProcRef, TestFailure, TestSkip, check, check_equal, proc_stat, read_text, test,
                     user_popen_args, wait_until)
from tests_threads import check_all_ok, inspect, ready, sleep_until, status_field, touch, unprivileged_user

# ----------------------------------------------------------------- helpers


def plain(t, argv, tag, user=None, stdin=None):
    """An undisturbed run of a fixture without ckpt-run, in the background,
    stdout/stderr in TAG.out/TAG.err (stdin: /dev/null unless a file
    descriptor is given); tracked (and killed at the end) like the test's
    other applications."""
    out, err = t.path(tag + '.out'), t.path(tag + '.err')
    argv = [str(a) for a in argv]
    t.log(f'{tag}: ' + ' '.join(argv))
    with open(out, 'wb') as o, open(err, 'wb') as e:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else stdin, stdout=o, stderr=e,
                             cwd=t.tmp, **user_popen_args(user))
    app = App(t, tag, 'plain', p, 'file', t.path(tag + '.pid'), out, err, out, err)
    app.pid, app.ref = p.pid, ProcRef(p.pid)
    t.apps.append(app)
    return app


def cycle(t, app, what, downtime=None):
    """Checkpoint, kill -9, downtime() while the process is gone, restore
    with its streams as pipes; returns (image, restored App) once the
    restored process runs under its original pid."""
    img = t.checkpoint(app)
    t.kill9(app)
    if downtime:
        downtime()
    r = t.restore(img, capture='pipe')
    check_equal(ready(r), app.pid, f'pid of the restored {what}')
    return img, r


def fixture_run(t, prog, mode, restore, args=(), after_ready=None, downtime=None, before_trigger=None, user=None,
                images=None):
    """One run of a self-checking fixture: `PROG MODE DIR TRIGGER ARGS...`.

    restore=False: the undisturbed reference, a plain run; restore=True:
    under ckpt-run, checkpoint, kill -9, restore. Hooks, called with (App,
    DIR): after_ready (the original, set up), downtime (between the kill and
    the restore), before_trigger (the process about to check itself).
    Returns (the App that ran the checks, DIR) after it exited 0."""
    tag = 'cr' if restore else 'ref'
    d = t.path(tag + '-dir')
    os.mkdir(d)
    if user is not None:
        pw = user_popen_args(user)
        os.chown(d, pw['user'], pw['group'])
    trigger = t.path(tag + '-trigger')
    argv = [t.program(prog), mode, d, trigger, *args]
    if restore:
        app = t.launch(argv, capture='pipe', tag=f'{mode}-launch', user=user, images=images)
        ready(app)
    else:
        app = plain(t, argv, f'{mode}-plain', user=user)
    app.wait_output(r'^ready\b')
    if after_ready:
        after_ready(app, d)
    cur = app
    if restore:
        _, cur = cycle(t, app, f'{prog} {mode}', downtime and (lambda: downtime(app, d)))
    if before_trigger:
        before_trigger(cur, d)
    touch(trigger)
    cur.wait_output(r'^done failures=\d+$', timeout=30)
    check_equal(cur.wait_exit(30), 0, f'{cur.tag}: exit status of {prog} {mode}')
    return cur, d


def self_checked(t, prog, mode, **hooks):
    """The reference run, then the checkpoint/restore run of a fixture mode;
    the restored run's checks must all pass and match the reference's.
    Returns (restored App, its DIR)."""
    ref, _ = fixture_run(t, prog, mode, False, **hooks)
    r, d = fixture_run(t, prog, mode, True, **hooks)
    got = check_all_ok(r.output(), ref.output(), f'{prog} {mode} after the restore')
    t.log(f'{len(got)} checks passed after the restore')
    return r, d


def fd_link(pid, fd):
    try:
        return os.readlink(f'/proc/{pid}/fd/{fd}')
    except OSError as e:
        return f'<{e.strerror}>'


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def thaw_signal(t):
    """SIGTHAW's number, from `ckpt-run --help` ("default RTMIN+29 = 63")."""
    res = t.ckpt('--help', check_rc=0)
    m = re.search(r'--thaw-signal\b.*?default RTMIN\+\d+ = (\d+)', res.out, re.S)
    check(m, f'ckpt-run --help does not give the default thaw signal as "RTMIN+n = N": {res.out[:400]!r}')
    return int(m.group(1))


def free_port():
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def mono_lines(pattern, text):
    """[(seconds, match)] for the lines matching pattern, whose first group
    is a CLOCK_MONOTONIC time in ns."""
    return [(int(m.group(1)) / 1e9, m) for m in re.finditer(pattern, text, re.M)]


def check_rate(times, t0, t1, period, what, slack=0.25):
    """Events at times within [t0, t1] come at 1/period per second
    (+-slack), with no gap longer than 3 periods + 0.3 s."""
    window = [x for x in times if t0 <= x <= t1]
    check(len(window) >= 3, f'{what}: {len(window)} events between {t0:.2f} and {t1:.2f} s')
    rate = (len(window) - 1) / (window[-1] - window[0])
    gap = max(b - a for a, b in zip(window, window[1:]))
    check(abs(rate * period - 1) <= slack, f'{what}: {rate:.2f} per second, expected {1 / period:.2f} (+-{slack:.0%})')
    check(gap <= 3 * period + 0.3, f'{what}: a gap of {gap:.3f} s between two events (period {period:g} s)')
    return rate


# ------------------------------------------------------ 1-4. descriptors

FILES = 'res_files'


@test
def fd_offsets_sharing(t):
    """One open file description shared by dup, dup2 (fd 500), F_DUPFD
    (>= 300) and F_DUPFD_CLOEXEC (>= 200), plus an independent open at fd
    450 and an O_APPEND log at fd 400: after the restore the fd numbers,
    offsets, close-on-exec and status flags are the same, a write through
    one dup moves the others and not the independent open, and the log
    appends after a line another process added while the app was down."""
    def outside(app, d):
        shared, log = os.path.join(d, 'shared.dat'), os.path.join(d, 'append.log')
        want = {3: shared, 4: shared, 200: shared, 300: shared, 500: shared, 450: shared, 400: log}
        links = {fd: fd_link(app.pid, fd) for fd in want}
        check_equal(links, want, f'{app.tag}: /proc/PID/fd links seen from outside')

    def append_line(app, d):
        with open(os.path.join(d, 'append.log'), 'a') as f:
            f.write('test-line\n')

    ref_hooks = {'before_trigger': lambda app, d: (outside(app, d), append_line(app, d))}
    ref, _ = fixture_run(t, FILES, 'files', False, **ref_hooks)
    r, d = fixture_run(t, FILES, 'files', True, downtime=append_line, before_trigger=outside)
    check_all_ok(r.output(), ref.output(), 'res_files files after the restore')
    check_equal(read_text(os.path.join(d, 'append.log')), 'app-1\ntest-line\napp-2\n',
                'append.log: the app\'s line before the checkpoint, ours while it was down, its line after the restore')


@test
def deleted_open_file(t):
    """A file unlinked while open (12411 bytes, offset 5000): after the
    restore the fd reads the same bytes from the same offset, has link
    count 0, /proc shows it "(deleted)" and the name does not come back."""
    def outside(app, d):
        link = fd_link(app.pid, 3)
        check(link.endswith(' (deleted)'), f'{app.tag}: /proc/{app.pid}/fd/3 -> {link!r}, expected a deleted file')
        check(not os.path.exists(os.path.join(d, 'deleted.dat')), f'{app.tag}: deleted.dat exists again')
        t.log(f'{app.tag}: fd 3 -> {link}')

    self_checked(t, FILES, 'deleted', before_trigger=outside)


@test
def sparse_deleted_file(t):
    """A deleted 1 GiB file with three short strings and holes elsewhere,
    and a 256 MiB memfd with two: the image holds only their data (it is
    small), the restored file and memfd have their sizes, contents and
    offsets and are still sparse, and the restore never held them in
    memory (the restored process's peak RSS, which includes the restore,
    stays under 256 MiB)."""
    def small_image(app, d):
        if app.kind != 'restore':
            return
        size = os.path.getsize(app.image)
        t.log(f'image {app.image}: {size} bytes')
        check(size < 8 << 20, f'the image of a process with a sparse 1 GiB file and 256 MiB memfd takes {size} bytes')

    self_checked(t, FILES, 'sparse', before_trigger=small_image)


@test
def fds_above_nofile_limit(t):
    """Descriptors at 500 and 700 opened before the process lowered its
    RLIMIT_NOFILE to 100/200: the restore puts them back, and the limit
    (set only once they are in place) is the app's and enforced."""
    self_checked(t, FILES, 'nofile')


LOCK_PROBE = r'''
import fcntl, os, struct, sys
d = sys.argv[1]
def probe(name, take):
    fd = os.open(os.path.join(d, name), os.O_RDWR)
    try:
        take(fd)
        return 'free'
    except OSError:
        return 'busy'
    finally:
        os.close(fd)
ofd = struct.pack('hhqqi4x', fcntl.F_WRLCK, 0, 0, 50, 0)  # struct flock: write lock on bytes 0..49
print('posix=' + probe('posix.lock', lambda fd: fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 100)),
      'flock=' + probe('flock.lock', lambda fd: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)),
      'ofd=' + probe('ofd.lock', lambda fd: fcntl.fcntl(fd, fcntl.F_OFD_SETLK, ofd)))
'''


def probe_locks(t, d, expect, when):
    """Another process tries to take the three locks (non-blocking)."""
    res = t.run([sys.executable, '-c', LOCK_PROBE, d], timeout=30, check_rc=0)
    want = ' '.join(f'{k}={expect}' for k in ('posix', 'flock', 'ofd'))
    t.log(f'lock probe {when}: {res.out.strip()}')
    check_equal(res.out.strip(), want, f'another process taking the locks {when}')


@test
def locks_held(t):
    """A POSIX write lock (bytes 100..199), an exclusive flock and an OFD
    write lock (bytes 0..49), each on its own file, held at the checkpoint:
    free while the process is dead, held again after the restore (another
    process cannot take any), and the restored app can release them (then
    another process can)."""
    def release(app, d):
        """Before the checks: still held; the app checks and releases them
        after TRIGGER, then waits for TRIGGER.2."""
        trigger = t.path(('cr' if app.kind == 'restore' else 'ref') + '-trigger')
        probe_locks(t, d, 'busy', f'from {app.tag}, before its checks')
        touch(trigger)
        app.wait_output(r'^released$')
        probe_locks(t, d, 'free', f'after {app.tag} released them')
        touch(trigger + '.2')

    self_checked(t, FILES, 'locks',
                 after_ready=lambda app, d: probe_locks(t, d, 'busy', 'before the checkpoint'),
                 downtime=lambda app, d: probe_locks(t, d, 'free', 'while the process is dead'),
                 before_trigger=release)


@test
def pipe_fifo_data(t):
    """Unread data in a pipe (3000 bytes) and in a pipe enlarged to 256 KiB
    (200000 bytes, O_NONBLOCK), and in a FIFO, all written before the
    checkpoint, are read after the restore; the FIFO is the one at its
    path: a line written there after the restore by the test follows."""
    def write_fifo(app, d):
        try:
            fd = os.open(os.path.join(d, 'fifo'), os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            raise TestFailure(f'{app.tag}: cannot open the FIFO for writing ({e}): nobody has it open for reading')
        os.write(fd, b'from-test\n')
        os.close(fd)

    self_checked(t, FILES, 'pipes', before_trigger=write_fifo)


# ------------------------------------------------------- 5. event loop

TICK = r'^tick mono=(\d+) reads=(\d+) exp=(\d+) total=(\d+) events=(\d+)$'


@test
def eventfd_timerfd_epoll(t):
    """An epoll loop over a 100 ms timerfd and an eventfd (written once per
    tick): after the restore it keeps ticking at the same period from the
    checkpointed counts, with no burst of expirations for the time the
    process was dead and no stall; a pending eventfd value, the epoll
    interest list and its data tags survive."""
    period = 0.1
    prog = t.program('res_events')
    ref_trigger = t.path('ref-trigger')
    ref = plain(t, [prog, 'epoll', ref_trigger, '100'], 'epoll-plain')
    ref.wait_output(r'^tick .* reads=5 ')
    touch(ref_trigger)
    check_equal(ref.wait_exit(15), 0, 'exit status of the undisturbed res_events epoll')

    trigger = t.path('trigger')
    app = t.launch([prog, 'epoll', trigger, '100'], capture='pipe')
    ready(app)
    t_ready = int(app.wait_output(r'^ready mono=(\d+)').group(1)) / 1e9
    sleep_until(t_ready + 2.0)
    before = mono_lines(TICK, app.output())
    check_rate([s for s, _ in before], t_ready, t_ready + 2.0, period, 'undisturbed timerfd ticks')
    c0 = time.monotonic()
    _, r = cycle(t, app, 'epoll loop', downtime=lambda: time.sleep(1.5))
    r1 = time.monotonic()
    time.sleep(3.0)
    after = mono_lines(TICK, r.output())
    check(after, f'the restored loop printed no tick: {r.output()[-300:]!r}')
    last = [m for s, m in before if s < c0][-1]
    first = after[0][1]
    t.log(f'last tick before the checkpoint: {last.group(0)}; first after the restore: {first.group(0)} '
          f'({after[0][0] - r1:+.3f} s after the restore was ready)')
    check(int(first.group(4)) >= int(last.group(4)) and int(first.group(2)) >= int(last.group(2)),
          f'the counters went back: {first.group(0)!r} after {last.group(0)!r}')
    check(after[0][0] - r1 <= period + 0.5,
          f'first tick {after[0][0] - r1:.3f} s after the restore was ready (period {period} s): a stall')
    burst = [m.group(0) for _, m in after if int(m.group(3)) > 3]
    check(not burst, f'timerfd reads after the restore with more than 3 expirations (a burst for the time the '
                     f'process was dead): {burst[:3]}')
    check_rate([s for s, _ in after], r1, time.monotonic(), period, 'restored timerfd ticks')
    touch(trigger)
    r.wait_output(r'^done failures=')
    check_all_ok(r.output(), ref.output(), 'res_events epoll after the restore')
    check_equal(r.wait_exit(15), 0, 'exit status of the restored res_events epoll')


def events_checked(t, mode, arg):
    """res_events MODE TRIGGER ARG: an undisturbed run, then one
    checkpointed, killed and restored before TRIGGER; the restored run's
    checks all pass and match the undisturbed run's."""
    prog = t.program('res_events')
    ref_trigger = t.path('ref-trigger')
    ref = plain(t, [prog, mode, ref_trigger, arg], f'{mode}-plain')
    ref.wait_output(r'^ready')
    touch(ref_trigger)
    check_equal(ref.wait_exit(15), 0, f'exit status of the undisturbed res_events {mode}')
    trigger = t.path('trigger')
    app = t.launch([prog, mode, trigger, arg], capture='pipe')
    ready(app)
    app.wait_output(r'^ready')
    _, r = cycle(t, app, f'res_events {mode}')
    touch(trigger)
    r.wait_output(r'^done failures=')
    check_equal(r.wait_exit(15), 0, f'exit status of the restored res_events {mode}')
    return check_all_ok(r.output(), ref.output(), f'res_events {mode} after the restore')


@test
def eventfd_64bit_count(t):
    """An eventfd holding 0x100000005 (more than 32 bits) and an
    EFD_SEMAPHORE one holding 3 keep their counts."""
    events_checked(t, 'eventfd64', 0)


ABS_DELAY = 5.0


@test
def absolute_timers(t):
    """Timers set for an absolute time keep it: a CLOCK_MONOTONIC timerfd
    set with TFD_TIMER_ABSTIME and a POSIX timer set with TIMER_ABSTIME, 5 s
    ahead, checkpointed after 0.5 s, killed and restored 1.5 s later, fire
    at their original deadline (not 4.5 s after the restore); CLOCK_REALTIME
    ones keep their deadline (and the timerfd TFD_TIMER_CANCEL_ON_SET)."""
    prog = t.program('res_events')
    ref_trigger = t.path('ref-trigger')
    ref = plain(t, [prog, 'abstime', ref_trigger, 1000], 'abstime-plain')
    ref.wait_output(r'^fired timerfd ')
    ref.wait_output(r'^fired posix ')
    touch(ref_trigger)
    check_equal(ref.wait_exit(15), 0, 'exit status of the undisturbed res_events abstime')

    trigger = t.path('trigger')
    app = t.launch([prog, 'abstime', trigger, int(ABS_DELAY * 1000)], capture='pipe')
    ready(app)
    m = app.wait_output(r'^ready mono=(\d+) deadline=(\d+)$')
    deadline = int(m.group(2)) / 1e9
    sleep_until(int(m.group(1)) / 1e9 + 0.5)
    _, r = cycle(t, app, 'res_events abstime', downtime=lambda: time.sleep(1.5))
    restored = time.monotonic()
    check(restored < deadline - 0.5, f'the restore ended {restored - deadline:+.2f} s from the deadline: too late '
                                     f'to tell an absolute timer from a relative one (machine too slow?)')
    fired = {}
    for what in ('timerfd', 'posix'):
        fired[what] = int(r.wait_output(rf'^fired {what} mono=(\d+)$', timeout=15).group(1)) / 1e9
        t.log(f'{what}: deadline {deadline:.3f}, restored {restored:.3f}, fired {fired[what]:.3f} '
              f'({fired[what] - deadline:+.3f} s from the deadline)')
        check(deadline - 0.01 <= fired[what] <= deadline + 0.5,
              f'the absolute {what} fired {fired[what] - deadline:+.3f} s from its deadline (expected within 0.5 s; '
              f'a relative restore fires about {ABS_DELAY - 0.5 - (deadline - restored):.1f} s late)')
    touch(trigger)
    r.wait_output(r'^done failures=')
    check_equal(r.wait_exit(15), 0, 'exit status of the restored res_events abstime')
    check_all_ok(r.output(), ref.output(), 'res_events abstime after the restore')


# ---------------------------------------------------------- 6. sockets


def ping(t, port, n, timeout=10):
    """Connects to 127.0.0.1:port, sends "ping n", returns (socket, reply line)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    s.sendall(f'ping {n}\n'.encode())
    reply = b''
    while not reply.endswith(b'\n'):
        chunk = s.recv(256)
        if not chunk:
            break
        reply += chunk
    return s, reply.decode().strip()


@test
def tcp_listen_and_established(t):
    """A server listening on 127.0.0.1 with one established connection at
    the checkpoint: after the restore it gets SIGTHAW (its handler runs),
    sees the established connection closed (EOF or ECONNRESET), and accepts
    and serves a new connection on the same port."""
    thaw = thaw_signal(t)
    stop = t.path('stop')
    app = t.launch([t.program('res_net'), stop, thaw], capture='pipe')
    ready(app)
    port = int(app.wait_output(r'^listening port=(\d+)').group(1))
    conn1, reply = ping(t, port, 1)
    check_equal(reply, f'pong 1 conn=1 pid={app.pid}', 'reply on the first connection')
    app.wait_output(r'^accepted conn=1$')
    _, r = cycle(t, app, 'res_net')
    m = r.wait_output(r'^thaw value=(-?\d+) count=(\d+)$', timeout=10)
    t.log(f'SIGTHAW: {m.group(0)}')
    closed = r.wait_output(r'^closed conn=1 how=(\w+) errno=(\d+)$', timeout=10)
    check(closed.group(1) in ('eof', 'reset'),
          f'the restored established connection ended with {closed.group(0)!r}, expected EOF or ECONNRESET')
    conn1.close()
    conn2, reply = ping(t, port, 2)
    check_equal(reply, f'pong 2 conn=2 pid={app.pid}', 'reply on a connection made after the restore')
    conn2.close()
    r.wait_output(r'^closed conn=2 how=eof')
    check(not re.search(r'^thaw ', app.output(), re.M), 'SIGTHAW came before the restore (after the checkpoint?)')
    touch(stop)
    check_equal(r.wait_exit(15), 0, 'exit status of the restored res_net')
    check_equal(len(re.findall(r'^thaw ', r.output(), re.M)), 1, 'SIGTHAW deliveries after one restore')


SOCKETS = 'res_sockets'


def thaw_values(text):
    return [int(v) for v in re.findall(r'^thaw value=(-?\d+)$', text, re.M)]


@test
def socket_pairs(t):
    """AF_UNIX socket pairs inside the process (stream, datagram,
    seqpacket, one half-closed) with data queued in both directions: after
    the restore every queue reads back the same (message boundaries kept,
    end-of-file after a shutdown), the descriptors keep their numbers,
    flags and sharing, the pairs still carry data both ways, and SIGTHAW
    says no socket was restored closed."""
    thaw = thaw_signal(t)
    r, _ = self_checked(t, SOCKETS, 'pairs', args=(thaw,))
    check_equal(thaw_values(r.output()), [0], 'SIGTHAW values (sockets restored closed) after the restore')


@test
def udp_connected(t):
    """Connected UDP sockets come back bound to the same local address and
    connected to the same peer: a socket connected to another of the
    process's sockets still reaches it from the same port and gets the
    reply; one connected to the test's socket receives what the test sends
    after the restore and its answer reaches the test from the same port.
    SIGTHAW says no socket was restored closed."""
    thaw = thaw_signal(t)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(('127.0.0.1', 0))
        peer.settimeout(10)
        port = peer.getsockname()[1]
        out = {}

        def record(app, d):
            out['port'] = int(app.wait_output(r'^ready server=\d+ client=\d+ out=(\d+)$').group(1))

        def send(app, d):
            peer.sendto(b'from-test', ('127.0.0.1', out['port']))

        def answer(what):
            try:
                data, addr = peer.recvfrom(64)
            except socket.timeout:
                raise TestFailure(f'{what}: nothing reached the test\'s socket within 10 s') from None
            check_equal((data, addr), (b'from-app', ('127.0.0.1', out['port'])), f'{what}: what the test\'s socket got')

        ref, _ = fixture_run(t, SOCKETS, 'udp', False, args=(thaw, port), after_ready=record, before_trigger=send)
        answer('undisturbed run')
        r, _ = fixture_run(t, SOCKETS, 'udp', True, args=(thaw, port), after_ready=record, before_trigger=send)
        answer('restored run')
    check_all_ok(r.output(), ref.output(), 'res_sockets udp after the restore')
    check_equal(thaw_values(r.output()), [0], 'SIGTHAW values (sockets restored closed) after the restore')


ASYNCIO = r'''
import asyncio, os, sys, threading, time
trigger = sys.argv[1]
async def main():
    loop = asyncio.get_running_loop()
    print('ready', flush=True)
    while not os.path.exists(trigger):
        await asyncio.sleep(0.05)
    fut = loop.create_future()
    threading.Thread(target=lambda: loop.call_soon_threadsafe(fut.set_result, 'woken')).start()
    t0 = time.monotonic()
    try:
        r = await asyncio.wait_for(fut, 5)
    except Exception as e:
        r = repr(e)
    print(f'wakeup {r} {time.monotonic() - t0:.3f}', flush=True)
    c0 = time.process_time()
    await asyncio.sleep(2)
    print(f'idle cpu {time.process_time() - c0:.3f}', flush=True)
asyncio.run(main())
'''


@test
def asyncio_after_restore(t):
    """python3 asyncio: its event loop wakes itself through a socket pair
    (the self-pipe). After the restore, another thread's
    call_soon_threadsafe wakes the loop at once, and the loop idles in a
    2 s sleep without spinning (it spun on a self-pipe restored closed)."""
    from tests_core import python3
    script = t.path('aio.py')
    with open(script, 'w') as f:
        f.write(ASYNCIO)
    trigger = t.path('trigger')
    app = t.launch([python3(), script, trigger], capture='pipe')
    ready(app)
    app.wait_output(r'^ready$')
    time.sleep(0.3)
    _, r = cycle(t, app, 'python3 asyncio')
    time.sleep(0.5)
    touch(trigger)
    m = r.wait_output(r'^wakeup (\S+) ([\d.]+)$', timeout=15)
    check_equal(m.group(1), 'woken', 'result of call_soon_threadsafe from another thread after the restore')
    check(float(m.group(2)) < 1.0, f'the loop took {m.group(2)} s to wake up')
    cpu = float(r.wait_output(r'^idle cpu ([\d.]+)$', timeout=15).group(1))
    t.log(f'CPU time during a 2 s asyncio.sleep after the restore: {cpu:.3f} s')
    check(cpu < 0.2, f'the restored event loop used {cpu:.3f} s of CPU in a 2 s idle sleep (spinning)')
    check_equal(r.wait_exit(15), 0, 'exit status of the restored python3')


@test
def listen_port_taken(t):
    """Another process listens on the server's port while it is down: the
    restore is refused after its short wait, saying that another socket
    holds the address (the restored listener sets SO_REUSEADDR, so it is
    not the killed process's connections, even though this server did not
    set it). Once that socket is closed the same image restores and serves
    the port."""
    thaw = thaw_signal(t)
    stop = t.path('stop')
    app = t.launch([t.program('res_net'), stop, thaw, 'noreuse'], capture='pipe')
    ready(app)
    port = int(app.wait_output(r'^listening port=(\d+)').group(1))
    img = t.checkpoint(app)
    t.kill9(app)
    with socket.socket() as taker:
        taker.bind(('127.0.0.1', port))
        taker.listen(1)
        err = failed_restore(t, img, 'port taken by another socket', ['Address already in use', 'another socket'])
        check('did not set SO_REUSEADDR' not in err,
              f'the refusal blames SO_REUSEADDR, which the restore sets on listeners: {err.strip()[-300:]!r}')
    r = t.restore(img, capture='pipe')
    check_equal(ready(r), app.pid, 'pid of the restored res_net once the port is free')
    conn, reply = ping(t, port, 1)
    check_equal(reply, f'pong 1 conn=1 pid={app.pid}', 'reply from the restored server')
    conn.close()
    touch(stop)
    check_equal(r.wait_exit(15), 0, 'exit status of the restored res_net')


# ------------------------------------------------------------ 7. itimers


@test
def itimer_alarm(t):
    """A periodic ITIMER_REAL (250 ms) in one process and an alarm(6) in
    another (they share the one ITIMER_REAL of a process): after checkpoint,
    kill -9, 2 s dead and restore, the itimer keeps its period from where
    it was (no burst, no stall) and the alarm fires when its remaining time
    has passed, counted from the restore, not at its original deadline."""
    prog = t.program('res_events')
    period, alarm_s, tol = 0.25, 6, 0.75
    itrig, atrig = t.path('itimer-trigger'), t.path('alarm-trigger')
    it = t.launch([prog, 'itimer', itrig, '250'], capture='pipe', tag='itimer')
    al = t.launch([prog, 'alarm', atrig, str(alarm_s)], capture='pipe', tag='alarm')
    ready(it)
    ready(al)
    t_it = int(it.wait_output(r'^ready mono=(\d+)').group(1)) / 1e9
    t_arm = int(al.wait_output(r'^ready armed mono=(\d+)').group(1)) / 1e9
    sleep_until(max(t_it, t_arm) + 1.5)
    ticks = [s for s, _ in mono_lines(r'^tick mono=(\d+) n=\d+$', it.output())]
    check_rate(ticks, t_it, t_it + 1.5, period, 'undisturbed itimer ticks')
    c0 = time.monotonic()
    img_al = t.checkpoint(al)
    c1 = time.monotonic()
    img_it = t.checkpoint(it)
    last_n = max(int(n) for n in re.findall(r'^tick mono=\d+ n=(\d+)$', it.output(), re.M))
    t.kill9(al)
    t.kill9(it)
    time.sleep(2.0)
    r0 = time.monotonic()
    ra = t.restore(img_al, capture='pipe', tag='alarm-restore')
    check_equal(ready(ra), al.pid, 'pid of the restored alarm process')
    r1 = time.monotonic()
    ri = t.restore(img_it, capture='pipe', tag='itimer-restore')
    check_equal(ready(ri), it.pid, 'pid of the restored itimer process')
    ri1 = time.monotonic()

    fired = int(ra.wait_output(r'^alarm fired mono=(\d+)$', timeout=alarm_s + 5).group(1)) / 1e9
    lo = r0 + alarm_s - (c1 - t_arm) - tol
    hi = r1 + alarm_s - (c0 - t_arm) + tol
    t.log(f'alarm: armed {t_arm:.3f}, checkpoint {c0:.3f}..{c1:.3f}, restore {r0:.3f}..{r1:.3f}, fired {fired:.3f}, '
          f'expected {lo:.3f}..{hi:.3f}; original deadline {t_arm + alarm_s:.3f}')
    check(lo <= fired <= hi, f'alarm({alarm_s}) fired {fired - r1:+.3f} s after the restore; with its remaining time it '
                             f'should fire between {lo - r1:+.3f} and {hi - r1:+.3f} s')
    sleep_until(ri1 + 3.0)
    after = mono_lines(r'^tick mono=(\d+) n=(\d+)$', ri.output())
    check(after, 'the restored itimer process printed no tick')
    check(int(after[0][1].group(2)) >= last_n, f'itimer count went back: {after[0][1].group(0)!r} after n={last_n}')
    check(after[0][0] - ri1 <= period + tol, f'first itimer tick {after[0][0] - ri1:.3f} s after the restore '
                                             f'(period {period} s)')
    check_rate([s for s, _ in after], ri1, time.monotonic(), period, 'restored itimer ticks')
    touch(itrig)
    touch(atrig)
    for app, what in ((ri, 'itimer'), (ra, 'alarm')):
        app.wait_output(r'^done failures=')
        check_equal(app.wait_exit(15), 0, f'exit status of the restored {what} process')
        failed = re.findall(r'^check .* FAIL .*$', app.output(), re.M)
        check(not failed, f'restored {what} process: {failed}')


# ------------------------------------------------------- 8-9. memory


@test
def shared_memory_fork(t):
    """64 KiB of MAP_SHARED|MAP_ANONYMOUS memory and a sealed 64 KiB memfd
    mapping: after the restore the contents are there, the memfd's fd and
    its mapping are still one object, and a child forked after the restore
    shares both with the parent (the child writes, the parent sees)."""
    self_checked(t, FILES, 'shm')


@test
def posix_shm_mapping(t):
    """A POSIX shared memory object (/dev/shm) mapped MAP_SHARED stays that
    object after the restore: the mapping shows its path, a write the test
    makes into the file after the restore is seen by the app and the app's
    write reaches the file. One that was unlinked while mapped keeps its
    contents (a copy, as for shared anonymous memory)."""
    objects = []

    def write_shm(app, d):
        path = f'/dev/shm/ckpt-res-shm-{app.pid}'
        objects.append(path)
        check(os.path.exists(path), f'{app.tag}: {path} does not exist')
        with open(path, 'r+b') as f:
            f.seek(4096)
            f.write(b'from-test\0')

    try:
        self_checked(t, FILES, 'posixshm', before_trigger=write_shm)
        with open(objects[-1], 'rb') as f:
            f.seek(100)
            check_equal(f.read(9), b'app-after', f'{objects[-1]} at offset 100 after the restored run')
    finally:
        for path in objects:
            if os.path.exists(path):
                os.unlink(path)


@test
def private_file_mapping(t):
    """A 3-page file mapped MAP_PRIVATE, page 1 modified in memory, page 2
    read-only: after the restore the modification is there, the other
    pages hold the file's data, the protections are kept, and the file on
    disk is unchanged (also after the restored process writes page 0). A
    MAP_SHARED file mapping beside it stays shared with its file."""
    sums = {}

    def record(app, d):
        sums[d] = sha256(os.path.join(d, 'mapped.dat'))

    r, d = self_checked(t, FILES, 'mapping', after_ready=record)
    check_equal(sha256(os.path.join(d, 'mapped.dat')), sums[d], 'sha256 of mapped.dat after the restored run')


# ----------------------------------------------------------- 10. sqlite3

SQL_CREATE = """CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
  INSERT INTO t(v) SELECT printf('row-%d', x) FROM c;
SELECT 'count1', count(*) FROM t;
"""
SQL_MORE = """WITH RECURSIVE c(x) AS (SELECT 1001 UNION ALL SELECT x + 1 FROM c WHERE x < 1500)
  INSERT INTO t(v) SELECT printf('row-%d', x) FROM c;
SELECT 'count2', count(*), count(DISTINCT v) FROM t;
PRAGMA integrity_check;
SELECT 'end';
"""


SQL_TXN = """BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200)
  INSERT INTO t(v) SELECT printf('txn-%d', x) FROM c;
SELECT 'pending', count(*) FROM t;
"""


def sqlite_session(t, wal, open_txn=False):
    """sqlite3 reading its commands from a FIFO the test writes: 1000 rows
    before the checkpoint, idle while checkpointed and killed, 500 more
    after the restore; integrity_check ok and the right row count, in the
    restored process and in a separate sqlite3 afterwards. open_txn: 200
    more rows in a transaction still open at the checkpoint (sqlite3 holds
    the database's RESERVED lock): after the restore another sqlite3 can
    read the committed rows but not write, and the COMMIT lands."""
    sqlite = shutil.which('sqlite3')
    if not sqlite:
        raise TestSkip('sqlite3 is not installed (scripts/setup.sh installs it)')
    db, fifo = t.path('test.db'), t.path('sql.fifo')
    total = 1500 + (200 if open_txn else 0)

    def other(sql, what, expect_locked=False):
        """Another sqlite3 (no busy timeout) beside the one under test."""
        res = t.run([sqlite, db, sql], timeout=30)
        if expect_locked:
            check(res.rc != 0 and 'locked' in res.err, f'{what}: expected "database is locked": ' + res.describe())
        else:
            check(res.rc == 0, f'{what}: ' + res.describe())
        return res.out.strip()

    os.mkfifo(fifo)
    wfd = os.open(fifo, os.O_RDWR)  # a writer for the whole test: sqlite3 never sees EOF until we close it
    try:
        # sh redirects stdin from the FIFO, then execs ckpt-run (which execs sqlite3).
        app = t.launch([sqlite, '-batch', db], capture='pipe', prefix=['sh', '-c', 'exec "$@" < "$0"', fifo])
        ready(app)
        if wal:
            os.write(wfd, b"PRAGMA journal_mode=WAL;\n")
            app.wait_output(r'^wal$')
        os.write(wfd, SQL_CREATE.encode())
        app.wait_output(r'^count1\|1000$')
        check_equal(other('SELECT count(*) FROM t;', 'reading beside sqlite3'), '1000',
                    'rows seen by another sqlite3 before the checkpoint')
        if open_txn:
            os.write(wfd, SQL_TXN.encode())
            app.wait_output(r'^pending\|1200$')
            other("INSERT INTO t(v) VALUES('intruder');", 'writing beside an open transaction', expect_locked=True)
        time.sleep(0.3)  # idle: blocked reading the FIFO
        _, r = cycle(t, app, 'sqlite3')
        check_equal(other('SELECT count(*) FROM t;', 'reading beside the restored sqlite3'), '1000',
                    'committed rows seen by another sqlite3 after the restore')
        if open_txn:
            other("INSERT INTO t(v) VALUES('intruder');", 'writing beside the restored open transaction',
                  expect_locked=True)
            os.write(wfd, b"COMMIT;\nSELECT 'committed', count(*) FROM t;\n")
            r.wait_output(r'^committed\|1200$', timeout=30)
        os.write(wfd, SQL_MORE.encode())
        r.wait_output(r'^end$', timeout=30)
        out = r.output()
        check(re.search(rf'^count2\|{total}\|{total}$', out, re.M),
              f'the restored sqlite3 did not count {total} distinct rows: {out[-400:]!r}')
        check(re.search(r'^ok$', out, re.M), f'PRAGMA integrity_check in the restored sqlite3: {out[-400:]!r}')
        check('Error' not in out + read_text(r.err_path), f'the restored sqlite3 reported an error: '
                                                           f'{(out + read_text(r.err_path))[-400:]!r}')
    finally:
        os.close(wfd)  # EOF: sqlite3 exits
    check_equal(r.wait_exit(20), 0, 'exit status of the restored sqlite3 after EOF on its input')
    check_equal(other('PRAGMA integrity_check; SELECT count(*), max(id) FROM t;', 'checking afterwards').split(),
                ['ok', f'{total}|{total}'], 'the database checked by a fresh sqlite3 afterwards')


@test
def sqlite3_cli(t):
    """The sqlite3 CLI with an open database (rollback journal): rows
    written before the checkpoint are there after the restore, more rows can
    be written, integrity_check is ok and the row count is right."""
    sqlite_session(t, wal=False)


@test
def sqlite3_cli_wal(t):
    """The same in WAL mode (a shared mapping of the -shm file and locks
    held while the database is open)."""
    sqlite_session(t, wal=True)


@test
def sqlite3_cli_open_transaction(t):
    """The sqlite3 CLI checkpointed inside a write transaction (rollback
    journal, RESERVED lock held, 200 uncommitted rows): after the restore
    another sqlite3 still cannot write, the COMMIT lands, integrity_check
    is ok and every row is there."""
    sqlite_session(t, wal=False, open_txn=True)


# ------------------------------------------------------------- 11. redis

REDIS_FILL = ("for i = 1, 300 do redis.call('SET', 'key:' .. i, 'value-' .. i) end "
              "for i = 1, 50 do redis.call('RPUSH', 'list', 'item-' .. i) end "
              "redis.call('HSET', 'hash', 'a', '1', 'b', '2') return redis.call('DBSIZE')")


@test
def redis_server(t):
    """redis-server under ckpt-run on a free loopback port (no persistence):
    keys written with redis-cli before the checkpoint are read back after
    kill -9 and restore, and new writes work."""
    server, cli = shutil.which('redis-server'), shutil.which('redis-cli')
    if not server or not cli:
        raise TestSkip('redis-server/redis-cli are not installed (scripts/setup.sh installs redis-server redis-tools)')
    port = free_port()

    def redis(*args, check_ok=True):
        res = t.run([cli, '-h', '127.0.0.1', '-p', port, *args], timeout=20)
        if check_ok:
            check(res.rc == 0, 'redis-cli failed: ' + res.describe())
        return res.out.strip()

    def wait_pong(what):
        wait_until(lambda: redis('PING', check_ok=False) == 'PONG', 20, f'redis to answer PING {what}', 0.2)

    app = t.launch([server, '--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                    '--daemonize', 'no', '--dir', t.tmp], capture='pipe')
    ready(app)
    wait_pong('after the launch')
    check_equal(redis('EVAL', REDIS_FILL, '0'), '302', 'DBSIZE after filling')
    time.sleep(0.3)
    _, r = cycle(t, app, 'redis-server')
    wait_pong('after the restore')
    check_equal(redis('DBSIZE'), '302', 'DBSIZE after the restore')
    check_equal(redis('MGET', 'key:1', 'key:150', 'key:300').split(), ['value-1', 'value-150', 'value-300'],
                'keys read back after the restore')
    check_equal(redis('LLEN', 'list'), '50', 'list length after the restore')
    check_equal(redis('LINDEX', 'list', '49'), 'item-50', 'last list item after the restore')
    check_equal(redis('HGETALL', 'hash').split(), ['a', '1', 'b', '2'], 'hash after the restore')
    check_equal(redis('SET', 'after', 'restore'), 'OK', 'SET after the restore')
    check_equal(redis('INCRBY', 'counter', '5'), '5', 'INCRBY after the restore')
    check_equal(redis('GET', 'after'), 'restore', 'GET of a key written after the restore')
    check_equal(redis('DBSIZE'), '304', 'DBSIZE after new writes')
    redis('SHUTDOWN', 'NOSAVE', check_ok=False)
    check_equal(r.wait_exit(20), 0, 'exit status of the restored redis-server after SHUTDOWN NOSAVE')


# -------------------------------------------------------- 12. refusals


def check_refused(t, mode, word):
    """A checkpoint of res_refuse MODE fails naming `word`, on the
    command's stderr and the app's; the app keeps running, leaves no image,
    and exits normally when told to."""
    prog = t.program('res_refuse')
    probe_stop = t.path('probe-stop')
    touch(probe_stop)
    res = t.run([prog, mode, probe_stop], timeout=20)
    if res.rc == 77:
        raise TestSkip(f'{mode} is not available here: {res.out.strip()}')
    check(res.rc == 0, f'plain res_refuse {mode} failed: ' + res.describe())
    stop = t.path('stop')
    app = t.launch([prog, mode, stop], capture='pipe')
    ready(app)
    app.wait_output(r'^tick 3$')
    res = t.ckpt('--checkpoint', app.pid, timeout=60)
    t.log(f'checkpoint of the {mode} process: ' + res.describe())
    check(res.rc != 0, f'the checkpoint of a process with {mode} succeeded: ' + res.describe())
    check(word in (res.err + res.out).lower(), f'the refusal does not name {word}: ' + res.describe())
    check(app.ref.alive(), f'the {mode} process died after the refused checkpoint')
    n = max(int(x) for x in re.findall(r'^tick (\d+)$', app.output(), re.M))
    app.wait_output(rf'^tick {n + 5}$', timeout=10)
    leftovers = os.listdir(app.images) if os.path.isdir(app.images) else []
    check_equal(leftovers, [], f'files in the images directory after the refused checkpoint')
    err = read_text(app.err_path)
    check(word in err.lower(), f'the app\'s stderr does not give the reason: {err[-300:]!r}')
    touch(stop)
    app.wait_output(r'^done failures=0$')
    check_equal(app.wait_exit(15), 0, f'exit status of the {mode} process')


@test
def seccomp_refused(t):
    """A process with an (allow-all) seccomp filter: the checkpoint is
    refused with a message naming seccomp and the process keeps running."""
    check_refused(t, 'seccomp', 'seccomp')


@test
def io_uring_refused(t):
    """A process with an io_uring instance (rings mapped): the checkpoint is
    refused with a message naming io_uring and the process keeps running."""
    check_refused(t, 'io_uring', 'io_uring')


@test
def io_uring_ring_without_fd(t):
    """A process whose io_uring descriptor is closed but whose rings are
    still mapped (anon_inode:[io_uring]): the checkpoint is refused naming
    io_uring and the process keeps running. Launched with
    --ignore-unsupported, the checkpoint succeeds, the image lists the
    ring as ignored, and the process restored without it keeps running."""
    check_refused(t, 'io_uring_closed', 'io_uring')
    prog = t.program('res_refuse')
    stop = t.path('stop-ignored')
    app = t.launch([prog, 'io_uring_closed', stop], capture='pipe', tag='ignored', options=['--ignore-unsupported'])
    ready(app)
    app.wait_output(r'^tick 3$')
    img = t.checkpoint(app)
    ignored = inspect(t, img).get('ignored') or []
    t.log(f'ignored: {ignored}')
    check(any('io_uring' in x for x in ignored), f'the image does not list the io_uring ring as ignored: {ignored}')
    t.kill9(app)
    r = t.restore(img, capture='pipe')
    check_equal(ready(r), app.pid, 'pid of the process restored without its io_uring ring')
    n = int(r.wait_output(r'^tick (\d+)$').group(1))
    r.wait_output(rf'^tick {n + 3}$')
    touch(stop)
    r.wait_output(r'^done failures=0$')
    check_equal(r.wait_exit(15), 0, 'exit status of the restored process')


@test
def vfork_refused(t):
    """A process blocked in vfork() cannot take the checkpoint signal:
    `ckpt-run --checkpoint` says so at once, naming the child that shares
    its memory, sends nothing (no image appears), and the process finishes
    normally once its child exits."""
    prog = t.program('res_refuse')
    stop = t.path('stop')
    app = t.launch([prog, 'vfork', stop], capture='pipe')
    ready(app)
    child = app.wait_output(r'^vfork child (\d+)$').group(1)
    res = t.ckpt('--checkpoint', app.pid, timeout=30)
    t.log('checkpoint of the process in vfork(): ' + res.describe())
    check(res.rc != 0, 'the checkpoint of a process in vfork() succeeded: ' + res.describe())
    check(res.seconds < 10, f'the refusal took {res.seconds:.1f} s')
    check('vfork' in res.err and child in res.err, 'the refusal names neither vfork() nor the child: ' + res.describe())
    touch(stop)
    app.wait_output(r'^done failures=0$')
    check_equal(app.wait_exit(15), 0, 'exit status of the process that was in vfork()')
    check_equal(os.listdir(app.images) if os.path.isdir(app.images) else [], [], 'files in the images directory')


@test
def clone_vm_child_refused(t):
    """A child process made with clone(CLONE_VM) shares the process's
    memory: `ckpt-run --checkpoint` refuses naming it, and libckpt itself,
    sent the checkpoint signal directly, refuses naming it too (on the
    app's stderr, no image); the process keeps running."""
    prog = t.program('res_refuse')
    stop = t.path('stop')
    app = t.launch([prog, 'clone_vm', stop], capture='pipe')
    ready(app)
    child = app.wait_output(r'^ready clone_vm child (\d+)$').group(1)
    res = t.ckpt('--checkpoint', app.pid, timeout=60)
    t.log('ckpt-run --checkpoint: ' + res.describe())
    check(res.rc != 0 and child in res.err and 'shares its memory' in res.err,
          'ckpt-run --checkpoint did not refuse naming the child: ' + res.describe())
    sig = int(t.ckpt('--print-signal', check_rc=0).out.strip())
    t.send(app, sig)
    wait_until(lambda: 'checkpoint failed' in read_text(app.err_path), 15, 'libckpt to report the refused checkpoint')
    err = read_text(app.err_path)
    check(child in err and 'shares the process\'s memory' in err, f'libckpt\'s refusal does not name child {child}: '
                                                                   f'{err[-300:]!r}')
    n = max(int(x) for x in re.findall(r'^tick (\d+)$', app.output(), re.M))
    app.wait_output(rf'^tick {n + 3}$', timeout=10)
    check_equal(os.listdir(app.images) if os.path.isdir(app.images) else [], [], 'files in the images directory')
    touch(stop)
    app.wait_output(r'^done failures=0$')
    check_equal(app.wait_exit(15), 0, 'exit status of the process')


@test
def ptrace_tracer_refused(t):
    """A process that traces its own child (PTRACE_SEIZE): the checkpoint
    is refused naming ptrace and the child, and the process keeps running."""
    check_refused(t, 'ptrace', 'ptrace')


@test
def checkpoint_disk_full(t):
    """Images on a 1 MiB tmpfs: a first small image fits; after the app
    grows 8 MiB of incompressible data the next checkpoint fails with a
    clear message and nonzero status, the app keeps running with its data
    intact, no partial file is left and the first image is unchanged (and
    restores)."""
    mnt = t.path('small')
    os.mkdir(mnt)
    res = t.run(['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt])
    if res.rc != 0:
        raise TestSkip('cannot mount a tmpfs here: ' + res.describe())
    try:
        checkpoint_disk_full_on(t, mnt)
    finally:
        res = t.run(['umount', mnt])
        if res.rc != 0:
            t.log('umount failed, detaching it: ' + res.describe())
            t.run(['umount', '-l', mnt])


def checkpoint_disk_full_on(t, mnt):
    prog = t.program('res_refuse')
    stop, grow = t.path('stop'), t.path('grow')
    app = t.launch([prog, 'grow', stop, grow, '8'], capture='pipe', images=mnt)
    ready(app)
    app.wait_output(r'^tick 2$')
    img1 = t.checkpoint(app)
    sum1 = sha256(img1.path)
    touch(grow)
    data_sum = app.wait_output(r'^grown sum=(\w+)$', timeout=20).group(1)
    res = t.ckpt('--checkpoint', app.pid, timeout=120)
    t.log('checkpoint on the full tmpfs: ' + res.describe())
    check(res.rc != 0, 'a checkpoint that cannot fit on the 1 MiB tmpfs succeeded: ' + res.describe())
    check(re.search(r'no space|enospc|disk full', res.err, re.I),
          'the failed checkpoint does not say the disk is full (ENOSPC): ' + res.describe())
    check(app.ref.alive(), 'the app died after the failed checkpoint')
    n = max(int(x) for x in re.findall(r'^tick (\d+)$', app.output(), re.M))
    app.wait_output(rf'^tick {n + 12}$', timeout=15)  # the data is re-summed every 10 ticks
    check('FAIL' not in app.output(), f'the app\'s data changed: {app.output()[-300:]!r}')
    check_equal(sorted(os.listdir(mnt)), [os.path.basename(img1.path)],
                'files on the tmpfs after the failed checkpoint (only the first image)')
    check_equal(sha256(img1.path), sum1, 'sha256 of the first image after the failed checkpoint')
    err = read_text(app.err_path)
    check(re.search(r'no space|enospc|disk full', err, re.I),
          f'the app\'s stderr does not give the reason of the failed checkpoint: {err[-300:]!r}')
    t.kill9(app)
    os.unlink(grow)
    r = t.restore(img1, capture='pipe')
    check_equal(ready(r), app.pid, 'pid of the process restored from the first image')
    r.wait_output(r'^tick \d+$')
    check(not re.search(r'^grown', r.output(), re.M), 'the first image holds the grown data')
    touch(stop)
    r.wait_output(r'^done failures=0$')
    check_equal(r.wait_exit(15), 0, 'exit status of the process restored from the first image')
    t.log(f'the grown data summed to {data_sum}')


# ------------------------------------------------------ 13. credentials


def status_ids(pid):
    return {k: status_field(f'/proc/{pid}/status', k) for k in ('Uid', 'Gid', 'Groups', 'CapEff')}


def credentials(t, drop):
    """Launch res_files creds as an ordinary user (drop=False) or as root
    dropping to it with supplementary groups (drop=True); root checkpoints
    and restores: the restored process has the same ids, groups and
    capabilities (every thread), not root's."""
    user, uid = unprivileged_user(t)
    check(user is not None, 'the credentials tests run as root')
    gid = user_popen_args(user)['group']
    args = (str(uid), str(gid), f'{gid},65534,100') if drop else ()
    launch_user = None if drop else user
    images = t.path('cr-images')
    os.mkdir(images, 0o700)
    os.chown(images, uid, gid)
    seen = {}

    def outside(app, d):
        ids = status_ids(app.pid)
        t.log(f'{app.tag}: {ids}')
        check_equal(ids['Uid'].split(), [str(uid)] * 4, f'{app.tag}: Uid in /proc/PID/status')
        seen.setdefault(app.kind, ids)

    def vouch_for_image(app, d):
        # The image belongs to the user who wrote it, who could have edited
        # it: root refuses the groups that user is not a member of, until an
        # administrator takes the image over.
        img = sorted(n for n in os.listdir(images) if n.endswith('.img'))[-1]
        path = os.path.join(images, img)
        check_equal(os.stat(path).st_uid, uid, 'owner of the image')
        res = t.ckpt('--check', path)
        t.log(f'--check of the user-owned image: {res.describe()}')
        check(res.rc != 0 and 'group 65534' in res.err and 'group 100' in res.err and 'claims' in res.err,
              'root would restore groups the image owner does not have: ' + res.describe())
        os.chown(path, 0, 0)

    ref, _ = fixture_run(t, FILES, 'creds', False, args=args, user=launch_user, after_ready=outside)
    r, _ = fixture_run(t, FILES, 'creds', True, args=args, user=launch_user, after_ready=outside,
                       before_trigger=outside, images=images, downtime=vouch_for_image if drop else None)
    check_equal(seen['restore'], seen['launch'], '/proc/PID/status ids of the restored process vs. the original')
    check_all_ok(r.output(), ref.output(), 'res_files creds after the restore')
    if drop:
        groups = sorted(int(g) for g in seen['restore']['Groups'].split())
        check_equal(groups, sorted({gid, 65534, 100}), 'supplementary groups of the restored process')


@test
def credentials_user(t):
    """Root restores the image of a process that ran as the ordinary user
    ckpt-test: it runs with that user's uid, gid and groups, no capabilities."""
    credentials(t, drop=False)


@test
def credentials_dropped(t):
    """Root restores the image of a process that started as root and dropped
    to ckpt-test with supplementary groups ckpt-test is not a member of: the
    image, written by ckpt-test, is refused (its owner could have forged
    them) until root owns it; then same ids, groups, capabilities and
    dumpable flag in every thread after the restore."""
    credentials(t, drop=True)


# ------------------------------------------------ 14. paths and rights

PATHS = 'res_paths'


def failed_restore(t, img, what, words):
    """A restore that must be refused: ckpt-run exits nonzero, naming each
    of `words` on stderr, and leaves no process behind."""
    r = t.restore(img, capture='pipe', tag=t._tag('refused-restore'))
    rc = r.wait_exit(60)
    err = read_text(r.launcher_err)
    t.log(f'{what}: ckpt-run --restore exited {rc}: {err.strip()[-300:]!r}')
    check(rc != 0, f'{what}: the restore succeeded')
    for w in words:
        check(w in err, f'{what}: the refusal does not say {w!r}: {err.strip()[-400:]!r}')
    check(r.read_pid_file() is None, f'{what}: the refused restore wrote a pid file')
    return err


@test
def restore_as_image_user(t):
    """Root restores an ordinary user's image with that user's rights on
    paths: after the checkpoint the user replaces a file the app had open
    for writing, then a file it had mapped shared, by a symlink to a file
    only root may read: both restores are refused (permission denied) and
    root's file is untouched. With the files back, the restore works: the
    working directory, the reopened file, the listening UNIX socket (its
    new socket file belongs to the user), the re-created deleted file
    (owned by the user) and the shared mapping all check out."""
    user, uid = unprivileged_user(t)
    check(user is not None, 'this test runs as root')
    gid = user_popen_args(user)['group']
    secret_dir = t.path('root-only')
    os.mkdir(secret_dir, 0o700)
    secret = os.path.join(secret_dir, 'secret.txt')
    with open(secret, 'w') as f:
        f.write('root secret\n')
    os.chmod(secret, 0o600)

    ref, _ = fixture_run(t, PATHS, 'user', False, user=user)
    d = t.path('cr-dir')
    os.mkdir(d)
    os.chown(d, uid, gid)
    images = t.path('cr-images')
    os.mkdir(images, 0o700)
    os.chown(images, uid, gid)
    trigger = t.path('cr-trigger')
    app = t.launch([t.program(PATHS), 'user', d, trigger], capture='pipe', user=user, images=images)
    ready(app)
    app.wait_output(r'^ready\b')
    img = t.checkpoint(app)
    t.kill9(app)

    def swap(name):
        """The user replaces DIR/name by a symlink to root's file."""
        path = os.path.join(d, name)
        os.rename(path, path + '.saved')
        os.symlink(secret, path)
        os.lchown(path, uid, gid)

    def unswap(name):
        path = os.path.join(d, name)
        os.unlink(path)
        os.rename(path + '.saved', path)

    for name in ('out.txt', 'map.dat'):
        swap(name)
        failed_restore(t, img, f'{name} replaced by a symlink to a root-only file', [name, 'Permission denied'])
        check_equal(read_text(secret), 'root secret\n', f'root\'s file after the restore with {name} swapped')
        check_equal(oct(os.stat(secret).st_mode & 0o777), oct(0o600), 'mode of root\'s file')
        unswap(name)

    r = t.restore(img, capture='pipe')
    check_equal(ready(r), app.pid, 'pid of the restored process')
    check_equal(status_field(f'/proc/{r.pid}/status', 'Uid').split(), [str(uid)] * 4, 'Uid of the restored process')
    sock = os.stat(os.path.join(d, 'sock'))
    check_equal((sock.st_uid, sock.st_gid), (uid, gid), 'owner of the UNIX socket file the restore bound')
    touch(trigger)
    r.wait_output(r'^done failures=\d+$', timeout=30)
    check_equal(r.wait_exit(30), 0, 'exit status of the restored res_paths user')
    check_all_ok(r.output(), ref.output(), 'res_paths user after the restore')
    check_equal(read_text(os.path.join(d, 'out.txt')), 'before\nafter\n', 'out.txt written before and after')
    check_equal(read_text(secret), 'root secret\n', 'root\'s file at the end')


# ---------------------------------------------------------- 15. terminals

TTY = 'res_tty'


def tty_settings(fd):
    """(ECHO, ICANON, OPOST, VMIN, VTIME) of the terminal fd."""
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    return (bool(lflag & termios.ECHO), bool(lflag & termios.ICANON), bool(oflag & termios.OPOST),
            cc[termios.VMIN][0] if isinstance(cc[termios.VMIN], bytes) else cc[termios.VMIN],
            cc[termios.VTIME][0] if isinstance(cc[termios.VTIME], bytes) else cc[termios.VTIME])


@test
def terminal_settings(t):
    """An app whose standard input is a terminal turns off echo, canonical
    mode and output processing and sets VMIN/VTIME; it is restored with its
    standard input on another (fresh) terminal: that terminal gets the
    app's settings, seen from outside and by the app itself."""
    prog = t.program(TTY)
    fds = []
    try:
        ref_master, ref_slave = pty.openpty()
        fds += [ref_master, ref_slave]
        ref = plain(t, [prog, 'termios', t.path('ref-trigger')], 'termios-plain', stdin=ref_slave)
        ref.wait_output(r'^ready$')
        touch(t.path('ref-trigger'))
        check_equal(ref.wait_exit(15), 0, 'exit status of the undisturbed res_tty termios')

        master, slave = pty.openpty()
        fds += [master, slave]
        trigger = t.path('trigger')
        app = t.launch([prog, 'termios', trigger], stdin=slave)
        ready(app)
        app.wait_output(r'^ready$')
        check_equal(tty_settings(slave), (False, False, False, 3, 7), 'settings of the app\'s terminal')
        img = t.checkpoint(app)
        t.kill9(app)

        master2, slave2 = pty.openpty()
        fds += [master2, slave2]
        check_equal(tty_settings(slave2)[:3], (True, True, True), 'a fresh terminal\'s echo, icanon, opost')
        r = t.restore(img, continues=app, stdin=slave2)
        check_equal(ready(r), app.pid, 'pid of the restored res_tty')
        check_equal(tty_settings(slave2), (False, False, False, 3, 7),
                    'settings of the restoring ckpt-run\'s terminal (echo, icanon, opost, VMIN, VTIME)')
        touch(trigger)
        r.wait_output(r'^done failures=\d+$')
        check_equal(r.wait_exit(15), 0, 'exit status of the restored res_tty termios')
        check_all_ok(app.output(), ref.output(), 'res_tty termios after the restore')
    finally:
        for fd in fds:
            os.close(fd)


# A minimal job-control shell for a pseudo-terminal: session leader with the
# terminal TTY as its controlling terminal, it runs CMD in a process group of
# its own in the foreground and logs to LOG what waitpid(WUNTRACED) reports.
# When the job stops it takes the terminal back, waits for the file LOG.fg
# and then does what `fg` does (terminal to the job, SIGCONT to its group).
JOB_SHELL = r'''
import fcntl, os, signal, sys, termios, time
tty, log_path, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
os.setsid()
fd = os.open(tty, os.O_RDWR)
fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
signal.signal(signal.SIGTTOU, signal.SIG_IGN)
log = open(log_path, 'a', buffering=1)
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os.tcsetpgrp(fd, os.getpid())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)
    for i in (0, 1, 2):
        os.dup2(fd, i)
    os.execv(cmd[0], cmd)
try:
    os.setpgid(pid, pid)
except OSError:
    pass
os.tcsetpgrp(fd, pid)
while True:
    _, status = os.waitpid(pid, os.WUNTRACED)
    if os.WIFSTOPPED(status):
        log.write(f'stopped sig={os.WSTOPSIG(status)}\n')
        os.tcsetpgrp(fd, os.getpgrp())
        while not os.path.exists(log_path + '.fg'):
            time.sleep(0.05)
        os.unlink(log_path + '.fg')
        os.tcsetpgrp(fd, pid)
        os.killpg(pid, signal.SIGCONT)
        log.write('continued\n')
    else:
        log.write(f'exited {os.waitstatus_to_exitcode(status)}\n')
        sys.exit(0)
'''


class PtyReader:
    """Collects what the programs write to a pseudo-terminal (its master)."""

    def __init__(self, master):
        self.master, self.text = master, ''

    def read(self):
        while select.select([self.master], [], [], 0)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.text += chunk.decode('utf-8', 'replace')
        return self.text

    def wait(self, pattern, timeout, what):
        rx = re.compile(pattern, re.M)
        return wait_until(lambda: rx.search(self.read().replace('\r', '')), timeout, what)

    def last_tick(self):
        ticks = re.findall(r'^tick (\d+)', self.read().replace('\r', ''), re.M)
        return int(ticks[-1]) if ticks else 0


def proc_state(pid):
    st = proc_stat(pid)
    return st[0] if st else None


@test
def ctrl_z_namespace_mode(t):
    """Ctrl-Z with a restore inside a pid namespace (the original pid is
    taken): under a job-control shell on a pseudo-terminal, Ctrl-Z stops
    the restored app, ckpt-run notices and stops too (the shell sees the job
    stopped and gets its terminal back); `fg` continues both, the app keeps
    running in the foreground and ends normally."""
    prog = t.program(TTY)
    trigger = t.path('trigger')
    app = t.launch([prog, 'ticks', trigger], capture='pipe')
    ready(app)
    app.wait_output(r'^tick 2$')
    img = t.checkpoint(app)
    t.send(app, signal.SIGSTOP)  # keeps its pid (the restore needs a namespace) and stays quiet

    master, slave = pty.openpty()
    try:
        reader = PtyReader(master)
        log, shell = t.path('job.log'), t.path('jobshell.py')
        with open(shell, 'w') as f:
            f.write(JOB_SHELL)
        r = t.restore(img, capture='pipe', prefix=[sys.executable, shell, os.ttyname(slave), log])
        os.close(slave)
        slave = -1
        hostpid = ready(r)
        check(hostpid != app.pid, f'the restore reused pid {hostpid}, which the stopped original still holds')
        check(status_field(f'/proc/{hostpid}/status', 'NSpid').split()[-1] == str(app.pid),
              f'the restored app is not pid {app.pid} in a namespace: NSpid '
              f'{status_field(f"/proc/{hostpid}/status", "NSpid")}')
        reader.wait(r'^tick \d+', 10, 'ticks of the restored app on the terminal')
        os.write(master, b'\x1a')  # Ctrl-Z
        wait_until(lambda: 'stopped' in read_text(log), 10,
                   'the job-control shell to see ckpt-run stopped after Ctrl-Z (job.log: ' + read_text(log) + ')')
        check_equal(proc_state(hostpid), 'T', 'state of the restored app after Ctrl-Z')
        time.sleep(0.5)
        n = reader.last_tick()
        check(proc_state(hostpid) == 'T' and reader.last_tick() == n, 'the app kept running while its job was stopped')
        touch(log + '.fg')
        wait_until(lambda: 'continued' in read_text(log), 10, 'the shell to continue the job')
        reader.wait(rf'^tick {n + 3}\b', 10, f'the app to tick again after fg (last tick before: {n})')
        check(proc_state(hostpid) not in (None, 'T'), f'the app is {proc_state(hostpid)} after fg')
        touch(trigger)
        reader.wait(r'^done failures=0', 10, 'the app to finish')
        check_equal(r.wait_exit(15), 0, 'exit status of the job-control shell')
        check(re.search(r'^exited 0$', read_text(log), re.M), f'ckpt-run\'s exit as the shell saw it: {read_text(log)!r}')
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    t.kill9(app)


@test
def written_files_may_change(t):
    """A file the app writes through a MAP_SHARED writable mapping is
    expected to change, like a file open for writing: the test rewrites and
    grows it while the process is dead, the restore goes ahead, and the
    restored mapping shows the file as it is now (and writes to it). A
    missing one still stops the restore, naming it; so does a missing file
    that was open for writing."""
    def rewrite(app, d):
        with open(os.path.join(d, 'written.dat'), 'r+b') as f:
            f.write(b'test: rewritten\0')
            f.seek(0, os.SEEK_END)
            f.write(b'x' * 100)

    ref, _ = fixture_run(t, PATHS, 'changed', False, before_trigger=rewrite)
    r, d = fixture_run(t, PATHS, 'changed', True, downtime=rewrite)
    check_all_ok(r.output(), ref.output(), 'res_paths changed after the restore')
    check_equal(read_text(os.path.join(d, 'written.dat'))[:10], 'app: after', 'written.dat after the restored run')
    for name in ('written.dat', 'log.txt'):
        path = os.path.join(d, name)
        os.rename(path, path + '.away')
        failed_restore(t, r.image, f'{name} missing', [name, 'No such file'])
        os.rename(path + '.away', path)
