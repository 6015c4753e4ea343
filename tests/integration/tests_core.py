"""Core checkpoint/restart tests (issue #3): launch, checkpoint, kill -9,
restore of single-threaded programs; images; the command-line contract."""

import json
import os
import random
import re
import signal
import sys
import time

from harness import (TestFailure, TestSkip, check, check_equal, check_memwalk_matches,
                     check_same_lines, max_iter, memwalk_lines, pid_exists, read_text, test,
                     wait_until)

# memwalk MIB DIRTY_PCT ITERS THREADS SLEEP_MS
MEMWALK_SINGLE = ['32', '3', '80', '1', '20']


@test
def memwalk_single(t):
    """A single-threaded memwalk checkpointed after a few iterations, killed
    and restored prints the same iter hashes and final hash as an undisturbed
    run."""
    mw = t.memwalk()
    ref = memwalk_lines(t.reference([mw, *MEMWALK_SINGLE]))

    app = t.launch([mw, *MEMWALK_SINGLE])
    app.wait_ready()
    app.wait_output(r'^iter 10 ')
    img = t.checkpoint(app)
    t.kill9(app)

    r = t.restore(img, continues=app)
    r.wait_ready()
    check_equal(r.wait_exit(60), 0, 'exit status of the restored memwalk')
    check_memwalk_matches(app.output(), ref, 'restored memwalk')
    check_equal(read_text(r.launcher_out), '',
                'stdout of ckpt-run --restore (the app writes to its own file; ckpt-run prints nothing there)')


@test
def restore_chain(t):
    """restore -> checkpoint -> kill -> restore, twice: three generations of
    one memwalk run end with the undisturbed run's hashes."""
    mw = t.memwalk()
    args = ['32', '3', '150', '1', '20']
    ref = memwalk_lines(t.reference([mw, *args]))

    app = t.launch([mw, *args])
    app.wait_ready()
    app.wait_output(r'^iter 10 ')
    img = t.checkpoint(app)
    t.kill9(app)
    for generation in (2, 3):
        # Progress is watched in the original stdout file, which every
        # generation reopens at its saved offset.
        seen = max_iter(app.output())
        r = t.restore(img, continues=app, tag=f'gen{generation}-')
        r.wait_ready()
        check_equal(r.pid, app.pid, f'pid of generation {generation}')
        if generation == 3:
            check_equal(r.wait_exit(60), 0, 'exit status of the last generation')
            break
        r.wait_output(rf'^iter {seen + 15} ')
        next_img = t.checkpoint(r)
        check(next_img.path != img.path, f'generation {generation} checkpoint reused the path {img.path}')
        t.kill9(r)
        img = next_img
    check_memwalk_matches(app.output(), ref, 'memwalk after three generations')


def seq_file_numbers(path, strict=True):
    """The numbers in sigcount's file, one per line. strict=False (while
    polling): None instead of a failure for a partial or odd line."""
    text = read_text(path)
    try:
        if text and not text.endswith('\n'):
            raise ValueError('partial last line')
        return [int(l) for l in text.splitlines()]
    except ValueError:
        if not strict:
            return None
        raise TestFailure(f'{path} holds something other than whole numbered lines: {text[-200:]!r}') from None


@test
def sigusr1_file(t):
    """A SIGUSR1 handler (counter in memory, one line per signal to an
    O_APPEND file) keeps working after a restore, and counts on from the
    checkpointed counter: signals sent between checkpoint and kill are in the
    file but were lost with the killed process."""
    log = t.path('sequence.txt')
    app = t.launch([t.program('sigcount'), log, '120'])
    app.wait_ready()
    app.wait_output(r'^ready ')
    expected = []

    def signal_and_wait(target, number):
        t.send(target, signal.SIGUSR1)
        expected.append(number)
        wait_until(lambda: seq_file_numbers(log, strict=False) == expected, 10,
                   f'{target.tag}: the handler to append {number} (expected file {expected})')

    for n in (1, 2, 3):
        signal_and_wait(app, n)
    img = t.checkpoint(app)              # counter = 3 in the image
    for n in (4, 5):
        signal_and_wait(app, n)          # reach the file, lost with the process
    t.kill9(app)

    r = t.restore(img, continues=app)
    r.wait_ready()
    for n in (4, 5, 6):                  # numbering resumes from the checkpoint
        signal_and_wait(r, n)
    t.send(r, signal.SIGUSR2)
    check_equal(r.wait_exit(30), 0, 'exit status of the restored sigcount')
    check_equal(seq_file_numbers(log), [1, 2, 3, 4, 5, 4, 5, 6], f'content of {log}')
    check(re.search(r'^done count=6$', app.output(), re.M),
          f'restored sigcount did not print "done count=6": {app.output()[-200:]!r}')


