"""Multithreaded processes: checkpoint/restart of programs with many threads
(memwalk, an allocator/stdio stress, C++ std::thread), per-thread signal
state, POSIX timers and itimers, blocking waits that must not see EINTR,
AVX-512 register state, and the restore identity modes (same pid, pid
namespace, new pid) seen from inside the restored threads.

Fixture programs (programs/*.c, *.cpp) print machine-checkable lines; the
ones that verify themselves print `check NAME ok` or `check NAME FAIL
details` once the test creates their trigger file (after the restore), and
their undisturbed run (trigger present from the start) must print the same
check lines."""

import json
import os
import pwd
import re
import signal
import stat
import time

from harness import (TestFailure, TestSkip, check, check_equal, check_memwalk_matches, max_iter,
                     memwalk_lines, read_text, test, wait_until)

# ----------------------------------------------------------------- helpers


def inspect(t, image, user=None):
    """`ckpt-run --inspect IMAGE` as JSON."""
    path = image.path if hasattr(image, 'path') else image
    res = t.ckpt('--inspect', path, check_rc=0, user=user)
    try:
        return json.loads(res.out)
    except ValueError as e:
        raise TestFailure(f'--inspect {path}: not JSON ({e}): {res.out[:300]!r}') from None


def image_threads(doc):
    """(tid, origin) of every thread in an --inspect document, main first."""
    threads = doc.get('threads')
    check(isinstance(threads, list) and threads, f'--inspect: no threads list ({str(threads)[:200]})')
    return [(th.get('tid'), th.get('origin')) for th in threads]


def check_origins(doc, expected_pthreads, what):
    """The image holds the main thread and expected_pthreads threads created
    with pthread_create (std::thread included), no unregistered one."""
    origins = sorted(o for _, o in image_threads(doc))
    expected = sorted(['main'] + ['pthread'] * expected_pthreads)
    check_equal(origins, expected, f'{what}: origins of the threads in --inspect')


def task_tids(pid):
    try:
        return {int(x) for x in os.listdir(f'/proc/{pid}/task')}
    except FileNotFoundError:
        return set()


def check_tids_restored(doc, pid, what):
    """Every thread id recorded in the image exists again in the restored
    process (same-pid and namespace modes keep the ids). In namespace mode
    `pid` is the caller's view: the ids are compared with the innermost
    NSpid of each task."""
    want = {tid for tid, _ in image_threads(doc)}
    have = set()
    for tid in task_tids(pid):
        ns = status_field(f'/proc/{pid}/task/{tid}/status', 'NSpid')
        if ns:
            have.add(int(ns.split()[-1]))
    missing = sorted(want - have)
    check(not missing, f'{what}: thread ids {missing} of the image are not threads of the restored process '
                       f'(its tasks, innermost ids: {sorted(have)})')


def status_field(path, name):
    for line in read_text(path).splitlines():
        if line.startswith(name + ':'):
            return line.split(':', 1)[1].strip()
    return None


CHECK_LINE = re.compile(r'^check (\S+) (ok|FAIL)(?: (.*))?$', re.M)


def check_results(text):
    """{NAME: (status, details)} from `check NAME ok|FAIL details` lines (the
    last line wins when a restored run printed a name again)."""
    return {m.group(1): (m.group(2), m.group(3) or '') for m in CHECK_LINE.finditer(text)}


def check_all_ok(text, ref_text, what):
    """The program's checks all passed and are the same checks as in the
    undisturbed run."""
    ref = check_results(ref_text)
    check(ref, f'the undisturbed run printed no check lines: {ref_text[-300:]!r}')
    bad_ref = {k: v for k, v in ref.items() if v[0] != 'ok'}
    check(not bad_ref, f'the undisturbed run fails its own checks (fixture or host problem): {bad_ref}')
    got = check_results(text)
    failed = [f'{k}: {v[1]}' for k, v in sorted(got.items()) if v[0] != 'ok']
    missing = sorted(set(ref) - set(got))
    extra = sorted(set(got) - set(ref))
    problems = []
    if failed:
        problems.append(f'{len(failed)} check(s) failed:\n    ' + '\n    '.join(failed))
    if missing:
        problems.append(f'{len(missing)} check(s) never reported: {missing}')
    if extra:
        problems.append(f'unexpected checks: {extra}')
    if problems:
        raise TestFailure(f'{what}: ' + '\n  '.join(problems))
    return got


def ready(app, timeout=20):
    """app.wait_ready(), with ckpt-run's last stderr lines in the failure
    (a restore that fails says why there)."""
    try:
        return app.wait_ready(timeout)
    except TestFailure as e:
        err = read_text(app.launcher_err).strip().splitlines()[-3:]
        raise TestFailure(f'{e}; its stderr: ' + (' | '.join(err) if err else '(empty)')) from None


def touch(path):
    with open(path, 'w'):
        pass


def sleep_until(deadline):
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)


# ---------------------------------------------------------- 1. memwalk


def memwalk_threads(t, nthreads):
    """memwalk with NTHREADS worker threads: two checkpoints while it runs,
    kill -9, restore from the second image: the restored run resumes after
    the second checkpoint, keeps the pid and every thread id, and its iter
    and final hashes equal an undisturbed run's."""
    mw = t.memwalk()
    args = ['32', '3', '120', str(nthreads), '20']
    ref = memwalk_lines(t.reference([mw, *args], timeout=90))

    app = t.launch([mw, *args], capture='pipe')
    app.wait_ready()
    app.wait_output(r'^iter 8 ')
    img1 = t.checkpoint(app)
    after1 = max_iter(app.output())
    app.wait_output(rf'^iter {after1 + 15} ')
    before2 = max_iter(app.output())
    img2 = t.checkpoint(app)
    time.sleep(0.2)  # lines printed before the checkpoint have reached the output file
    after2 = max_iter(app.output())
    check(img1.path != img2.path, 'the two checkpoints have the same path')
    doc = inspect(t, img2)
    check_origins(doc, nthreads, 'second image')
    check_origins(inspect(t, img1), nthreads, 'first image')
    t.kill9(app)

    r = t.restore(img2, capture='pipe')
    check_equal(ready(r), app.pid, 'pid of the restored memwalk')
    check_tids_restored(doc, r.pid, 'restored memwalk')
    check_equal(r.wait_exit(90), 0, 'exit status of the restored memwalk')
    restored = r.output()
    iters = [int(n) for n in re.findall(r'^iter (\d+) ', restored, re.M)]
    check(iters, f'the restored memwalk printed no iter line: {restored[-300:]!r}')
    check(before2 + 1 <= iters[0] <= after2 + 1,
          f'restored from the second image, memwalk resumed at iter {iters[0]}; expected the second '
          f'checkpoint\'s point (iter {before2 + 1}..{after2 + 1}; the first image is at most at iter {after1 + 1})')
    check_equal(iters, list(range(iters[0], int(args[2]))), 'iterations printed by the restored memwalk')
    check_memwalk_matches(app.output() + restored, ref, f'memwalk with {nthreads} threads restored')


@test
def memwalk_threads_4(t):
    """memwalk with 4 threads: checkpoint twice, kill -9, restore the second
    image; identical iter and final hashes."""
    memwalk_threads(t, 4)


@test
def memwalk_threads_8(t):
    """memwalk with 8 threads: checkpoint twice, kill -9, restore the second
    image; identical iter and final hashes."""
    memwalk_threads(t, 8)


# ------------------------------------------------------- 2. malloc stress

STRESS_THREADS = 8
STRESS_CHECKPOINTS = 100
STRESS_CKPT_LIMIT = 10.0   # seconds for one `ckpt-run --checkpoint`


def read_progress(path, nthreads):
    """(mono_ns, [count per thread]) from mallocstress's progress file, or
    None while it is missing or caught mid-write."""
    text = read_text(path)
    fields = text.split()
    if len(fields) != nthreads + 4 or fields[0] != 'P' or fields[-1] != 'E':
        return None
    try:
        nums = [int(x) for x in fields[1:-1]]
    except ValueError:
        return None
    mono, counts, total = nums[0], nums[1:-1], nums[-1]
    if sum(counts) != total:
        return None
    return mono, counts


def wait_progress_beyond(t, path, floor, what, timeout=10):
    """Waits until every thread's counter is above floor's; returns the
    progress read."""
    def advanced():
        p = read_progress(path, STRESS_THREADS)
        if p and all(c > f for c, f in zip(p[1], floor)):
            return p
        return None
    return wait_until(advanced, timeout, what)


