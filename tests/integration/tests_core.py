"""Core checkpoint/restart tests (issue #3): launch, checkpoint, kill -9,
restore of single-threaded programs; images; the command-line contract."""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

from harness import (ProcRef, TestFailure, TestSkip, check, check_equal, check_memwalk_matches,
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


def maps_entries(pid):
    """The lines of /proc/PID/maps as (range, perms, path) tuples."""
    out = []
    with open(f'/proc/{pid}/maps') as f:
        for line in f:
            parts = line.split(None, 5)
            out.append((parts[0], parts[1], parts[5].strip() if len(parts) > 5 else ''))
    return out


def libckpt_own(entry):
    """libckpt re-creates its own control memfd and anonymous areas after a
    restore, so they may move; everything else must be where it was."""
    return entry[2] in ('', '/memfd:libckpt-control (deleted)')


@test
def many_mappings(t):
    """A process with 30000 mappings (alternating protections, so none merge)
    and 4 threads restores with every region's content, and its
    /proc/PID/maps is the one it had at the checkpoint: the launcher leaves
    none of its own mappings behind, whatever the length of the list."""
    n = 30000
    app = t.launch([t.program('manymaps'), str(n), '600'])
    app.wait_ready()
    app.wait_output(r'^round 1 ')
    img = t.checkpoint(app, timeout=60)
    before = maps_entries(app.pid)
    check(len(before) > n, f'manymaps has only {len(before)} mappings, expected more than {n}')
    t.kill9(app)

    r = t.restore(img, continues=app)
    r.wait_ready()
    last = max_round(app.output())
    r.wait_output(rf'^round {last + 3} ', timeout=30)
    after = maps_entries(r.pid)
    t.kill9(r)
    bad = [l for l in app.output().splitlines() if l.startswith('round ') and not l.endswith(' bad 0')]
    check(not bad, f'restored manymaps found regions with wrong contents: {bad[:3]}')
    t.log(f'mappings: {len(before)} at the checkpoint, {len(after)} after the restore; only before: '
          f'{sorted(set(before) - set(after))[:6]}; only after: {sorted(set(after) - set(before))[:6]}')
    extra = [e for e in set(after) - set(before) if not libckpt_own(e)]
    missing = [e for e in set(before) - set(after) if not libckpt_own(e)]
    check(not extra, f'{len(extra)} mappings after the restore that the process did not have: {sorted(extra)[:5]}')
    check(not missing, f'{len(missing)} mappings lost by the restore: {sorted(missing)[:5]}')
    check(abs(len(after) - len(before)) <= 4,
          f'{len(before)} mappings at the checkpoint, {len(after)} after the restore')


@test
def many_descriptors(t):
    """A process with 7000 descriptors (per group: a file, a dup of it, the
    same file opened again, a pipe with unread data, a socketpair) restores
    every one: dups still share their offset, separately opened files do
    not, each pipe still holds its line, each socketpair still connects its
    two ends."""
    groups = 1000
    go = t.path('go')
    app = t.launch([t.program('manyfds'), str(groups), go])
    app.wait_ready()
    m = app.wait_output(r'^(ready \d+|setup failed.*)$')
    if m.group(1).startswith('setup failed'):
        raise TestSkip('cannot open that many descriptors here: ' + m.group(1))
    img = t.checkpoint(app, timeout=60)
    t.log(f'checkpoint of {groups * 7} descriptors: {img.seconds:.2f} s')
    t.kill9(app)

    r = t.restore(img, continues=app)
    r.wait_ready()
    open(go, 'w').close()
    rc = r.wait_exit(60)
    out = app.output()
    check(re.search(rf'^check ok {groups}$', out, re.M),
          f'restored manyfds did not check out: {out.splitlines()[-2:]}')
    check_equal(rc, 0, 'exit status of the restored manyfds')


def max_round(text):
    return max((int(n) for n in re.findall(r'^round (\d+) ', text, re.M)), default=-1)


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
    (null for a full image); the regions include the executable; the xsave
    components the process may use are recorded; --check of a fresh image
    exits 0."""
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
    # Every x86-64 process may use x87 and SSE state (xsave components 0, 1).
    xstate = doc.get('xstate_permitted')
    check(isinstance(xstate, int) and xstate & 3 == 3,
          f'--inspect: xstate_permitted {xstate!r} lacks x87/SSE (components 0 and 1)')
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


# ------------------------------------------------- launch and CLI refusals

def tiny_foreign_elf(path, machine=183):
    """A minimal 64-bit little-endian ELF header for another architecture
    (183: EM_AARCH64), executable: enough for a loader to look at."""
    import struct
    ident = b'\x7fELF' + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack('<HHIQQQIHHHHHH', 2, machine, 1, 0x400078, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    phdr = struct.pack('<IIQQQQQQ', 1, 5, 0, 0x400000, 0x400000, 0x80, 0x80, 0x1000)
    with open(path, 'wb') as f:
        f.write(header + phdr + bytes(8))
    os.chmod(path, 0o755)


def check_refused_at_launch(t, argv, what, needle=None, options=()):
    """ckpt-run [options] argv exits 2 with a message, writes no pid file and
    never runs the program (a ticker would print `start`)."""
    pid_file = t.path('refused.pid')
    res = t.ckpt('--images', t.path('images'), '--pid-file', pid_file, *options, *argv, timeout=20)
    check_equal(res.rc, 2, f'exit status of ckpt-run launching {what} ({res.describe()})')
    check(res.err.strip(), f'ckpt-run refused {what} without a message on stderr')
    if needle:
        check(re.search(needle, res.err, re.I), f'the message for {what} does not say {needle!r}: {res.err.strip()!r}')
    check('start pid=' not in res.out, f'{what} ran under ckpt-run: {res.out[-200:]!r}')
    check(not os.path.exists(pid_file), f'ckpt-run wrote a pid file for {what}')
    t.log(f'{what}: ' + res.err.strip().splitlines()[0])


@test
def launch_refusals(t):
    """Programs libckpt cannot run inside are refused at launch with status
    2 (a checkpoint signal would kill them): setuid, setgid, file
    capabilities, another architecture. So are a pid file in a missing
    directory, a thaw signal equal to the checkpoint signal (option or
    environment), and an images path too long for libckpt's buffers."""
    ticker = t.program('ticker')
    args = ['5', '10', '0']
    for bits, what in ((0o4755, 'a setuid program'), (0o2755, 'a setgid program')):
        copy = t.path(f'ticker-{bits:o}')
        shutil.copy(ticker, copy)
        os.chmod(copy, bits)
        check_refused_at_launch(t, [copy, *args], what, 'setuid/setgid')
    setcap = shutil.which('setcap') or ('/usr/sbin/setcap' if os.access('/usr/sbin/setcap', os.X_OK) else None)
    if setcap:
        copy = t.path('ticker-cap')
        shutil.copy(ticker, copy)
        res = t.run([setcap, 'cap_net_raw+ep', copy])
        if res.rc == 0:
            check_refused_at_launch(t, [copy, *args], 'a program with file capabilities', 'capabilities')
        else:
            t.log('setcap failed here (file system without xattrs?), file capabilities not tested: ' + res.describe())
    else:
        t.log('setcap (libcap2-bin) not installed: file capabilities not tested')
    foreign = t.path('aarch64-prog')
    tiny_foreign_elf(foreign)
    check_refused_at_launch(t, [foreign], 'an aarch64 ELF', 'x86-64')
    # A #! script whose interpreter is the foreign program.
    script = t.path('foreign-script')
    with open(script, 'w') as f:
        f.write(f'#!{foreign}\n')
    os.chmod(script, 0o755)
    check_refused_at_launch(t, [script], 'a script run by an aarch64 interpreter', 'x86-64')

    check_refused_at_launch(t, [ticker, *args], 'a pid file in a missing directory', 'pid-file',
                            options=['--pid-file', t.path('missing-dir', 'app.pid')])
    sig = int(t.ckpt('--print-signal', check_rc=0).out)
    check_refused_at_launch(t, [ticker, *args], '--thaw-signal equal to the default checkpoint signal',
                            'must differ', options=['--thaw-signal', str(sig)])
    res = t.run(['env', f'CKPT_THAW_SIGNAL={sig}', t.env.ckpt_run, '--images', t.path('images'), ticker, *args])
    check_equal(res.rc, 2, 'exit status with CKPT_THAW_SIGNAL equal to the checkpoint signal (' + res.describe() + ')')
    res = t.run(['env', f'CKPT_SIGNAL={sig + 1}', t.env.ckpt_run, '--images', t.path('images'), ticker, *args])
    check_equal(res.rc, 2, 'exit status with CKPT_SIGNAL equal to the default thaw signal (' + res.describe() + ')')
    res = t.run(['env', 'CKPT_SIGNAL=junk', t.env.ckpt_run, '--images', t.path('images'), ticker, *args])
    check_equal(res.rc, 2, 'exit status with an invalid CKPT_SIGNAL (' + res.describe() + ')')
    long_dir = t.path('d' * 250, 'e' * 250, 'f' * 250)
    check_refused_at_launch(t, [ticker, *args], 'an images path longer than 700 bytes', 'images',
                            options=['--images', long_dir])
    check(not os.path.exists(long_dir), 'ckpt-run created the too long images directory')
    check_refused_at_launch(t, [ticker, *args], 'a pid file path longer than 1000 bytes', 'pid file path',
                            options=['--pid-file', t.path('p' * 1000)])
    # Control: the same program, unchanged, runs.
    res = t.ckpt('--images', t.path('images'), ticker, *args, check_rc=0)
    check('done ticks=5' in res.out, 'the unmodified ticker did not run: ' + res.describe())


@test
def cli_options(t):
    """--inspect --verify IMAGE (options before the image), --help lists
    --verify and --version, and directories ckpt-run and libckpt create for
    images are 0700 whatever the umask."""
    help_text = t.ckpt('--help', check_rc=0).out
    for opt in ('--verify', '--version', '--inspect', '--check', '--thaw-signal'):
        check(opt in help_text, f'--help does not mention {opt}')
    check(t.ckpt('--version', check_rc=0).out.startswith('ckpt-run '), '--version output')

    # umask 0: mkdir(0700) alone would still give 0700; umask 077 would too.
    # 0o022 removes nothing from 0700 either, so use a umask that removes the
    # owner's bits: without a chmod the directories would be unusable.
    images = t.path('a', 'b', 'imgs')
    umask_prefix = ['sh', '-c', 'umask 0277 && exec "$@"', 'sh']
    app = t.launch([t.program('ticker'), '600', '50', '0'], images=images, prefix=umask_prefix)
    app.wait_ready()
    for d in (t.path('a'), t.path('a', 'b'), images):
        check_equal(oct(os.stat(d).st_mode & 0o7777), oct(0o700), f'mode of {d}, created by ckpt-run under umask 0277')
    # libckpt creates a missing images directory itself (the app's umask is 0277).
    shutil.rmtree(t.path('a'))
    img = t.checkpoint(app)
    for d in (t.path('a'), t.path('a', 'b'), images):
        check_equal(oct(os.stat(d).st_mode & 0o7777), oct(0o700), f'mode of {d}, created by libckpt under umask 0277')
    check_equal(oct(os.stat(img.path).st_mode & 0o777), oct(0o600), 'mode of the image')
    t.kill9(app)

    res = t.ckpt('--inspect', '--verify', img.path, check_rc=0)
    doc = json.loads(res.out)
    check_equal(doc['image']['verified'], True, '"verified" of --inspect --verify IMAGE')
    res = t.ckpt('--inspect', img.path, '--verify', check_rc=0)
    check_equal(json.loads(res.out)['image']['verified'], True, '"verified" of --inspect IMAGE --verify')
    res = t.ckpt('--inspect', '--verify')
    check(res.rc == 2 and 'needs a value' in res.err, '--inspect --verify without an image: ' + res.describe())


# ------------------------------------------------------------ ASLR off

@test
def aslr_off(t):
    """With ASLR off (setarch -R) the application runs with ASLR off, and a
    restore under setarch -R re-executes ckpt-run with ASLR on (its own
    layout would otherwise equal the image's) and succeeds."""
    if t.run(['setarch', '-R', 'true']).rc != 0:
        raise TestSkip('setarch -R does not work here')
    prefix = ['setarch', '-R']
    argv = [t.program('ticker'), '80', '50', '0']
    ref = t.reference(argv)
    app = t.launch(argv, prefix=prefix)
    app.wait_ready()
    pers = int(read_text(f'/proc/{app.pid}/personality').strip() or '0', 16)
    check(pers & 0x0040000, f'the app launched under setarch -R has ASLR on (personality {pers:#x})')
    app.wait_output(r'^tick 10 ')
    img = t.checkpoint(app)
    t.kill9(app)
    for gen, pfx in ((1, prefix), (2, [])):
        r = t.restore(img, continues=app, prefix=pfx, tag=f'restore-aslr{gen}-')
        check_equal(r.wait_ready(), app.pid, 'pid of the process restored with ckpt-run under setarch -R'
                    if pfx else 'pid of the process restored normally')
        if gen == 1:
            r.wait_output(r'^tick 30 ')
            t.kill9(r)
    check_equal(r.wait_exit(30), 0, 'exit status of the restored ticker')
    done = re.search(r'^done ticks=80 pid=\d+ (sum=\w+)$', app.output(), re.M)
    check(done, 'the restored ticker did not finish')
    check_equal(done.group(1), re.search(r'^done ticks=80 pid=\d+ (sum=\w+)$', ref, re.M).group(1),
                'final checksum after restores under setarch -R')


# ------------------------------------------------------------ host checks

XXH_P1, XXH_P2, XXH_P3 = 11400714785074694791, 14029467366897019727, 1609587929392839161
XXH_P4, XXH_P5 = 9650029242287828579, 2870177450012600261
M64 = (1 << 64) - 1


def xxh64(data, seed=0):
    """XXH64 (the image format's checksum), in Python for crafting images."""
    import struct

    def rotl(x, r):
        return ((x << r) | (x >> (64 - r))) & M64

    def rnd(acc, v):
        return (rotl((acc + v * XXH_P2) & M64, 31) * XXH_P1) & M64

    def merge(acc, v):
        return ((acc ^ rnd(0, v)) * XXH_P1 + XXH_P4) & M64

    n, p = len(data), 0
    if n >= 32:
        v = [(seed + XXH_P1 + XXH_P2) & M64, (seed + XXH_P2) & M64, seed, (seed - XXH_P1) & M64]
        for a, b, c, d in struct.iter_unpack('<4Q', data[:n - n % 32]):
            v = [rnd(v[0], a), rnd(v[1], b), rnd(v[2], c), rnd(v[3], d)]
        p = n - n % 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M64
        for x in v:
            h = merge(h, x)
    else:
        h = (seed + XXH_P5) & M64
    h = (h + n) & M64
    while p + 8 <= n:
        h = (rotl(h ^ rnd(0, struct.unpack_from('<Q', data, p)[0]), 27) * XXH_P1 + XXH_P4) & M64
        p += 8
    if p + 4 <= n:
        h = (rotl(h ^ (struct.unpack_from('<I', data, p)[0] * XXH_P1) & M64, 23) * XXH_P2 + XXH_P3) & M64
        p += 4
    while p < n:
        h = (rotl(h ^ (data[p] * XXH_P5) & M64, 11) * XXH_P1) & M64
        p += 1
    h ^= h >> 33
    h = (h * XXH_P2) & M64
    h ^= h >> 29
    h = (h * XXH_P3) & M64
    return h ^ (h >> 32)


def rechecksum(data, layout):
    """Recomputes the header, manifest, whole-file and footer checksums of a
    crafted image (bytearray), so only the semantic change remains."""
    import struct
    mo, ms = layout['manifest_offset'], layout['manifest_size']
    struct.pack_into('<Q', data, layout['manifest_hash_offset'], xxh64(bytes(data[mo:mo + ms])))
    hh, hs = layout['header_hash_offset'], layout['header_size']
    struct.pack_into('<Q', data, hh, 0)
    struct.pack_into('<Q', data, hh, xxh64(bytes(data[:hs])))
    fo, fh = layout['footer_offset'], layout['footer_hash_offset']
    struct.pack_into('<Q', data, layout['footer_file_hash_offset'], xxh64(bytes(data[:fo])))
    struct.pack_into('<Q', data, fh, 0)
    struct.pack_into('<Q', data, fh, xxh64(bytes(data[fo:fo + layout['footer_size']])))
    return data


@test
def host_check_refusals(t):
    """--check and --restore refuse, naming the difference, an image whose
    header names another libckpt build, whose vdso hash differs from this
    kernel's, or whose executable was rewritten in place with its mtime set
    back (ctime tells); the intact image and a restored executable pass."""
    prog = t.path('ticker-copy')
    shutil.copy(t.program('ticker'), prog)
    app = t.launch([prog, '600', '50', '0'])
    app.wait_ready()
    app.wait_output(r'^tick 3 ')
    img = t.checkpoint(app)
    t.kill9(app)
    t.ckpt('--check', img.path, check_rc=0)
    layout = json.loads(t.run([t.program('image_layout'), img.path], check_rc=0).out)
    original = bytearray(open(img.path, 'rb').read())
    # The crafting is sound: re-checksumming the intact image changes nothing.
    check_equal(bytes(rechecksum(bytearray(original), layout)), bytes(original), 'image re-checksummed in Python')

    def refused(name, data, needle):
        path = t.path(name + '.img')
        with open(path, 'wb') as f:
            f.write(data)
        os.chmod(path, 0o600)
        for mode in ('--check', '--restore'):
            res = t.ckpt(mode, path, timeout=20)
            check(0 < res.rc < 124 and needle in res.err,
                  f'{name}: {mode} must fail naming {needle!r}: ' + res.describe())
            t.reap_orphans()
            check(not pid_exists(app.pid), f'{name}: {mode} left pid {app.pid} behind')
        t.log(f'{name}: refused: ' + [l for l in res.err.splitlines() if needle in l][0].strip())

    data = bytearray(original)
    data[layout['build_id_offset']] ^= 0x01
    refused('build-id', rechecksum(data, layout), 'image was written by libckpt build')

    mo, ms = layout['manifest_offset'], layout['manifest_size']
    manifest = json.loads(bytes(original[mo:mo + ms]))
    check(manifest['vdso']['vdso_start'], 'the image records no vdso')
    manifest['vdso']['vdso_hash'] ^= 1
    text = json.dumps(manifest, separators=(',', ':')).encode()
    check(len(text) <= ms, 'the re-encoded manifest is longer than the original')
    data = bytearray(original)
    data[mo:mo + ms] = text + b' ' * (ms - len(text))
    refused('vdso-hash', rechecksum(data, layout), 'vdso contents differ')

    # The executable, rewritten in place: same inode, size and mtime.
    st = os.stat(prog)
    time.sleep(0.05)
    with open(prog, 'r+b') as f:
        f.seek(st.st_size - 1)
        last = f.read(1)
        f.seek(st.st_size - 1)
        f.write(bytes([last[0] ^ 0xff]))
    os.utime(prog, ns=(st.st_atime_ns, st.st_mtime_ns))
    now = os.stat(prog)
    check((now.st_ino, now.st_size, now.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns),
          'the rewritten executable changed inode, size or mtime')
    for mode in ('--check', '--restore'):
        res = t.ckpt(mode, img.path, timeout=20)
        check(res.rc == 1 and f'{prog} changed since the checkpoint' in res.err,
              f'{mode} of an image whose executable was rewritten in place: ' + res.describe())
    t.log('rewritten executable refused: ' + res.err.strip().splitlines()[-1])
    with open(prog, 'r+b') as f:
        f.seek(st.st_size - 1)
        f.write(last)
    os.utime(prog, ns=(st.st_atime_ns, st.st_mtime_ns))
    t.ckpt('--check', img.path, check_rc=0)  # same content again: the hash decides
    r = t.restore(img, continues=app)
    check_equal(r.wait_ready(), app.pid, 'pid of the restored ticker')
    r.wait_output(r'^tick 8 ')
    t.kill9(r)


# --------------------------------------------------- checkpoint requests

@test
def concurrent_checkpoints(t):
    """Four `ckpt-run --checkpoint PID` at once: each waits for its own
    image (four distinct complete images), the app keeps running, and each
    image restores."""
    import threading
    app = t.launch([t.program('ticker'), '2000', '20', '0', '8'])
    app.wait_ready()
    app.wait_output(r'^tick 3 ')
    results = [None] * 4

    def request(i):
        try:
            results[i] = t.ckpt('--checkpoint', app.pid, timeout=90)
        except TestFailure as e:
            results[i] = e
    threads = [threading.Thread(target=request, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    paths = []
    for i, res in enumerate(results):
        check(res is not None and not isinstance(res, TestFailure), f'request {i}: {res}')
        check_equal(res.rc, 0, f'exit status of concurrent request {i} ({res.describe()})')
        path = res.out.strip().splitlines()[-1]
        check(os.path.isabs(path) and os.path.isfile(path), f'request {i} printed {path!r}')
        paths.append(path)
    check_equal(len(set(paths)), 4, f'distinct images of four concurrent requests: {paths}')
    check(app.ref.alive(), 'the app died during concurrent checkpoints')
    t.log('images: ' + ', '.join(os.path.basename(p) for p in paths))
    for p in paths:
        t.ckpt('--check', p, check_rc=0, timeout=30)
    t.kill9(app)
    r = t.restore(sorted(paths)[-1], continues=app)
    r.wait_ready()
    r.wait_output(rf'^tick {last_tick(app.output()) + 3} ')
    t.kill9(r)


@test
def exit_after_checkpoint(t):
    """--exit-after-checkpoint: the app exits with status 0 once its image is
    written, --checkpoint still prints the image, and the image restores a
    process that runs to its end."""
    argv = [t.program('ticker'), '60', '40', '3']
    app = t.launch(argv, options=['--exit-after-checkpoint'])
    app.wait_ready()
    app.wait_output(r'^tick 5 ')
    img = t.checkpoint(app)
    check_equal(app.wait_exit(20), 0, 'exit status of the app after its checkpoint (--exit-after-checkpoint)')
    t.wait_gone(app.pid)
    stopped_at = last_tick(app.output())
    check(stopped_at < 60, 'the app ran to its end instead of exiting after the checkpoint')
    r = t.restore(img, continues=app)
    check_equal(r.wait_ready(), app.pid, 'pid of the restored app')
    check_equal(r.wait_exit(30), 3, 'exit status of the restored app (its own, 3)')
    check(re.search(r'^done ticks=60 ', app.output(), re.M), 'the restored app did not finish')


def in_dir(path):
    """A prefix that runs a command in directory `path`."""
    return ['sh', '-c', 'cd "$0" && exec "$@"', path]


@test
def relative_paths(t):
    """A relative --images at launch is the launcher's directory's; at
    restore, a relative IMAGE, --images and --pid-file are the restoring
    ckpt-run's, not the application's saved working directory."""
    launch_dir, restore_dir = t.path('launch-here'), t.path('restore-here')
    os.mkdir(launch_dir)
    os.mkdir(restore_dir)
    app = t.launch([t.program('ticker'), '600', '50', '0'], images='imgs', prefix=in_dir(launch_dir))
    app.wait_ready()
    app.wait_output(r'^tick 3 ')
    img = t.checkpoint(app)
    check_equal(os.path.dirname(img.path), os.path.join(launch_dir, 'imgs'),
                'directory of the image (relative --images at launch)')
    t.kill9(app)
    rel_image = os.path.relpath(img.path, restore_dir)
    check(rel_image.startswith('../'), f'relative image path {rel_image}')
    r = t.restore(rel_image, continues=app, options=['--images', 'new-imgs'], prefix=in_dir(restore_dir))
    check_equal(r.wait_ready(), app.pid, 'pid restored from a relative IMAGE')
    img2 = t.checkpoint(r)
    check_equal(os.path.dirname(img2.path), os.path.join(restore_dir, 'new-imgs'),
                'directory of the next image (relative --images at restore)')
    t.kill9(r)
    # The restored process records the image it came from (absolute): an
    # incremental child would name it as its parent.
    doc = json.loads(t.ckpt('--inspect', img2.path, check_rc=0).out)
    check_equal(doc['libckpt']['images_dir'], os.path.join(restore_dir, 'new-imgs'),
                'images_dir recorded by the restored process')
    # A relative --pid-file at restore.
    # (The later --pid-file wins over the one the harness passes.)
    r = t.restore(img2.path, continues=app, options=['--pid-file', 'rel.pid'], prefix=in_dir(restore_dir))
    pid_file = os.path.join(restore_dir, 'rel.pid')
    wait_until(lambda: read_text(pid_file).strip(), 20, f'the relative --pid-file {pid_file}')
    check_equal(int(read_text(pid_file).strip()), app.pid, f'content of {pid_file}')
    r.pid, r.ref = app.pid, ProcRef(app.pid)
    t.kill9(r)


@test
def images_dir_unwritable(t):
    """Images on a read-only file system: the checkpoint fails with a message
    saying why (--checkpoint exits nonzero), the app keeps running, and its
    stderr line carries the app's pid (not the forked writer's)."""
    mnt = t.path('ro')
    os.mkdir(mnt)
    res = t.run(['mount', '-t', 'tmpfs', '-o', 'ro,size=1m,mode=0700', 'tmpfs', mnt])
    if res.rc != 0:
        raise TestSkip('cannot mount a tmpfs here: ' + res.describe())
    try:
        app = t.launch([t.program('ticker'), '600', '50', '0'], images=mnt)
        app.wait_ready()
        app.wait_output(r'^tick 2 ')
        res = t.ckpt('--checkpoint', app.pid, timeout=60)
        check(res.rc != 0, 'a checkpoint into a read-only directory succeeded: ' + res.describe())
        check(re.search(r'read-only|EROFS', res.err, re.I), 'the failure does not say why: ' + res.describe())
        n = last_tick(app.output())
        app.wait_output(rf'^tick {n + 3} ')
        err = read_text(app.err_path)
        pids = set(re.findall(r'^libckpt\[(\d+)\]: error: .*(?:read-only|EROFS)', err, re.M | re.I))
        check(pids, f'the app\'s stderr does not report the failed checkpoint: {err[-300:]!r}')
        check_equal(pids, {str(app.pid)}, 'pid in libckpt\'s failure message')
        check_equal(os.listdir(mnt), [], 'files in the read-only images directory')
        t.kill9(app)
    finally:
        res = t.run(['umount', mnt])
        if res.rc != 0:
            t.run(['umount', '-l', mnt])


# --------------------------------------------- programs that exec others

EXEC_CHAIN_APP = r'''
import signal, sys, time
mask = sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))
print('mask', mask, flush=True)
time.sleep(float(sys.argv[1]))
print('done', flush=True)
'''


@test
def exec_gap_pid_file(t):
    """The program ckpt-run starts may exec others under the same pid (env,
    a #! script, a shell shim like pyenv's): a checkpoint requested as soon
    as the pid file appears succeeds and never kills the app, 20 times for
    each chain; the final program's signal mask does not show the
    checkpoint signal blocked; and an exec that fails leaves everything as
    it was."""
    script = t.path('app.py')
    with open(script, 'w') as f:
        f.write(EXEC_CHAIN_APP)
    shebang = t.path('app-shebang.py')
    with open(shebang, 'w') as f:
        f.write('#!/usr/bin/env python3\n' + EXEC_CHAIN_APP)
    os.chmod(shebang, 0o755)
    shim = t.path('python3-shim')
    with open(shim, 'w') as f:
        f.write('#!/bin/bash\n# like a pyenv shim: a shell that execs the interpreter\nexec /usr/bin/env python3 "$@"\n')
    os.chmod(shim, 0o755)
    chains = {
        'env python3': ['env', 'python3', script, '3'],
        '#! script': [shebang, '3'],
        'shell shim': [shim, script, '3'],
    }
    for (name, argv), short in zip(chains.items(), ('env', 'shebang', 'shim')):
        for i in range(20):
            tag = f'{short}-{i}-'
            app = t.launch(argv, tag=tag)
            # As soon as the pid file appears (polled every millisecond).
            app.pid = int(wait_until(app.read_pid_file, 20, f'{tag}: pid file', interval=0.001))
            app.ref = ProcRef(app.pid)
            res = t.ckpt('--checkpoint', app.pid, timeout=60)
            check(res.rc == 0, f'{name} run {i}: checkpoint requested when the pid file appeared failed: '
                  + res.describe())
            time.sleep(0.05)
            check(app.ref.alive(), f'{name} run {i}: the app died after the checkpoint '
                  f'(ckpt-run status {app.popen.poll()}); stderr: {read_text(app.err_path)[-300:]!r}')
            if i == 0:
                m = app.wait_output(r'^mask (.*)$')
                check_equal(m.group(1), '[]', f'{name}: signal mask seen by the final program')
            t.kill9(app)
        t.log(f'{name}: 20 checkpoints at the pid file, none failed or killed the app')

    # A program that execs itself 80 times under one pid, checkpointed again
    # and again meanwhile: every request lands before, after or between two
    # programs, and every one must succeed.
    chain = t.path('exec-chain.sh')
    with open(chain, 'w') as f:
        f.write('#!/bin/sh\n[ "$1" -gt 0 ] && exec "$0" $(($1 - 1))\necho final; exec sleep 30\n')
    os.chmod(chain, 0o755)
    app = t.launch([chain, '80'], tag='chain-')
    app.wait_ready()
    requests = 0
    while 'final' not in app.output() and requests < 200:
        res = t.ckpt('--checkpoint', app.pid, timeout=60)
        requests += 1
        check(res.rc == 0, f'request {requests} during the exec chain failed: ' + res.describe())
        check(app.ref.alive(), f'the exec chain died after request {requests} (ckpt-run status '
              f'{app.popen.poll()}): {read_text(app.err_path)[-300:]!r}')
    check('final' in app.output(), 'the exec chain did not reach its end')
    check(requests >= 3, f'only {requests} checkpoint request(s) fell into the exec chain (too fast to test)')
    t.log(f'exec chain of 80 programs: {requests} checkpoint requests meanwhile, all succeeded')
    t.kill9(app)

    failing = t.path('exec-fails.py')
    with open(failing, 'w') as f:
        f.write('import os, signal, sys, time\n'
                'try:\n    os.execv("/nonexistent/program", ["x"])\n'
                'except OSError as e:\n    print("exec failed", e.errno, flush=True)\n'
                'print("mask", sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])), flush=True)\n'
                'time.sleep(30)\n')
    app = t.launch([python3(), failing])
    app.wait_ready()
    app.wait_output(r'^mask ')
    check(re.search(r'^exec failed 2$', app.output(), re.M), 'execv of a missing program did not fail with ENOENT')
    check(re.search(r'^mask \[\]$', app.output(), re.M), f'signal mask after a failed exec: {app.output()!r}')
    img = t.checkpoint(app)
    check(app.ref.alive(), 'the app died when checkpointed after a failed exec')
    t.ckpt('--check', img.path, check_rc=0)
    t.kill9(app)


# ------------------------------------------------------- install, exports

@test
def installed_tree(t):
    """`meson install --destdir` gives a ckpt-run that finds its libckpt.so
    in the installed tree and launches, checkpoints and restores."""
    dest = t.path('dest')
    res = t.run(['meson', 'install', '-C', t.env.build, '--no-rebuild', '--quiet', '--destdir', dest], timeout=120)
    check(res.rc == 0, 'meson install --destdir failed: ' + res.describe())
    found = [os.path.join(d, f) for d, _, files in os.walk(dest) for f in files if f == 'ckpt-run']
    check(len(found) == 1, f'installed ckpt-run: {found}')
    ckpt_run = found[0]
    libs = [os.path.join(d, f) for d, _, files in os.walk(dest) for f in files if f == 'libckpt.so']
    check(len(libs) == 1, f'installed libckpt.so: {libs}')
    t.log(f'installed {os.path.relpath(ckpt_run, dest)} and {os.path.relpath(libs[0], dest)}')
    images, pid_file = t.path('imgs'), t.path('inst.pid')
    out = t.path('inst.out')
    with open(out, 'wb') as o:
        p = subprocess.Popen([ckpt_run, '--images', images, '--pid-file', pid_file, t.program('ticker'), '600', '50',
                              '0'], stdout=o, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=t.tmp)
    t.procs.append(('installed ckpt-run', p))
    pid = wait_until(lambda: read_text(pid_file).strip(), 20, 'the pid file of the installed ckpt-run')
    check_equal(int(pid), p.pid, 'pid in the pid file')
    maps = read_text(f'/proc/{pid}/maps')
    check(os.path.realpath(libs[0]) in maps, f'the app does not map the installed libckpt.so {libs[0]}')
    wait_until(lambda: 'tick 3 ' in read_text(out), 20, 'ticks from the app')
    res = t.run([ckpt_run, '--checkpoint', pid], timeout=60)
    check(res.rc == 0 and os.path.isfile(res.out.strip().splitlines()[-1]),
          'checkpoint with the installed ckpt-run: ' + res.describe())
    img = res.out.strip().splitlines()[-1]
    p.kill()
    p.wait(10)
    t.wait_gone(p.pid)
    res = t.run([ckpt_run, '--check', img], timeout=30)
    check_equal(res.rc, 0, '--check with the installed ckpt-run (' + res.describe() + ')')
    r = subprocess.Popen([ckpt_run, '--restore', img], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL, cwd=t.tmp)
    t.procs.append(('installed restore', r))
    n = last_tick(read_text(out))
    wait_until(lambda: last_tick(read_text(out)) >= n + 3, 20, 'the restored app to tick on')
    ProcRef(int(pid)).signal(signal.SIGKILL)
    check(r.wait(20) in (-signal.SIGKILL, 128 + signal.SIGKILL), 'status of the installed ckpt-run --restore')


def version_script_globals(path):
    """The global: names of a linker version script (patterns allowed)."""
    text = re.sub(r'/\*.*?\*/', '', read_text(path), flags=re.S)
    body = text.split('global:', 1)[1].split('local:', 1)[0]
    return [n.strip() for n in body.split(';') if n.strip()]


@test
def library_exports(t):
    """libckpt.so exports only the symbols of its version script (the
    interposed functions and the public ckpt_* API: libstdc++ and zstd stay
    hidden) and needs neither libstdc++ nor libzstd at run time."""
    import fnmatch
    lib = os.path.join(t.env.build, 'libckpt', 'libckpt.so')
    patterns = version_script_globals(os.path.join(t.env.source, 'libckpt', 'libckpt.map'))
    check(len(patterns) > 50, f'version script globals: {patterns[:5]}...')
    res = t.run(['nm', '-D', '--defined-only', lib], check_rc=0)
    exported = sorted({l.split()[-1].split('@')[0] for l in res.out.splitlines() if len(l.split()) >= 3})
    stray = [s for s in exported if not any(fnmatch.fnmatchcase(s, p) for p in patterns)]
    check(not stray, f'libckpt.so exports symbols outside its version script: {stray[:20]}')
    missing = [p for p in patterns if '*' not in p and p not in exported]
    check(not missing, f'version script symbols libckpt.so does not export: {missing}')
    check(any(s.startswith('ckpt_') for s in exported), 'no ckpt_* API symbol is exported')
    res = t.run(['readelf', '-d', lib], check_rc=0)
    needed = re.findall(r'\(NEEDED\)\s+Shared library: \[([^\]]+)\]', res.out)
    t.log(f'{len(exported)} exported symbols; NEEDED: {needed}')
    bad = [n for n in needed if re.match(r'lib(stdc\+\+|zstd|gcc_s)\b', n)]
    check(not bad, f'libckpt.so needs {bad} at run time (they must be linked in statically)')


# ------------------------------------------------------ other users

NOT_DUMPABLE = r'''
import ctypes, time
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)   # PR_SET_DUMPABLE 0
print('undumpable', flush=True)
time.sleep(60)
'''


@test
def owner_rules(t):
    """As an ordinary user: --checkpoint of one's own non-dumpable app says
    why it cannot (its /proc/PID/fd is hidden) instead of 'not under
    libckpt', and the app survives; --check of root's image says it cannot
    be restored, like --restore does."""
    from tests_threads import unprivileged_user
    user, uid = unprivileged_user(t)
    if user is None:
        raise TestSkip('not root: cannot switch to an ordinary user')
    script = t.path('undumpable.py')
    with open(script, 'w') as f:
        f.write(NOT_DUMPABLE)
    os.chmod(script, 0o644)
    app = t.launch([python3(), script], user=user)
    app.wait_ready()
    app.wait_output(r'^undumpable$')
    res = t.ckpt('--checkpoint', app.pid, user=user, timeout=30)
    check(res.rc != 0, 'checkpoint of a non-dumpable process by its user succeeded?: ' + res.describe())
    check('dumpable' in res.err and 'does not run under libckpt' not in res.err,
          'the refusal does not say the process is not dumpable: ' + res.describe())
    check(app.ref.alive(), 'the non-dumpable app died')
    t.log('refused: ' + res.err.strip())
    img = t.checkpoint(app)   # root can
    t.kill9(app)

    # An image of a root process: the ordinary user may neither check it ok nor restore it.
    root_app = t.launch([t.program('ticker'), '600', '50', '0'], images=t.path('root-imgs'))
    root_app.wait_ready()
    root_img = t.checkpoint(root_app)
    t.kill9(root_app)
    os.chmod(t.path('root-imgs'), 0o755)
    os.chmod(root_img.path, 0o644)
    for mode in ('--check', '--restore'):
        res = t.ckpt(mode, root_img.path, user=user, timeout=30)
        check(res.rc == 1 and 'belongs to uid 0' in res.err,
              f'{mode} of root\'s image as {user} must refuse naming the owner: ' + res.describe())
    t.log('root image refused to the ordinary user by --check and --restore')
    t.ckpt('--check', root_img.path, check_rc=0)
    t.ckpt('--check', img.path, user=user, check_rc=0)  # the user's own image