PYTHON_COMPUTE = r'''
import hashlib, sys, time
data = [str(j) * 3 for j in range(200000)]
acc, h = 0, b''
for i in range(int(sys.argv[1])):
    h = hashlib.sha256(h + str(i).encode()).digest()
    acc = (acc * 1000003 + sum(len(x) for x in data[i::97]) + i) % (1 << 61)
    print(f'step {i} acc={acc} h={h.hex()[:16]}', flush=True)
    time.sleep(0.05)
print(f'result {acc} {h.hex()} {len(data)}', flush=True)
'''


def python3():
    """The system python3 (a real ELF: pyenv-style shims are shell scripts)."""
    for cand in ('/usr/bin/python3', os.path.realpath(sys.executable)):
        if os.access(cand, os.X_OK):
            return cand
    raise TestSkip('no python3 interpreter found')


def step_lines(text):
    return sorted({l for l in text.splitlines() if re.match(r'^(step \d+|result) ', l)})


@test
def python_compute(t):
    """`ckpt-run python3 -c CODE`: an interpreter with a large heap and
    OpenSSL loaded, checkpointed mid-way, killed and restored, computes the
    undisturbed run's result."""
    argv = [python3(), '-c', PYTHON_COMPUTE, '60']
    ref = step_lines(t.reference(argv))
    check(any(l.startswith('result ') for l in ref), 'the reference python run printed no result')

    app = t.launch(argv)
    app.wait_ready()
    app.wait_output(r'^step 15 ')
    img = t.checkpoint(app)
    t.kill9(app)

    r = t.restore(img, continues=app)
    r.wait_ready()
    check_equal(r.wait_exit(60), 0, 'exit status of the restored python3')
    out = step_lines(app.output())
    check_equal([l for l in out if l.startswith('result ')], [l for l in ref if l.startswith('result ')],
                'result line of the restored python3')
    check_same_lines(out, ref, 'python3 step/result lines vs. the undisturbed run')


def first_iter(text):
    m = re.search(r'^iter (\d+) ', text, re.M)
    return int(m.group(1)) if m else None


@test
def older_image(t):
    """Of two checkpoints, restoring the older one continues from the older
    point and still ends with the undisturbed run's hashes. stdout is a pipe,
    so the restored output arrives on ckpt-run --restore's own stdout."""
    mw = t.memwalk()
    args = ['32', '3', '120', '1', '20']
    ref = memwalk_lines(t.reference([mw, *args]))

    app = t.launch([mw, *args], capture='pipe')
    app.wait_ready()
    app.wait_output(r'^iter 8 ')
    before_a = max_iter(app.output())
    img_a = t.checkpoint(app)
    # The checkpoint froze memwalk at most a few iterations after before_a;
    # B is taken well after that, so the two points cannot be confused.
    after_a = max_iter(app.output()) + 5
    app.wait_output(rf'^iter {after_a + 15} ')
    img_b = t.checkpoint(app)
    check(img_a.path != img_b.path, 'the two checkpoints have the same path')
    t.kill9(app)

    r = t.restore(img_a, capture='pipe')
    r.wait_ready()
    check_equal(r.wait_exit(60), 0, 'exit status of memwalk restored from the older image')
    restored = r.output()
    start = first_iter(restored)
    check(start is not None, f'the restored memwalk printed no iter line on ckpt-run\'s stdout: {restored[-300:]!r}')
    check(before_a + 1 <= start <= after_a + 1,
          f'restored from the older image, memwalk resumed at iter {start}; expected the older point '
          f'(between {before_a + 1} and {after_a + 1}; the newer image is past iter {after_a + 15})')
    iters = [int(n) for n in re.findall(r'^iter (\d+) ', restored, re.M)]
    check_equal(iters, list(range(start, int(args[2]))), 'iterations printed by the restored memwalk')
    check_memwalk_matches(app.output() + restored, ref, 'memwalk restored from the older image')