@test
def malloc_stress(t):
    """8 threads hammering malloc/free/realloc/asprintf and fprintf to one
    FILE: 100 back-to-back checkpoints each finish within 10 s and every
    thread keeps progressing between them; after a kill -9 the last image
    restores and every thread progresses again from the checkpointed
    counts, with no heap corruption."""
    prog = t.program('mallocstress')
    n = str(STRESS_THREADS)
    # Undisturbed: 2 s without corruption, every thread progressing.
    res = t.run([prog, n, t.path('ref-noise.txt'), t.path('ref-progress.txt'), '2'], timeout=30)
    check(res.rc == 0 and re.search(r'^done$', res.out, re.M), 'undisturbed mallocstress run failed: ' + res.describe())
    ref_progress = read_progress(t.path('ref-progress.txt'), STRESS_THREADS)
    check(ref_progress and all(c > 0 for c in ref_progress[1]),
          f'undisturbed mallocstress: not every thread progressed: {ref_progress}')
    t.log(f'undisturbed: {sum(ref_progress[1])} operations in 2 s')

    noise, progress = t.path('noise.txt'), t.path('progress.txt')
    app = t.launch([prog, n, noise, progress, '400'], capture='pipe')
    app.wait_ready()
    app.wait_output(r'^ready ')
    prev = wait_progress_beyond(t, progress, [0] * STRESS_THREADS, 'every mallocstress thread to start counting')
    times, image = [], None
    start = time.monotonic()
    for i in range(1, STRESS_CHECKPOINTS + 1):
        before_last = prev
        img = t.checkpoint(app, timeout=STRESS_CKPT_LIMIT + 20)
        times.append(img.seconds)
        check(img.seconds <= STRESS_CKPT_LIMIT,
              f'checkpoint {i} of {STRESS_CHECKPOINTS} took {img.seconds:.2f} s (limit {STRESS_CKPT_LIMIT:g} s)')
        check(app.ref.alive(), f'mallocstress died after checkpoint {i}: {app.output()[-300:]!r}')
        if image is not None:
            os.unlink(image.path)  # keep only the newest image (disk space)
        image = img
        prev = wait_progress_beyond(t, progress, prev[1],
                                    f'every mallocstress thread to progress after checkpoint {i}')
    elapsed = time.monotonic() - start
    t.log(f'{STRESS_CHECKPOINTS} checkpoints in {elapsed:.1f} s: max {max(times):.3f} s, '
          f'mean {sum(times) / len(times):.3f} s, min {min(times):.3f} s')
    check('BAD' not in app.output(), 'mallocstress found heap corruption:\n' + app.output()[-500:])
    # Still alive and progressing a while after the last one.
    time.sleep(0.5)
    prev = wait_progress_beyond(t, progress, prev[1], 'mallocstress to progress after the last checkpoint')
    t.kill9(app)

    restore_ns = time.monotonic_ns()
    r = t.restore(image, capture='pipe')
    check_equal(ready(r), app.pid, 'pid of the restored mallocstress')

    def fresh():  # written by the restored process, not left by the killed one
        p = read_progress(progress, STRESS_THREADS)
        return p if p and p[0] > restore_ns else None
    first = wait_until(fresh, 15, 'the restored mallocstress to write its progress file')
    regressed = [k for k, (c, f) in enumerate(zip(first[1], before_last[1])) if c < f]
    check(not regressed, f'restored counters {first[1]} are below the ones read before the last checkpoint '
                         f'{before_last[1]} (threads {regressed}): not the last image\'s state')
    later = wait_progress_beyond(t, progress, first[1], 'every restored mallocstress thread to progress')
    time.sleep(1.0)
    later = wait_progress_beyond(t, progress, later[1], 'the restored mallocstress to keep progressing')
    check(r.ref.alive(), 'the restored mallocstress died')
    check('BAD' not in r.output(), 'the restored mallocstress found heap corruption:\n' + r.output()[-500:])
    t.log(f'restored: counters {first[1]} -> {later[1]}')
    t.kill9(r)
    t.log(f'max checkpoint time {max(times):.3f} s over {STRESS_CHECKPOINTS} checkpoints')


# ---------------------------------------------------------- 3. C++ threads


@test
def cxx_threads(t):
    """std::thread, std::mutex, std::condition_variable, thread_local,
    exceptions, pthread_join of a thread created before the checkpoint, an
    error-checking mutex locked before and unlocked after the restore (0),
    and getpid()/gettid() unchanged in every thread (same pid, as root)."""
    prog = t.program('cxxthreads')
    ref_trigger = t.path('ref-trigger')
    touch(ref_trigger)
    ref = t.reference([prog, ref_trigger, '30'])

    trigger = t.path('trigger')
    app = t.launch([prog, trigger, '120'])
    app.wait_ready()
    m = app.wait_output(r'^ready pid=(\d+) tid=(\d+)$')
    check_equal(int(m.group(1)), app.pid, 'getpid() printed by cxxthreads')
    img = t.checkpoint(app)
    doc = inspect(t, img)
    check_origins(doc, 6, 'cxxthreads image (3 waiters, 2 busy workers, 1 pthread)')
    t.kill9(app)

    r = t.restore(img, continues=app)
    check_equal(ready(r), app.pid, 'pid of the restored cxxthreads')
    check_tids_restored(doc, r.pid, 'restored cxxthreads')
    touch(trigger)
    rc = r.wait_exit(30)
    out = app.output()
    got = check_all_ok(out, ref, 'restored cxxthreads')
    t.log(f'{len(got)} checks passed')
    after = re.search(r'^after pid=(\d+) tid=(\d+)$', out, re.M)
    check(after, f'the restored cxxthreads printed no "after" line: {out[-300:]!r}')
    check_equal((int(after.group(1)), int(after.group(2))), (app.pid, app.pid),
                'getpid()/gettid() of the restored main thread')
    check(re.search(r'^done failures=0$', out, re.M), f'cxxthreads did not finish cleanly: {out[-300:]!r}')
    check_equal(rc, 0, 'exit status of the restored cxxthreads')


# ---------------------------------------------- 4. signal masks, altstacks

THREAD_LINE = re.compile(r'^thread (t\d) tid=(\d+) mask=([0-9a-f]{16}) ss_sp=(\w+) ss_size=(\d+) ss_flags=(-?\d+)$',
                         re.M)


def sig_bit(sig):
    return 1 << (sig - 1)


def kernel_sigblk(pid, tid):
    v = status_field(f'/proc/{pid}/task/{tid}/status', 'SigBlk')
    return int(v, 16) if v is not None else None


@test
def signal_masks_altstacks(t):
    """Per-thread signal masks and sigaltstacks (different in each thread)
    survive a checkpoint, kill -9 and restore; a thread blocking every
    signal and the application's own handler for (and block of) the
    checkpoint signal do not prevent checkpoints; sigaction reports the
    application's handler back and that handler never runs."""
    res = t.ckpt('--print-signal', check_rc=0)
    sig = int(res.out.split()[-1])
    t.log(f'SIGCKPT = {sig}')
    prog = t.program('sigmasks')
    ref_trigger = t.path('ref-trigger')
    touch(ref_trigger)
    ref = t.reference([prog, ref_trigger, str(sig), '30'])

    trigger = t.path('trigger')
    app = t.launch([prog, trigger, str(sig), '120'])
    app.wait_ready()
    app.wait_output(r'^ready pid=')
    out = app.output()
    check(re.search(r'^ckpt_handler installed=1$', out, re.M),
          f'sigaction did not report the application\'s own handler for signal {sig} back: {out[:300]!r}')
    threads = {m.group(1): m for m in THREAD_LINE.finditer(out)}
    check_equal(sorted(threads), ['t0', 't1', 't2', 't3', 't4'], 'threads reported by sigmasks')
    full = (1 << 64) - 1
    for s in (9, 19, 32, 33):  # SIGKILL, SIGSTOP and glibc's SIGCANCEL, SIGSETXID
        full &= ~sig_bit(s)
    t3_mask, t4_mask = int(threads['t3'].group(3), 16), int(threads['t4'].group(3), 16)
    check_equal(f'{t3_mask:016x}', f'{full:016x}', 'mask read back by the thread that blocked every signal')
    check(t4_mask & sig_bit(sig), f'the thread that blocked signal {sig} does not see it blocked '
                                   f'(mask {t4_mask:016x}): the block must be reported back')
    # The kernel's masks: the checkpoint signal stays deliverable everywhere.
    kernel_before = {}
    for name, m in threads.items():
        blk = kernel_sigblk(app.pid, int(m.group(2)))
        check(blk is not None, f'thread {name} (tid {m.group(2)}) not found in /proc')
        check(not blk & sig_bit(sig), f'thread {name}: the kernel mask {blk:016x} blocks the checkpoint signal {sig}')
        kernel_before[name] = blk
    cgt = int(status_field(f'/proc/{app.pid}/status', 'SigCgt'), 16)
    check(cgt & sig_bit(sig), f'signal {sig} is not caught (SigCgt {cgt:016x})')

    img1 = t.checkpoint(app)
    check(app.ref.alive(), 'sigmasks died after the first checkpoint')
    img2 = t.checkpoint(app)
    doc = inspect(t, img2)
    check_origins(doc, 4, 'sigmasks image')
    check_equal(doc.get('libckpt', {}).get('ckpt_signal'), sig,
                'checkpoint signal recorded in the image (vs. ckpt-run --print-signal)')
    t.log(f'images {img1.path} {img2.path}; altstacks in the image: ' +
          ', '.join(f'{th["tid"]}:{th.get("altstack")}' for th in doc['threads']))
    t.kill9(app)

    r = t.restore(img2, continues=app)
    check_equal(ready(r), app.pid, 'pid of the restored sigmasks')
    for name, m in threads.items():
        blk = kernel_sigblk(r.pid, int(m.group(2)))
        check(blk is not None, f'restored thread {name} (tid {m.group(2)}) not found in /proc')
        check_equal(f'{blk:016x}', f'{kernel_before[name]:016x}', f'kernel signal mask (SigBlk) of thread {name} '
                                                                   f'after the restore')
    touch(trigger)
    rc = r.wait_exit(30)
    got = check_all_ok(app.output(), ref, 'restored sigmasks')
    t.log(f'{len(got)} checks passed')
    check_equal(rc, 0, 'exit status of the restored sigmasks')