@test
def sparse_64g(t):
    """A 64 GiB MAP_NORESERVE mapping with 100 touched pages checkpoints in
    well under 5 s into a small image, and restores with its contents and its
    MAP_NORESERVE flag."""
    prog = t.program('sparse64g')
    res = t.run([prog, '0'], timeout=60)
    if res.rc == 3:
        raise TestSkip('this host refuses a 64 GiB MAP_NORESERVE mapping: ' + res.out.strip())
    check(res.rc == 0 and 'OK' in res.out.split(), 'sparse64g fails without ckpt-run: ' + res.describe())

    app = t.launch([prog, '50'])
    app.wait_ready()
    app.wait_output(r'^ready ')
    img = t.checkpoint(app, timeout=30)
    check(img.seconds < 5, f'--checkpoint of a sparse 64 GiB mapping took {img.seconds:.2f} s (limit 5 s)')
    check(img.size < 4 << 20, f'image of a sparse 64 GiB mapping is {img.size} bytes (limit 4 MiB)')
    t.kill9(app)

    r = t.restore(img, continues=app)
    r.wait_ready()
    rc = r.wait_exit(60)
    out = app.output()
    check('BAD' not in out, 'restored sparse64g found bad memory:\n' +
          '\n'.join(l for l in out.splitlines() if 'BAD' in l))
    check_equal(rc, 0, 'exit status of the restored sparse64g')
    check(re.search(r'^OK$', out, re.M), f'restored sparse64g did not print OK: {out[-200:]!r}')


def last_tick(text):
    """The highest `tick N` a ticker printed so far (0 if none)."""
    return max((int(n) for n in re.findall(r'^tick (\d+) ', text, re.M)), default=0)


def damaged_variants(t, image, layout):
    """(name, bytes) of damaged copies of image and of non-images."""
    data = open(image, 'rb').read()
    size, hs = len(data), layout['header_size']
    mo, ms = layout['manifest_offset'], layout['manifest_size']
    blocks = layout['blocks']
    check(blocks, 'the image used for damaging has no page blocks')
    b0, bl = blocks[0], blocks[-1]
    io, fo = layout['index_offset'], layout['footer_offset']

    truncations = {
        'trunc-1-byte': 1,
        'trunc-in-header': hs // 2,
        'trunc-after-header': hs,
        'trunc-in-manifest': mo + ms // 2,
        'trunc-after-manifest': mo + ms,
        'trunc-in-first-block': b0['frame_offset'] + b0['frame_size'] // 2,
        'trunc-half': size // 2,
        'trunc-at-index': io,
        'trunc-no-footer': fo,
        'trunc-last-byte': size - 1,
    }
    flips = {
        'flip-header-magic': 0,
        'flip-header-version': 8,
        'flip-header-middle': hs // 2,
        'flip-header-hash': layout['header_hash_offset'],
        'flip-manifest-start': mo,
        'flip-manifest-middle': mo + ms // 2,
        'flip-manifest-end': mo + ms - 1,
        'flip-block-magic': b0['offset'],
        'flip-block-runs': b0['runs_offset'],
        'flip-first-block-data': b0['frame_offset'] + b0['frame_size'] // 2,
        'flip-last-block-data': bl['frame_offset'] + bl['frame_size'] // 2,
        'flip-index': io + 8,
        'flip-footer-magic': fo,
        'flip-footer-file-hash': layout['footer_file_hash_offset'],
        'flip-last-byte': size - 1,
    }
    variants = []
    for name, n in truncations.items():
        check(0 < n < size, f'{name}: truncation point {n} outside the image ({size} bytes)')
        variants.append((name, data[:n]))
    for name, pos in flips.items():
        check(0 <= pos < size, f'{name}: position {pos} outside the image ({size} bytes)')
        copy = bytearray(data)
        copy[pos] ^= 0x10
        variants.append((name, bytes(copy)))
    variants += [
        ('empty-file', b''),
        ('random-bytes', random.Random(3).randbytes(65536)),
        ('text-file', b'this is not a checkpoint image\n' * 10),
        ('magic-then-zeros', data[:8] + bytes(8192)),
        ('elf-executable', open(t.program('ticker'), 'rb').read()),
    ]
    return variants


@test
def damaged_images(t):
    """Truncated and bit-flipped copies of a valid image, and files that are
    no image at all, are refused by --check and --restore: exit status 1..123,
    a message on stderr, within a few seconds, and no process left behind."""
    # 4 MiB of heap: an image with several page blocks to damage.
    app = t.launch([t.program('ticker'), '600', '100', '0', '4'])
    app.wait_ready()
    app.wait_output(r'^tick 3 ')
    img = t.checkpoint(app)
    t.kill9(app)
    pid, ticks_before = app.pid, last_tick(app.output())
    t.ckpt('--check', img.path, check_rc=0)   # the intact image is fine

    res = t.run([t.program('image_layout'), img.path], check_rc=0)
    layout = json.loads(res.out)
    t.log(f'image layout: header {layout["header_size"]} B, manifest {layout["manifest_size"]} B at '
          f'{layout["manifest_offset"]}, {len(layout["blocks"])} blocks, index at {layout["index_offset"]}, '
          f'footer at {layout["footer_offset"]}, {layout["size"]} B in all')

    os.mkdir(t.path('damaged'))
    failures = []
    for name, content in damaged_variants(t, img.path, layout):
        path = t.path('damaged', name + '.img')
        with open(path, 'wb') as f:
            f.write(content)
        os.chmod(path, 0o600)
        for mode in ('--check', '--restore'):
            problems = []
            try:
                res = t.ckpt(mode, path, timeout=15)
            except TestFailure as e:
                failures.append(f'{name} {mode}: {e}')
                res = None
            if res is not None:
                if not 0 < res.rc < 124:
                    problems.append(f'exit status {res.rc} (expected 1..123)')
                if not res.err.strip():
                    problems.append('no message on stderr')
                if res.seconds > 5:
                    problems.append(f'took {res.seconds:.1f} s')
                if mode == '--restore' and res.out:
                    problems.append(f'printed on stdout: {res.out[-200:]!r}')
            # Nothing may survive: not the image's pid, not any descendant.
            t.reap_orphans()
            leftovers = t.children()
            if pid_exists(pid):
                problems.append(f'pid {pid} exists afterwards')
            if leftovers:
                problems.append('left behind: ' + ', '.join(t.describe_child(k) for k in leftovers))
                for k in leftovers:
                    os.kill(k, signal.SIGKILL)
            if pid_exists(pid):
                try:
                    t.wait_gone(pid, 5)
                except TestFailure:
                    pass
            if problems:
                failures.append(f'{name} {mode}: ' + '; '.join(problems) +
                                (f'; stderr: {res.err.strip()[-300:]!r}' if res else ''))
            elif res is not None:
                t.log(f'{name} {mode}: refused with {res.rc} in {res.seconds:.2f} s: '
                      f'{res.err.strip().splitlines()[-1][:160]}')

    # Positive control: the intact image still restores (so the refusals were
    # about the damage), under the same pid.
    r = t.restore(img, continues=app)
    r.wait_ready()
    check_equal(r.pid, pid, 'pid of the intact image restored after the damaged ones')
    r.wait_output(rf'^tick {ticks_before + 2} ')
    t.kill9(r)
    if failures:
        raise TestFailure(f'{len(failures)} damaged-image case(s) not refused properly:\n  ' + '\n  '.join(failures))


@test
def static_refused(t):
    """A statically linked program is refused at launch with status 2 and a
    message, and never runs (it would create a marker file)."""
    prog = os.path.join(t.env.programs, 'static_marker')
    if not os.access(prog, os.X_OK):
        raise TestSkip('static_marker was not built: no static glibc (libc.a, package libc6-dev)')
    control = t.path('control-marker')
    t.run([prog, control], check_rc=0)
    check(os.path.exists(control), 'static_marker does not create its marker even without ckpt-run')

    marker, pid_file = t.path('marker'), t.path('static.pid')
    res = t.ckpt('--images', t.path('images'), '--pid-file', pid_file, prog, marker, timeout=20)
    check_equal(res.rc, 2, 'exit status of ckpt-run launching a static program')
    check(res.err.strip(), 'ckpt-run refused the static program without a message on stderr')
    time.sleep(0.3)
    check(not os.path.exists(marker), 'the static program ran under ckpt-run (its marker exists)')
    check(not os.path.exists(pid_file), 'ckpt-run wrote a pid file for a program it refused')
    t.log('refused: ' + res.err.strip().splitlines()[-1])