# ------------------------------------------------------------- 5. timers

COUNTS = re.compile(r'^counts mono=(\d+) thread=(\d+) signal=(\d+)$', re.M)


def counts(text):
    """[(mono seconds, thread fires, signal fires)] of timers' counts lines."""
    return [(int(a) / 1e9, int(b), int(c)) for a, b, c in COUNTS.findall(text)]


def rates(samples, t0, t1):
    """Fires per second of both timers between the samples nearest t0 and t1."""
    window = [s for s in samples if t0 <= s[0] <= t1]
    check(len(window) >= 2, f'fewer than two counts lines between {t0:.2f} and {t1:.2f}')
    a, b = window[0], window[-1]
    dt = b[0] - a[0]
    check(dt >= 1.0, f'counts window of {dt:.2f} s is too short to measure a rate')
    return (b[1] - a[1]) / dt, (b[2] - a[2]) / dt, dt


@test
def sigev_thread_timer(t):
    """A SIGEV_THREAD POSIX timer (50 ms) and a SIGEV_SIGNAL one (100 ms)
    keep firing at their rate after checkpoint, kill -9 and restore, from
    the checkpointed counts; a 5 s setitimer(ITIMER_REAL) fires after the
    restore when its remaining time has elapsed, not at its original
    deadline."""
    itimer_ms, thread_ms, signal_ms = 5000, 50, 100
    tol = 0.4  # seconds, for the itimer
    prog = t.program('timers')
    stop = t.path('stop')
    app = t.launch([prog, stop, '120', itimer_ms, thread_ms, signal_ms], capture='pipe')
    app.wait_ready()
    t_arm = int(app.wait_output(r'^armed mono=(\d+) ').group(1)) / 1e9
    sleep_until(t_arm + 1.6)
    live_thread, live_signal, live_dt = rates(counts(app.output()), t_arm + 0.2, t_arm + 1.6)
    t.log(f'undisturbed rates over {live_dt:.2f} s: SIGEV_THREAD {live_thread:.1f}/s, SIGEV_SIGNAL {live_signal:.1f}/s')
    for name, rate, period in (('SIGEV_THREAD', live_thread, thread_ms), ('SIGEV_SIGNAL', live_signal, signal_ms)):
        check(0.75 <= rate * period / 1000 <= 1.25,
              f'undisturbed {name} timer fires {rate:.1f}/s, expected {1000 / period:g}/s (host too loaded?)')

    c0 = time.monotonic()
    img = t.checkpoint(app)
    c1 = time.monotonic()
    before = [s for s in counts(app.output()) if s[0] < c0]
    check(before, 'no counts line before the checkpoint')
    doc = inspect(t, img)
    t.log(f'image timers: {doc.get("timers")}; itimers: {doc.get("itimers")}')
    check_equal(len(doc.get('timers') or []), 2, 'POSIX timers in the image (SIGEV_THREAD and SIGEV_SIGNAL)')
    real = [it for it in doc.get('itimers') or [] if it.get('which') == 0]
    check(len(real) == 1, f'the image holds no ITIMER_REAL: {doc.get("itimers")}')
    t.kill9(app)
    time.sleep(2.0)  # the restored itimer must not fire at the original deadline (t_arm + 5 s)

    r0 = time.monotonic()
    r = t.restore(img, capture='pipe')
    check_equal(ready(r), app.pid, 'pid of the restored timers program')
    r1 = time.monotonic()
    fired = int(r.wait_output(r'^alarm fired mono=(\d+)$', timeout=itimer_ms / 1000 + 5).group(1)) / 1e9
    # Remaining at the checkpoint: between these two, depending on when in
    # [c0, c1] the process was frozen; it then runs from the restore on.
    remaining_hi = itimer_ms / 1000 - (c0 - t_arm)
    remaining_lo = itimer_ms / 1000 - (c1 - t_arm)
    in_image = real[0].get('next_us', 0) / 1e6
    check(remaining_lo - 0.1 <= in_image <= remaining_hi + 0.1,
          f'the image records {in_image:.3f} s remaining on ITIMER_REAL; expected {remaining_lo:.3f}..{remaining_hi:.3f}')
    lo, hi = r0 + remaining_lo - tol, r1 + remaining_hi + tol
    t.log(f'itimer: armed {t_arm:.3f}, checkpoint {c0:.3f}..{c1:.3f}, restore {r0:.3f}..{r1:.3f}, fired {fired:.3f}; '
          f'expected {lo + tol:.3f}..{hi - tol:.3f} (+-{tol} s); original deadline {t_arm + itimer_ms / 1000:.3f}')
    check(lo <= fired <= hi,
          f'ITIMER_REAL fired {fired - r1:+.3f} s after the restore was ready; with '
          f'{remaining_lo:.2f}..{remaining_hi:.2f} s remaining at the checkpoint it should fire between '
          f'{lo - r1:+.3f} and {hi - r1:+.3f} s (original deadline: {t_arm + itimer_ms / 1000 - r1:+.3f} s)')

    # Let the timers run a while longer after the alarm, then measure.
    sleep_until(max(fired, r1 + 3.0) + 0.3)
    samples = counts(r.output())
    check(samples, f'the restored program printed no counts: {r.output()[-300:]!r}')
    last_before = before[-1]
    check(samples[0][1] >= last_before[1] and samples[0][2] >= last_before[2],
          f'restored counters {samples[0][1:]} are below the ones printed before the checkpoint {last_before[1:]}: '
          f'the timers restarted from zero')
    thr, sig, dt = rates(samples, r1 + 0.3, time.monotonic())
    t.log(f'restored rates over {dt:.2f} s: SIGEV_THREAD {thr:.1f}/s, SIGEV_SIGNAL {sig:.1f}/s')
    for name, rate, live, period in (('SIGEV_THREAD', thr, live_thread, thread_ms),
                                     ('SIGEV_SIGNAL', sig, live_signal, signal_ms)):
        check(0.75 <= rate * period / 1000 <= 1.25 and 0.75 <= rate / live <= 1.33,
              f'after the restore the {name} timer fires {rate:.1f}/s; expected {1000 / period:g}/s '
              f'(undisturbed: {live:.1f}/s)')
    touch(stop)
    check_equal(r.wait_exit(10), 0, 'exit status of the restored timers program')
    done = re.search(r'^done thread=(\d+) signal=(\d+) alarms=(\d+)$', r.output(), re.M)
    check(done, f'the restored program did not print its done line: {r.output()[-300:]!r}')
    check_equal(int(done.group(3)), 1, 'SIGALRM count of the restored program')


# -------------------------------------------------------------- 6. waits

WAIT_LINE = re.compile(r'^wait (\S+) timeout_ms=(\d+) rc=(-?\d+) errno=(\d+) start=(\d+) end=(\d+) elapsed_ms=\d+ '
                       r'info=(\S+)$', re.M)
WAIT_NAMES = ['nanosleep', 'clock_nanosleep', 'poll', 'poll_nofds', 'select', 'select_nofds', 'epoll_wait',
              'sem_timedwait', 'sigtimedwait']
# What each wait returns when its timeout expires (rc, errno).
WAIT_RESULTS = {'nanosleep': (0, 0), 'clock_nanosleep': (0, 0), 'poll': (0, 0), 'poll_nofds': (0, 0),
                'select': (0, 0), 'select_nofds': (0, 0), 'epoll_wait': (0, 0), 'sem_timedwait': (-1, 110),
                'sigtimedwait': (-1, 11)}
WAIT_TOLERANCE = 0.3  # seconds around each deadline
EINTR, EBADF, POLLNVAL = 4, 9, 0x20


def waits(text, what):
    """{name: (timeout s, rc, errno, start s, end s, info)} of waits' lines."""
    got = {m.group(1): (int(m.group(2)) / 1000, int(m.group(3)), int(m.group(4)), int(m.group(5)) / 1e9,
                        int(m.group(6)) / 1e9, m.group(7)) for m in WAIT_LINE.finditer(text)}
    check_equal(sorted(got), sorted(WAIT_NAMES), f'{what}: waits reported')
    return got


def check_wait_results(got, ref, what, restore_err=''):
    """Every wait returned what it returns undisturbed (its timeout). The
    message says which failures are EINTR and which come from an fd (the
    pipe, the epoll set) that did not survive the restore."""
    bad = []
    for name in WAIT_NAMES:
        rc, err, info = got[name][1], got[name][2], got[name][5]
        if (rc, err) == ref[name][1:3]:
            continue
        why = ''
        if err == EINTR:
            why = ' (EINTR: the checkpoint interrupted the wait)'
        elif err == EBADF or (info not in ('-', '0') and int(info, 16) & POLLNVAL):
            why = (' (EBADF' + (f'; POLLNVAL in revents {info}' if info != '-' else '') +
                   ': its fd is not open after the restore)')
        bad.append(f'{name} returned rc={rc} errno={err}, undisturbed rc={ref[name][1]} errno={ref[name][2]}{why}')
    if bad:
        notes = [l for l in restore_err.splitlines() if 'not restored' in l]
        raise TestFailure(f'{what}:\n  ' + '\n  '.join(bad) +
                          ('\n  ckpt-run --restore said:\n    ' + '\n    '.join(notes) if notes else ''))


def waits_reference(t):
    ref = waits(t.reference([t.program('waits')], timeout=30), 'undisturbed run')
    for name in WAIT_NAMES:
        check_equal(ref[name][1:3], WAIT_RESULTS[name], f'undisturbed {name} (rc, errno)')
        elapsed = ref[name][4] - ref[name][3]
        check(abs(elapsed - ref[name][0]) <= WAIT_TOLERANCE,
              f'undisturbed {name} waited {elapsed:.3f} s for a {ref[name][0]:g} s timeout (host too loaded?)')
    return ref


@test
def waits_no_eintr(t):
    """Threads in nanosleep, clock_nanosleep, poll, select, epoll_wait,
    sem_timedwait and sigtimedwait with 2..3.5 s timeouts: two checkpoints
    mid-wait; none sees EINTR and each returns at its original deadline
    (+-0.3 s), as in an undisturbed run."""
    ref = waits_reference(t)
    app = t.launch([t.program('waits')], capture='pipe')
    app.wait_ready()
    s = int(app.wait_output(r'^waiting mono=(\d+) ').group(1)) / 1e9
    sleep_until(s + 0.6)
    t.checkpoint(app)
    sleep_until(s + 1.3)
    t.checkpoint(app)
    done = time.monotonic()
    check(done < s + 1.95, f'the second checkpoint ended {done - s:.2f} s into the waits, after the first deadline '
                           f'(2 s): the checkpoints did not happen mid-wait')
    check_equal(app.wait_exit(15), 0, 'exit status of waits')
    got = waits(app.output(), 'checkpointed run')
    check_wait_results(got, ref, 'waits checkpointed twice')
    late = []
    for name in WAIT_NAMES:
        timeout, _, _, start, end, _ = got[name]
        t.log(f'{name}: {end - start:.3f} s for {timeout:g} s')
        if abs((end - start) - timeout) > WAIT_TOLERANCE:
            late.append(f'{name} returned after {end - start:.3f} s, deadline {timeout:g} s')
    check(not late, f'waits not ending at their deadline (+-{WAIT_TOLERANCE} s):\n  ' + '\n  '.join(late))


@test
def waits_no_eintr_restore(t):
    """The same waits checkpointed mid-wait, killed, and restored after every
    deadline has passed: each returns at once after the restore, with its
    timeout result (no EINTR)."""
    ref = waits_reference(t)
    app = t.launch([t.program('waits')], capture='pipe')
    app.wait_ready()
    s = int(app.wait_output(r'^waiting mono=(\d+) ').group(1)) / 1e9
    sleep_until(s + 0.6)
    img = t.checkpoint(app)
    check(time.monotonic() < s + 1.95, 'the checkpoint ended after the first deadline: not mid-wait')
    t.kill9(app)
    sleep_until(s + max(timeout for timeout, *_ in ref.values()) + 0.7)

    r0 = time.monotonic()
    r = t.restore(img, capture='pipe')
    check_equal(ready(r), app.pid, 'pid of the restored waits')
    r1 = time.monotonic()
    check_equal(r.wait_exit(15), 0, 'exit status of the restored waits')
    got = waits(r.output(), 'restored run')
    slow = []
    for name in WAIT_NAMES:
        end = got[name][4]
        t.log(f'{name}: rc={got[name][1]} errno={got[name][2]} info={got[name][5]}, returned {end - r1:+.3f} s '
              f'after the restore was ready (restore took {r1 - r0:.3f} s)')
        if not r0 <= end <= r1 + 0.5:
            slow.append(f'{name} returned {end - r1:+.3f} s after the restore was ready')
    check(not slow, 'waits whose deadline passed before the restore must return at once after it '
                    '(by 0.5 s after the restored pid file appeared):\n  ' + '\n  '.join(slow))
    check_wait_results(got, ref, 'waits restored after their deadlines', read_text(r.launcher_err))


# ------------------------------------------------------------- 7. AVX-512


@test
def avx512_registers(t):
    """Two threads keep patterns in zmm0..31 and k1..7 across a tight asm
    loop: checkpoint, kill -9, restore, every register is intact; in every
    restored thread sched_getcpu() is a valid CPU and CLOCK_MONOTONIC works
    and moved forward."""
    prog = t.program('avx512regs')
    ref_trigger = t.path('ref-trigger')
    touch(ref_trigger)
    res = t.run([prog, ref_trigger, '30'], timeout=30)
    if res.rc == 77:
        raise TestSkip(res.out.strip() or 'no AVX-512F')
    check(res.rc == 0, 'undisturbed avx512regs run failed: ' + res.describe())

    trigger = t.path('trigger')
    app = t.launch([prog, trigger, '120'])
    app.wait_ready()
    app.wait_output(r'^ready pid=')
    img = t.checkpoint(app)
    doc = inspect(t, img)
    cpu = doc.get('image', {}).get('cpu', {})
    t.log(f'image cpu: {cpu}')
    check(isinstance(cpu.get('xcr0'), int) and cpu['xcr0'] & 0xe0 == 0xe0,
          f'the image does not record the AVX-512 state components in xcr0: {cpu}')
    check_origins(doc, 3, 'avx512regs image')
    # The spinners were caught inside their asm loop (the program's own code),
    # i.e. with live vector registers.
    exe = os.path.realpath(prog)
    text = [(rg['start'], rg['end']) for rg in doc.get('regions', [])
            if rg.get('name') == exe and rg.get('prot', 0) & 4]
    in_exe = [th['tid'] for th in doc['threads']
              if any(a <= th.get('interrupted', {}).get('rip', 0) < b for a, b in text)]
    check(len(in_exe) >= 2, f'expected the two spinner threads interrupted in {exe}\'s code, found {in_exe} '
                            f'(interrupted: {[th.get("interrupted") for th in doc["threads"]]})')
    t.kill9(app)

    r = t.restore(img, continues=app)
    check_equal(ready(r), app.pid, 'pid of the restored avx512regs')
    touch(trigger)
    rc = r.wait_exit(30)
    got = check_all_ok(app.output(), res.out, 'restored avx512regs')
    t.log(f'{len(got)} checks passed')
    check_equal(rc, 0, 'exit status of the restored avx512regs')