def status_field(pid, name):
    """A field of /proc/PID/status (None if the process or field is gone)."""
    for line in read_text(f'/proc/{pid}/status').splitlines():
        if line.startswith(name + ':'):
            return line.split(':', 1)[1].strip()
    return None


BLOCK_ALL_SIGNALS = r'''
import signal, time
signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})
time.sleep(30)
'''


@test
def checkpoint_unmanaged(t):
    """--checkpoint of a process not running under libckpt exits nonzero with
    a message and sends nothing (a stray real-time signal would kill it)."""
    sleeper = t.spawn(['sleep', '30'])
    res = t.ckpt('--checkpoint', sleeper.pid, timeout=20)
    check(res.rc != 0, '--checkpoint of an unmanaged process succeeded: ' + res.describe())
    check(res.err.strip(), '--checkpoint of an unmanaged process gave no message on stderr')
    time.sleep(0.5)
    check(sleeper.poll() is None,
          f'the unmanaged process died (status {sleeper.returncode}) after --checkpoint: a signal was sent')
    t.log('refused: ' + res.err.strip().splitlines()[-1])

    # A process blocking every signal shows any signal sent to it as pending.
    blocker = t.spawn([python3(), '-c', BLOCK_ALL_SIGNALS], label='blocker')
    wait_until(lambda: int(status_field(blocker.pid, 'SigBlk') or '0', 16) != 0, 10,
               'the blocker process to block its signals')
    res = t.ckpt('--checkpoint', blocker.pid, timeout=20)
    check(res.rc != 0 and res.err.strip(),
          '--checkpoint of an unmanaged process must fail with a message: ' + res.describe())
    pending = {f: status_field(blocker.pid, f) for f in ('SigPnd', 'ShdPnd')}
    check(all(v is not None and int(v, 16) == 0 for v in pending.values()),
          f'--checkpoint sent a signal to a process not under libckpt: pending {pending}')
    t.log('refused (signals blocked, none pending): ' + res.err.strip().splitlines()[-1])

    gone = t.spawn(['true'])
    gone.wait(10)
    t.wait_gone(gone.pid)
    res = t.ckpt('--checkpoint', gone.pid, timeout=20)
    check(res.rc != 0 and res.err.strip(),
          '--checkpoint of a pid that does not exist must fail with a message: ' + res.describe())
    t.log('refused (no such pid): ' + res.err.strip().splitlines()[-1])
    for p in (sleeper, blocker):
        p.kill()
        p.wait(10)


@test
def inspect_json(t):
    """--inspect prints JSON with threads, regions and fds lists and a parent
    (null for a full image); the regions include the executable; --check of a
    fresh image exits 0."""
    prog = t.program('ticker')
    app = t.launch([prog, '600', '100', '0'])
    app.wait_ready()
    app.wait_output(r'^tick 2 ')
    img = t.checkpoint(app)
    t.kill9(app)

    res = t.ckpt('--inspect', img.path, check_rc=0)
    try:
        doc = json.loads(res.out)
    except ValueError as e:
        raise TestFailure(f'--inspect output is not JSON ({e}): {res.out[:300]!r}') from None
    check(isinstance(doc, dict), '--inspect output is not a JSON object')
    for key in ('threads', 'regions', 'fds'):
        check(isinstance(doc.get(key), list) and doc[key], f'--inspect: {key!r} is not a non-empty list')
    check('parent' in doc, '--inspect: no "parent" key')
    check(doc['parent'] is None, f'--inspect: parent of a full image is {doc["parent"]!r}, expected null')
    exe = os.path.realpath(prog)
    check(any(isinstance(r, dict) and exe in [v for v in r.values() if isinstance(v, str)]
              for r in doc['regions']),
          f'--inspect: no region names the executable {exe}')
    res = t.ckpt('--check', img.path)
    check_equal(res.rc, 0, '--check of a fresh image (' + res.describe() + ')')