# --------------------------------------------------------- 8-10. identity

TEST_USER = 'ckpt-test'
PROBE = re.compile(r'^probe (\d+) who=(\S+) (.*)$', re.M)


def unprivileged_user(t):
    """(user, uid): the ordinary user the identity tests run as. As root:
    TEST_USER (created when missing), with the test directory and the build
    made usable by it. Otherwise we are an ordinary user already: (None,
    our uid), i.e. run as ourselves."""
    if os.geteuid() != 0:
        t.log(f'not root: the unprivileged steps run as ourselves (uid {os.getuid()})')
        return None, os.getuid()
    try:
        pw = pwd.getpwnam(TEST_USER)
    except KeyError:
        res = t.run(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', TEST_USER])
        if res.rc == 127 or 'No such file' in res.err:
            raise TestSkip('useradd is not available to create the unprivileged user ' + TEST_USER) from None
        check(res.rc == 0 or 'already exists' in res.err, f'cannot create user {TEST_USER}: ' + res.describe())
        pw = pwd.getpwnam(TEST_USER)
        t.log(f'created user {TEST_USER} (uid {pw.pw_uid})')
    check(pw.pw_uid != 0, f'user {TEST_USER} has uid 0')
    os.chown(t.tmp, pw.pw_uid, pw.pw_gid)
    # Directories above the programs and libckpt.so must be searchable.
    for path in (t.env.ckpt_run, os.path.join(t.env.build, 'libckpt', 'libckpt.so'), t.env.programs):
        d = os.path.dirname(os.path.realpath(path))
        while d != '/':
            mode = os.stat(d).st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(d, mode | stat.S_IXOTH)
                t.log(f'made {d} searchable for {TEST_USER}')
            d = os.path.dirname(d)
    res = t.ckpt('--print-signal', user=pw.pw_name)
    check(res.rc == 0, f'ckpt-run does not run as {TEST_USER}: ' + res.describe())
    return pw.pw_name, pw.pw_uid


def probe(t, app, n):
    """Sends SIGUSR1 to idprobe and returns its probe N lines:
    {who: {field: value}} for main, worker0, worker1."""
    t.send(app, signal.SIGUSR1)
    app.wait_output(rf'^probe {n} end$', timeout=15)
    got = {}
    for m in PROBE.finditer(app.output()):
        if int(m.group(1)) == n:
            got[m.group(2)] = dict(kv.split('=', 1) for kv in m.group(3).split())
    check_equal(sorted(got), ['main', 'worker0', 'worker1'], f'{app.tag}: threads answering probe {n}')
    return got


def probe_count(app):
    return max((int(n) for n in re.findall(r'^probe (\d+) end$', app.output(), re.M)), default=0)


def check_probe_ids(p, pid, tids, what, nspid_levels=1):
    """Every thread of a probe sees getpid() == pid, its gettid() == tids[who],
    and /proc (its own mount, in a namespace) agreeing: /proc/self is pid,
    /proc/thread-self its tid, Tgid/Pid/NSpid the same ids."""
    bad = []
    for who, f in sorted(p.items()):
        tid = tids[who]
        want = {'getpid': str(pid), 'gettid': str(tid), 'proc_self': str(pid), 'thread_self': str(tid),
                'status_tgid': str(pid), 'status_pid': str(tid)}
        for k, v in want.items():
            if f.get(k) != v:
                bad.append(f'{who}: {k}={f.get(k)}, expected {v}')
        levels = f.get('nspid', '').split(',')
        if levels[-1] != str(tid) or len(levels) != nspid_levels:
            bad.append(f'{who}: NSpid in its /proc/thread-self/status is {f.get("nspid")}, expected '
                       f'{nspid_levels} level(s) ending with {tid}')
    check(not bad, f'{what}:\n  ' + '\n  '.join(bad))


def check_host_nspid(pid, tids, what):
    """Seen from the caller, the restored process's tasks' innermost NSpid
    are the original ids."""
    inner = set()
    for tid in task_tids(pid):
        ns = status_field(f'/proc/{pid}/task/{tid}/status', 'NSpid')
        if ns:
            inner.add(int(ns.split()[-1]))
    missing = sorted(set(tids.values()) - inner)
    check(not missing, f'{what}: ids {missing} are not the innermost NSpid of any task of pid {pid} '
                       f'(innermost ids: {sorted(inner)})')


def check_identity(t, image, expected, what, user=None):
    doc = inspect(t, image, user=user)
    check_equal(doc.get('identity'), expected, f'{what}: "identity" in --inspect')
    return doc


@test
def identity_namespace_unprivileged(t):
    """As an ordinary user: launch, checkpoint, kill, restore. The restore
    runs in a fresh user+pid+mount namespace where getpid(), gettid(),
    /proc/self and /proc/thread-self/status show the original ids in every
    thread; the image the restored process writes says identity
    "namespace", and it restores again."""
    user, uid = unprivileged_user(t)
    prog = t.program('idprobe')
    app = t.launch([prog, '120'], capture='pipe', user=user)
    app.wait_ready()
    app.wait_output(r'^start pid=')
    p1 = probe(t, app, 1)
    tids = {who: int(f['gettid']) for who, f in p1.items()}
    check_probe_ids(p1, app.pid, tids, 'launched idprobe')
    check_equal(p1['main']['uid'], str(uid), 'uid of the launched idprobe')
    host_pidns = p1['main']['pidns']
    img = t.checkpoint(app, user=user)
    check_identity(t, img, 'launched', 'image of the launched process', user=user)
    t.kill9(app)

    r = t.restore(img, capture='pipe', user=user)
    hostpid = ready(r)
    t.log(f'restored: pid {hostpid} seen from the caller, NSpid {status_field(f"/proc/{hostpid}/status", "NSpid")}')
    check_host_nspid(hostpid, tids, 'restored idprobe')
    p2 = probe(t, r, 2)
    check_probe_ids(p2, app.pid, tids, 'idprobe restored in a namespace, seen from inside')
    for who, f in p2.items():
        check(f['pidns'] != host_pidns, f'{who}: restored in the caller\'s pid namespace {host_pidns}, '
                                        f'expected a new one')
        check_equal(f['uid'], str(uid), f'{who}: uid of the restored idprobe')
        check_equal(f['comm'], p1[who]['comm'], f'{who}: thread name of the restored idprobe')
    img2 = t.checkpoint(r, user=user)
    doc = check_identity(t, img2, 'namespace', 'image written by the process restored in a namespace', user=user)
    check_equal(doc.get('pid'), app.pid, 'pid recorded in the image written inside the namespace')
    t.kill9(r)

    # The image written inside the namespace restores too, with the same ids.
    r2 = t.restore(img2, capture='pipe', user=user)
    ready(r2)
    p3 = probe(t, r2, probe_count(r) + 1)
    check_probe_ids(p3, app.pid, tids, 'second restore (of the image written in the namespace)')
    t.kill9(r2)


@test
def identity_pid_taken(t):
    """As root, restore while the original process still runs: the restore
    uses a pid namespace, getpid() inside is the original pid, the restore's
    pid file holds the pid seen by the caller (another one), both processes
    answer, and the new image says identity "namespace"."""
    prog = t.program('idprobe')
    app = t.launch([prog, '120'], capture='pipe')
    app.wait_ready()
    app.wait_output(r'^start pid=')
    p1 = probe(t, app, 1)
    tids = {who: int(f['gettid']) for who, f in p1.items()}
    check_probe_ids(p1, app.pid, tids, 'launched idprobe')
    img = t.checkpoint(app)

    r = t.restore(img, capture='pipe')
    hostpid = ready(r)
    check(hostpid != app.pid, f'the restore\'s pid file holds {hostpid}, the pid of the still running original')
    check(app.ref.alive(), 'the original process died during the restore')
    t.log(f'restored: pid {hostpid} seen from the caller, NSpid {status_field(f"/proc/{hostpid}/status", "NSpid")}')
    check_host_nspid(hostpid, tids, 'idprobe restored while its pid is taken')
    p2 = probe(t, r, 2)
    check_probe_ids(p2, app.pid, tids, 'idprobe restored while its pid is taken, seen from inside')
    check(p2['main']['pidns'] != p1['main']['pidns'], 'the restored process is in the original\'s pid namespace')
    p2_orig = probe(t, app, 2)
    check_probe_ids(p2_orig, app.pid, tids, 'the original idprobe after the restore')
    img2 = t.checkpoint(r)
    check_identity(t, img2, 'namespace', 'image written by the process restored beside the original')
    t.kill9(r)
    t.kill9(app)


@test
def new_pid_mode(t):
    """--new-pid: accepted; as root with the pid free the original pid is
    still used (identity "same-pid"); as an ordinary user with user
    namespaces available the namespace is used (identity "namespace"); as
    an ordinary user in a user namespace where no user namespace can be
    created, a restore without --new-pid is refused and one with it runs
    under a new pid with getpid()/gettid() and /proc agreeing (identity
    "new-pid")."""
    prog = t.program('idprobe')

    # Root, original pid free: same pid in spite of --new-pid.
    if os.geteuid() == 0:
        app = t.launch([prog, '120'], capture='pipe', tag='root-launch')
        app.wait_ready()
        app.wait_output(r'^start pid=')
        p1 = probe(t, app, 1)
        tids = {who: int(f['gettid']) for who, f in p1.items()}
        img = t.checkpoint(app)
        t.kill9(app)
        r = t.restore(img, capture='pipe', options=['--new-pid'], tag='root-restore')
        check_equal(ready(r), app.pid, 'pid of a --new-pid restore by root with the pid free')
        check_probe_ids(probe(t, r, 2), app.pid, tids, 'root --new-pid restore')
        check_identity(t, t.checkpoint(r), 'same-pid', 'image written after a --new-pid restore by root')
        t.kill9(r)
    else:
        t.log('not root: the same-pid case of --new-pid is not tested')

    # Ordinary user, user namespaces available: the namespace.
    user, _ = unprivileged_user(t)
    app = t.launch([prog, '120'], capture='pipe', user=user, tag='user-launch')
    app.wait_ready()
    app.wait_output(r'^start pid=')
    p1 = probe(t, app, 1)
    tids = {who: int(f['gettid']) for who, f in p1.items()}
    img = t.checkpoint(app, user=user)
    t.kill9(app)
    r = t.restore(img, capture='pipe', options=['--new-pid'], user=user, tag='user-restore')
    ready(r)
    check_probe_ids(probe(t, r, 2), app.pid, tids, 'user --new-pid restore with namespaces available')
    check_identity(t, t.checkpoint(r, user=user), 'namespace',
                   'image written after a --new-pid restore by a user with namespaces available', user=user)
    t.kill9(r)

    # Ordinary user who can create no user namespace: only --new-pid works.
    nouserns = t.program('nouserns')
    res = t.run([nouserns, 'true'], user=user)
    if res.rc != 0:
        t.log('cannot disable user namespaces inside a user namespace here; the new-pid identity itself is not '
              'tested: ' + res.describe())
        return
    app = t.launch([prog, '120'], capture='pipe', user=user, tag='nons-launch')
    app.wait_ready()
    app.wait_output(r'^start pid=')
    p1 = probe(t, app, 1)
    img = t.checkpoint(app, user=user)
    t.kill9(app)

    refused = t.run([nouserns, t.env.ckpt_run, '--pid-file', t.path('refused.pid'), '--restore', img.path],
                    user=user, timeout=30)
    t.reap_orphans()
    check(0 < refused.rc < 124 and '--new-pid' in refused.err,
          'a restore that can neither have the original pid nor a namespace must fail (1..123) and suggest '
          '--new-pid: ' + refused.describe())
    check(not os.path.exists(t.path('refused.pid')) and not t.children(),
          f'the refused restore left something behind: pid file {read_text(t.path("refused.pid"))!r}, '
          f'children {[t.describe_child(k) for k in t.children()]}')
    t.log('refused without --new-pid: ' + refused.err.strip().splitlines()[-1])

    # A single-threaded program first (ticker prints getpid() on every tick).
    tick = t.launch([t.program('ticker'), '600', '50', '0'], capture='pipe', user=user, tag='nons-ticker')
    tick.wait_ready()
    tick.wait_output(r'^tick 3 ')
    timg = t.checkpoint(tick, user=user)
    t.kill9(tick)
    tr = t.restore(timg, capture='pipe', options=['--new-pid'], user=user, prefix=[nouserns],
                   tag='nons-ticker-restore')
    tpid = ready(tr)
    m = tr.wait_output(r'^tick (\d+) pid=(\d+) ')
    check_equal(int(m.group(2)), tpid, 'getpid() printed by the single-threaded ticker restored under a new pid')
    check_identity(t, t.checkpoint(tr, user=user), 'new-pid', 'image written by ticker after a new-pid restore',
                   user=user)
    t.kill9(tr)
    t.log(f'single-threaded new-pid restore: pid {tick.pid} -> {tpid}')

    # The multithreaded idprobe.
    r = t.restore(img, capture='pipe', options=['--new-pid'], user=user, prefix=[nouserns], tag='nons-restore')
    newpid = ready(r)
    new_tids = task_tids(newpid)
    p2 = probe(t, r, 2)
    got_tids = {who: int(f['gettid']) for who, f in p2.items()}
    t.log(f'new-pid restore: pid {newpid} (was {app.pid}), thread ids {got_tids} (were '
          f'{ {w: int(f["gettid"]) for w, f in p1.items()} })')
    check(set(got_tids.values()) <= new_tids,
          f'gettid() in the restored threads {got_tids} are not the process\'s tasks {sorted(new_tids)}')
    check_probe_ids(p2, newpid, got_tids, 'idprobe restored under a new pid', nspid_levels=1)
    for who, f in p2.items():
        check_equal(f['pidns'], p1[who]['pidns'], f'{who}: pid namespace of the new-pid restore (the caller\'s)')
        check_equal(f['comm'], p1[who]['comm'], f'{who}: thread name after the new-pid restore')
    img2 = t.checkpoint(r, user=user)
    doc = check_identity(t, img2, 'new-pid', 'image written after a new-pid restore', user=user)
    check_equal(doc.get('pid'), newpid, 'pid recorded in the image written after a new-pid restore')
    t.kill9(r)


# ------------------------------------------------ 11. edge cases (thr_edge)
#
# One fixture, programs/thr_edge.c, one mode per case (its header comment
# says what each prints).

TICK = re.compile(r'^tick (\d+)', re.M)


def ticks(text):
    return [int(n) for n in TICK.findall(text)]


def edge(t, *args, tag=None, options=(), capture='file', env=None):
    """Launches thr_edge ARGS under ckpt-run and waits for its ready line."""
    old = {}
    for k, v in (env or {}).items():
        old[k] = os.environ.get(k)
        os.environ[k] = str(v)
    try:
        app = t.launch([t.program('thr_edge'), *args], tag=tag, options=options, capture=capture)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    app.wait_ready()
    app.wait_output(r'^ready')
    return app


def keeps_ticking(app, what, timeout=5):
    """The app prints new tick lines (it runs)."""
    last = max(ticks(app.output()), default=-1)
    app.wait_output(rf'^tick {last + 2}\b', timeout=timeout)
    check(app.ref.alive(), f'{what}: the application died')


def checkpoint_fails(t, app, timeout=60):
    res = t.ckpt('--checkpoint', app.pid, timeout=timeout)
    check(res.rc != 0, f'{app.tag}: the checkpoint was expected to fail: ' + res.describe())
    return res


@test
def thr_unstoppable_thread_refused(t):
    """A thread that blocked every signal with a raw rt_sigprocmask cannot be
    stopped: the checkpoint is refused within the freeze time allowed
    (CKPT_FREEZE_TIMEOUT_MS, 1.5 s here) naming the thread's tid and that it
    blocks every signal; the application keeps running, and a second
    request is refused the same way (nothing left behind)."""
    app = edge(t, 'unstoppable', env={'CKPT_FREEZE_TIMEOUT_MS': 1500})
    tid = int(app.wait_output(r'^blocker tid=(\d+)$').group(1))
    for attempt in (1, 2):
        res = checkpoint_fails(t, app, timeout=30)
        t.log(f'refusal {attempt} after {res.seconds:.2f} s: {res.err.strip()}')
        check(res.seconds < 1.5 + 4, f'refusal took {res.seconds:.2f} s for a 1.5 s freeze timeout')
        check(str(tid) in res.err and 'blocks every signal' in res.err and 'did not stop' in res.err,
              f'the refusal must name thread {tid} and say it blocks every signal: {res.err.strip()!r}')
        keeps_ticking(app, f'after refusal {attempt}')
    check(not any(f.endswith('.img') for f in os.listdir(app.images)) if os.path.isdir(app.images) else True,
          f'a refused checkpoint left an image: {os.listdir(app.images)}')


@test
def thr_close_range_control_fd(t):
    """Daemon-style closing of every descriptor from 3 up, four ways
    (close_range, closefrom, raw SYS_close_range, raw SYS_close): the
    program's next open() returns 3, and ckpt-run --checkpoint still works
    (twice), including on the restored process."""
    for k in range(4):
        app = edge(t, 'closer', k, tag=f'closer{k}')
        first = int(app.wait_output(r'^first open after=(-?\d+)$').group(1))
        check_equal(first, 3, f'closer {k}: first open() after closing every descriptor')
        img = t.checkpoint(app, timeout=30)
        t.checkpoint(app, timeout=30)
        keeps_ticking(app, f'closer {k} after two checkpoints')
        if k in (2, 3):  # the raw ones: libckpt re-created its descriptor; restore and checkpoint again
            t.kill9(app)
            r = t.restore(img, continues=app, tag=f'closer{k}-restore')
            check_equal(ready(r), app.pid, f'closer {k}: pid of the restored process')
            keeps_ticking(r, f'closer {k} restored')
            t.checkpoint(r, timeout=30)
            t.kill9(r)
        else:
            t.kill9(app)


@test
def thr_setuid_images_dir(t):
    """A root program with a worker thread and a SIGEV_THREAD timer drops to
    uid 65534: the images directory ckpt-run created for it is given to
    that uid, checkpoints work, and the image restores (as root) with uid
    65534 and the timer still firing."""
    if os.geteuid() != 0:
        raise TestSkip('needs root (the program switches from root to uid 65534)')
    os.chmod(t.tmp, 0o711)  # uid 65534 must reach the images directory inside
    app = edge(t, 'setuid')
    # The restore reopens the program's stdout and stderr with the rights of
    # the image's user (65534): let that user write them.
    for path in (app.out_path, app.err_path):
        os.chown(path, 65534, -1)
    app.wait_output(r'^tick 2 uid=65534 ')
    check_equal(os.stat(app.images).st_uid, 65534, 'owner of the images directory after the program\'s setuid')
    img = t.checkpoint(app, timeout=30)
    check_equal(os.stat(img.path).st_uid, 65534, 'owner of the image written after setuid')
    doc = inspect(t, img)
    t.log(f'image credentials: {doc.get("credentials") or doc.get("creds")}')
    t.kill9(app)
    r = t.restore(img, continues=app)
    check_equal(ready(r), app.pid, 'pid of the restored program')
    before = max(ticks(app.output()))
    m = r.wait_output(rf'^tick {before + 3} uid=(\d+) fires=(\d+)$', timeout=10)
    check_equal(int(m.group(1)), 65534, 'uid of the restored program')
    fires = int(m.group(2))
    m2 = r.wait_output(rf'^tick {before + 8} uid=\d+ fires=(\d+)$', timeout=10)
    check(int(m2.group(1)) > fires, f'the SIGEV_THREAD timer does not fire after the restore ({fires} -> {m2.group(1)})')
    t.checkpoint(r, timeout=30)
    t.kill9(r)


def proc_cpu_ticks(pid):
    try:
        f = read_text(f'/proc/{pid}/stat').rsplit(')', 1)[1].split()
        return int(f[11]) + int(f[12])
    except (IndexError, ValueError):
        return None


@test
def thr_fork_children_checkpointed(t):
    """A thread forks 40 children (20 ms apart) while another hammers malloc
    and the parent is checkpointed 25 times back to back: every checkpoint
    succeeds, then every child (libckpt in it too) is checkpointed on its
    own within 10 s, and none burns CPU (a child forked mid-checkpoint used
    to spin forever re-queueing its checkpoint signal)."""
    kids_file = t.path('kids')
    app = edge(t, 'forkkids', 40, env={'KIDS_FILE': kids_file})
    for i in range(25):
        img = t.checkpoint(app, timeout=30)
        os.unlink(img.path)
    wait_until(lambda: len(read_text(kids_file).split()) >= 40, 20, '40 children forked')
    kids = [int(x) for x in read_text(kids_file).split()]
    try:
        before = {k: proc_cpu_ticks(k) for k in kids}
        time.sleep(1.0)
        busy = [k for k in kids if before[k] is not None and (proc_cpu_ticks(k) or 0) - before[k] > 20]
        check(not busy, f'children spinning (>20 CPU ticks in 1 s): {busy}')
        failed = []
        for k in kids:
            res = t.ckpt('--checkpoint', k, timeout=15)
            if res.rc != 0 or res.seconds > 10:
                failed.append(f'{k}: rc={res.rc} {res.seconds:.1f} s {res.err.strip()[-200:]}')
        check(not failed, f'{len(failed)} of {len(kids)} children could not be checkpointed:\n  ' + '\n  '.join(failed))
        check(app.ref.alive(), 'the parent died')
    finally:
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        t.reap_orphans()


@test
def thr_fork_create_dlopen_race(t):
    """Threads loop on fork()+waitpid, pthread_create+join and dlopen+dlclose
    while 30 checkpoints are taken back to back: each finishes within 10 s,
    every loop keeps progressing, and the last image restores and
    progresses."""
    app = edge(t, 'racers', capture='pipe')
    last = None
    rx = re.compile(r'^tick (\d+) forks=(\d+) threads=(\d+) dlopens=(\d+)$', re.M)

    def counts(text):
        m = rx.findall(text)
        return tuple(int(x) for x in m[-1][1:]) if m else None
    wait_until(lambda: (counts(app.output()) or (0, 0, 0))[2] > 0 and counts(app.output())[0] > 0, 10,
               'every loop to start')
    times = []
    img = None
    for i in range(30):
        new = t.checkpoint(app, timeout=30)
        times.append(new.seconds)
        check(new.seconds <= 10, f'checkpoint {i + 1} took {new.seconds:.2f} s')
        if img:
            os.unlink(img.path)
        img = new
    c0 = counts(app.output())
    time.sleep(1.0)
    c1 = counts(app.output())
    t.log(f'30 checkpoints: max {max(times):.2f} s; counts {c0} -> {c1}')
    check(all(b > a for a, b in zip(c0, c1)), f'a loop stopped progressing: {c0} -> {c1}')
    t.kill9(app)
    r = t.restore(img, capture='pipe')
    check_equal(ready(r), app.pid, 'pid of the restored racers')
    wait_until(lambda: counts(r.output()), 10, 'the restored racers to tick')
    a = counts(r.output())
    time.sleep(1.5)
    b = counts(r.output())
    check(all(y > x for x, y in zip(a, b)), f'a loop does not progress after the restore: {a} -> {b}')
    t.kill9(r)


@test
def thr_main_thread_exited(t):
    """The main thread called pthread_exit(), two workers run on: ckpt-run
    --checkpoint finds the process, the image restores (same pid, the leader
    a zombie again, both workers ticking with getpid() unchanged), the
    restored process checkpoints again and exits 0 when the workers are
    done."""
    app = edge(t, 'mainexit', env={'SECS': 8})
    app.wait_output(r'^tick 3 who=w1 ')
    leader = status_field(f'/proc/{app.pid}/status', 'State')
    t.log(f'launched: leader state {leader}')
    check(leader and leader.startswith('Z'), f'the leader of the launched process is not a zombie: {leader}')
    img = t.checkpoint(app, timeout=30)
    doc = inspect(t, img)
    check(doc.get('leader_exited') is True, f'the image does not say the main thread exited: {image_threads(doc)}')
    t.kill9(app)
    r = t.restore(img, continues=app)
    check_equal(ready(r), app.pid, 'pid of the restored process')
    before = max(int(n) for n in re.findall(r'^tick (\d+) who=w0', app.output(), re.M))
    for w in ('w0', 'w1'):
        m = r.wait_output(rf'^tick {before + 3} who={w} pid=(\d+)$', timeout=10)
        check_equal(int(m.group(1)), app.pid, f'getpid() in restored worker {w}')
    state = status_field(f'/proc/{r.pid}/status', 'State')
    threads = status_field(f'/proc/{r.pid}/status', 'Threads')
    t.log(f'restored: leader state {state}, {threads} threads')
    check(state and state.startswith('Z'), f'the restored leader is {state}, expected a zombie as before')
    check_equal(threads, '3', 'threads of the restored process (zombie leader and two workers)')
    t.checkpoint(r, timeout=30)
    check_equal(r.wait_exit(30), 0, 'exit status of the restored process')


@test
def thr_full_mask_waits(t):
    """Threads in ppoll, pselect, epoll_pwait and epoll_pwait2 with a full
    signal mask (3 s timeouts) are checkpointed twice mid-wait: each
    checkpoint is quick (no thread is unstoppable), and every wait returns
    0 at its deadline with errno untouched (77, set before the call)."""
    app = edge(t, 'fullmask')
    time.sleep(0.8)
    t0 = time.monotonic()
    t.checkpoint(app, timeout=30)
    t.checkpoint(app, timeout=30)
    check(time.monotonic() - t0 < 2.0, f'two checkpoints took {time.monotonic() - t0:.2f} s: a thread '
                                       f'waiting with a full mask was not stopped at once')
    app.wait_output(r'^wait epoll_pwait2 ', timeout=10)
    for name in ('ppoll', 'pselect', 'epoll_pwait'):
        app.wait_output(rf'^wait {name} ', timeout=5)
    got = {m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4)))
           for m in re.finditer(r'^wait (\S+) rc=(-?\d+) errno=(\d+) elapsed_ms=(\d+)$', app.output(), re.M)}
    bad = [f'{n}: rc={v[0]} errno={v[1]} after {v[2]} ms' for n, v in sorted(got.items())
           if v[0] != 0 or v[1] != 77 or not 2700 <= v[2] <= 3500]
    check(not bad, 'waits with a full mask must time out at 3 s, rc 0, errno untouched (77):\n  ' + '\n  '.join(bad))
    t.kill9(app)


@test
def thr_mask_bypasses(t):
    """sigignore(SIGRTMAX), sigset(SIGCKPT, h), sighold(SIGCKPT), a thread
    created with pthread_attr_setsigmask_np(full) and one running in a
    swapcontext()ed context with a full uc_sigmask: the application reads
    back what it set, and checkpoints work and restore; the same program
    exec'd with every signal already blocked (raw rt_sigprocmask before
    exec) checkpoints too."""
    app = edge(t, 'masks')
    out = app.output()
    for want in ('view ckpt_handler=app', 'view freeze_handler=ignored', 'view ckpt_blocked=1'):
        check(re.search(rf'^{want}$', out, re.M), f'the application does not read back what it set: no {want!r} in '
                                                  f'{out[:300]!r}')
    img = t.checkpoint(app, timeout=20)
    check(img.seconds < 5, f'the checkpoint took {img.seconds:.2f} s (a thread could not be stopped at once)')
    doc = inspect(t, img)
    names = sorted(th.get('name', '') for th in doc['threads'])
    t.log(f'threads in the image: {names}')
    check('attrmask' in names and 'ctxmask' in names, f'threads missing from the image: {names}')
    t.kill9(app)
    r = t.restore(img, continues=app)
    check_equal(ready(r), app.pid, 'pid of the restored masks program')
    keeps_ticking(r, 'restored masks program')
    t.checkpoint(r, timeout=20)
    t.kill9(r)

    prog = t.program('thr_edge')
    blocked = t.launch([prog, 'blockexec', prog, 'masks'], tag='blockexec')
    blocked.wait_ready()
    blocked.wait_output(r'^ready')
    img = t.checkpoint(blocked, timeout=20)
    check(img.seconds < 5, f'checkpoint of the program exec\'d with signals blocked took {img.seconds:.2f} s')
    t.kill9(blocked)