@test
def exit_status(t):
    """The application's exit status (7) is ckpt-run's, at launch and after
    a restore."""
    argv = [t.program('ticker'), '40', '50', '7']
    plain = t.launch(argv, tag='undisturbed')
    check_equal(plain.wait_exit(30), 7, 'exit status of ckpt-run running a program that exits 7')

    app = t.launch(argv)
    app.wait_ready()
    app.wait_output(r'^tick 5 ')
    img = t.checkpoint(app)
    t.kill9(app)
    r = t.restore(img, continues=app)
    r.wait_ready()
    check_equal(r.wait_exit(30), 7, 'exit status of ckpt-run --restore of a program that exits 7')
    check(re.search(r'^done ticks=40 ', app.output(), re.M), 'the restored ticker did not finish')


@test
def pid_file_and_same_pid(t):
    """The restored process has the original pid (getpid() in its output) and
    --restore --pid-file writes that pid; the launch pid file holds the pid
    of ckpt-run, which execs the program."""
    argv = [t.program('ticker'), '60', '50', '0']
    ref = t.reference(argv)
    ref_done = re.search(r'^done ticks=60 pid=\d+ (sum=\w+)$', ref, re.M)
    check(ref_done, 'the reference ticker run did not finish')

    app = t.launch(argv, capture='pipe')
    check_equal(app.wait_ready(), app.popen.pid, 'pid in the launch --pid-file (ckpt-run execs the program)')
    app.wait_output(r'^tick 5 ')
    img = t.checkpoint(app)
    t.kill9(app)
    check(not pid_exists(app.pid), f'pid {app.pid} still exists before the restore')

    r = t.restore(img, capture='pipe')
    check_equal(r.wait_ready(), app.pid, 'pid in the --restore --pid-file')
    check_equal(r.wait_exit(30), 0, 'exit status of the restored ticker')
    out = r.output()
    pids = set(re.findall(r'^(?:tick \d+|done ticks=\d+) pid=(\d+) ', out, re.M))
    check(pids, f'the restored ticker printed nothing on ckpt-run\'s stdout: {out[-300:]!r}')
    check_equal(pids, {str(app.pid)}, 'getpid() printed by the restored ticker')
    done = re.search(r'^done ticks=60 pid=\d+ (sum=\w+)$', out, re.M)
    check(done, 'the restored ticker did not print its done line')
    check_equal(done.group(1), ref_done.group(1), 'final checksum of the restored ticker')


CLOCK_PRINTER = r'''
import sys, time
for i in range(int(sys.argv[1])):
    print(i, time.clock_gettime_ns(time.CLOCK_MONOTONIC), time.clock_gettime_ns(time.CLOCK_BOOTTIME), flush=True)
    time.sleep(0.05)
print("done", flush=True)
'''


def clock_readings(text):
    """(monotonic_ns, boottime_ns) per printed line, in order."""
    return [(int(m), int(b)) for _, m, b in re.findall(r'^(\d+) (\d+) (\d+)$', text, re.M)]


@test
def clocks_never_go_back(t):
    """CLOCK_MONOTONIC and CLOCK_BOOTTIME never go backwards across a restore.
    On one boot they simply continue; a restore where the image's clocks are
    ahead of the host's (after a reboot; simulated with
    CKPT_TEST_CLOCK_SHIFT_S) runs the process in a time namespace whose
    offsets make them continue from the image's, vdso included."""
    script = t.path('clocks.py')
    with open(script, 'w') as f:
        f.write(CLOCK_PRINTER)
    app = t.launch([sys.executable, script, '60'])
    app.wait_ready()
    app.wait_output(r'^10 ')
    img = t.checkpoint(app)
    t.kill9(app)
    shift_s = 100000
    r = t.restore(img, continues=app, prefix=['env', f'CKPT_TEST_CLOCK_SHIFT_S={shift_s}'])
    r.wait_ready()
    check_equal(r.wait_exit(60), 0, 'exit status of the restored clock printer')
    readings = clock_readings(app.output())
    check_equal(len(readings), 60, 'lines printed by the clock printer and its restored continuation')
    jumps = 0
    for (m0, b0), (m1, b1) in zip(readings, readings[1:]):
        check(m1 >= m0 and b1 >= b0, f'a clock went backwards: {(m0, b0)} then {(m1, b1)}')
        if m1 - m0 > shift_s * 10**9 // 2:
            jumps += 1
            check(b1 - b0 > shift_s * 10**9 // 2, 'CLOCK_BOOTTIME did not move with CLOCK_MONOTONIC')
    check_equal(jumps, 1, 'forward jumps of the (simulated) clock difference at the restore')