@test
def thr_altstack_handler(t):
    """A thread runs a 3 s SIGUSR1 handler on a 16 KiB sigaltstack with
    10000 bytes of it in use when the checkpoint is requested (the freeze
    frame would not fit): the process does not die, the checkpoint waits
    for the handler and succeeds, and the image restores."""
    app = edge(t, 'altstk', 10000)
    app.wait_output(r'^handler started$')
    time.sleep(0.3)
    img = t.checkpoint(app, timeout=30)
    t.log(f'checkpoint during the handler: {img.seconds:.2f} s')
    check(app.ref.alive(), 'the application died (its alternate stack overflowed?)')
    app.wait_output(r'^tick \d+ handled=1$', timeout=10)
    keeps_ticking(app, 'after the checkpoint')
    t.kill9(app)
    r = t.restore(img, continues=app)
    check_equal(ready(r), app.pid, 'pid of the restored altstk program')
    keeps_ticking(r, 'restored altstk program')
    t.kill9(r)


@test
def thr_cancelled_threads(t):
    """4200 threads cancelled with pthread_cancel and joined, then a worker:
    the image reports the worker as created with pthread_create (the
    registry did not fill up with the cancelled ones)."""
    app = edge(t, 'cancel', 4200)
    img = t.checkpoint(app, timeout=30)
    doc = inspect(t, img)
    check_origins(doc, 1, 'image after 4200 cancelled threads')
    t.kill9(app)


@test
def thr_thread_churn_freeze_time(t):
    """Four threads create and end threads non-stop: five checkpoints each
    freeze the process for less than 400 ms (signalled threads that exit
    without stopping are noticed at once, not at a deadline)."""
    app = edge(t, 'churn')
    app.wait_output(r'^tick 3 ')
    frozen = []
    for i in range(5):
        res = t.ckpt('-v', '--checkpoint', app.pid, timeout=30)
        check(res.rc == 0, f'checkpoint {i + 1} failed: ' + res.describe())
        m = re.search(r'frozen ([\d.]+) ms', res.err)
        check(m, f'ckpt-run -v did not report the freeze time: {res.err!r}')
        frozen.append(float(m.group(1)))
        os.unlink(res.out.strip().splitlines()[-1])
        time.sleep(0.3)
    t.log(f'freeze times: {frozen} ms')
    check(max(frozen) < 400, f'freezes of {frozen} ms under thread churn (limit 400 ms)')
    keeps_ticking(app, 'churn after the checkpoints')
    t.kill9(app)


@test
def thr_abandoned_freezes(t):
    """300 threads working and sleeping, with a freeze timeout so short
    (CKPT_FREEZE_TIMEOUT_MS=80) that most attempts are given up while
    threads are still in libckpt's freeze handler: eight checkpoint requests
    succeed or fail cleanly, and afterwards the process is alive with every
    thread making progress (a thread caught by an abandoned attempt used to
    stay parked, or write into freed memory and crash the process)."""
    app = edge(t, 'crowd', '300', env={'CKPT_FREEZE_TIMEOUT_MS': 80})
    app.wait_output(r'^tick 2 ')
    outcomes = []
    for i in range(8):
        res = t.ckpt('--checkpoint', app.pid, timeout=60)
        outcomes.append('ok' if res.rc == 0 else 'failed')
        if res.rc == 0:
            os.unlink(res.out.strip().splitlines()[-1])
        else:
            check('did not stop' in res.err, f'request {i + 1} failed for another reason: ' + res.describe())
        check(app.ref.alive(), f'the application died after checkpoint request {i + 1} ({outcomes})')
    t.log(f'checkpoint requests: {outcomes}')
    last = max(ticks(app.output()), default=-1)
    m = app.wait_output(rf'^tick {last + 3} stalled=(\d+) ', timeout=10)
    check_equal(int(m.group(1)), 0, 'crowd threads that made no progress in the last tick after the requests')
    t.kill9(app)


@test
def thr_save_range_single_thread(t):
    """A single-threaded program saving a 64 MiB range in a loop
    (ckpt_save_range) is sent checkpoint requests: each is served within
    10 s, with the program still saving (the request used to come back to
    the same thread forever)."""
    rd = t.path('ranges')
    os.mkdir(rd)
    app = edge(t, 'saverange', env={'RANGE_DIR': rd})
    app.wait_output(r'^tick 0 ')
    for i in range(3):
        img = t.checkpoint(app, timeout=20)
        check(img.seconds <= 10, f'checkpoint {i + 1} took {img.seconds:.2f} s')
        os.unlink(img.path)
    keeps_ticking(app, 'the range-saving program', timeout=15)
    t.kill9(app)


@test
def thr_mqueue_refused(t):
    """An open POSIX message queue is refused by name ("POSIX message queue
    /ckpt-it-PID"), the application keeps running, and with
    --ignore-unsupported the checkpoint succeeds."""
    app = edge(t, 'mqueue', capture='pipe')
    m = re.search(r'mqueue (\S+) fd=(\d+)', app.output())
    check(m, f'no mqueue line: {app.output()[:200]!r}')
    res = checkpoint_fails(t, app, timeout=20)
    check(f'POSIX message queue {m.group(1)}' in res.err, f'the refusal does not name the queue: {res.err.strip()!r}')
    keeps_ticking(app, 'after the refusal')
    t.kill9(app)
    app2 = edge(t, 'mqueue', options=['--ignore-unsupported'], tag='ignore')
    t.checkpoint(app2, timeout=20)
    t.kill9(app2)
