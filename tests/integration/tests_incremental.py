"""Incremental images (issue 5): `--incremental` with both dirty-page
tracking backends (`--track=uffd`, `--track=mprotect`), image sizes against
what the application can have written, system calls into write-protected
memory, address-space changes and glibc's arena trimming between
checkpoints, an application's own SIGSEGV handling, the range API
(`ckpt_save_range`/`ckpt_load_range`), chains (`--compact`, a missing or
mismatched parent, a moved image directory, `--keep` with `--full-every`)
and checkpoints of a restored process.

Tests about tracking are registered once per backend (`NAME_uffd`,
`NAME_mprotect`, see `for_backends`). Fixtures: programs/incr_*.c; the phased
ones (`incr_mmaps`, `incr_arenas`) print `phase N done` and wait for the file
DIR/go-N, so that their checkpoints are taken at known points and the output
of a restore from image N must be exactly the undisturbed run's output after
`phase N done`."""

import os
import re
import shutil

from harness import (TestFailure, check, check_equal, check_memwalk_matches, check_same_lines, max_iter,
                     memwalk_lines, pid_exists, read_text, test)
from tests_threads import inspect

BACKENDS = ('uffd', 'mprotect')

# Size of an incremental image: at most the full image's size times the
# fraction of pages that can have been written in between, plus this margin
# (the stack, stdio buffers, libckpt's own pages, the manifest, block
# headers): 5% of the full image + 1 MiB.
SIZE_MARGIN_FRACTION = 0.05
SIZE_MARGIN_BYTES = 1 << 20


def for_backends(fn):
    """Registers fn(t, backend) as the tests FN_uffd and FN_mprotect."""
    for backend in BACKENDS:
        def run(t, backend=backend):
            fn(t, backend)
        run.__name__ = f'{fn.__name__}_{backend}'
        run.__doc__ = f'{fn.__doc__} (--track={backend})'
        test(run)
    return fn


def track_options(backend):
    return ['--incremental', f'--track={backend}']


def base(path):
    return os.path.basename(path.path if hasattr(path, 'path') else path)


def check_chain(t, images, backend=None, untracked=()):
    """images[0] is full, each later one incremental with the previous one
    as its parent (file name and image id); with `backend`, every image says
    it was tracked with it, and the tracker really tracked (check_tracked)
    except for the image indexes in `untracked`. Returns the --inspect
    documents."""
    docs = [inspect(t, img) for img in images]
    for k, (img, doc) in enumerate(zip(images, docs)):
        what = f'image {k + 1} ({base(img)})'
        if backend is not None:
            check_equal(doc.get('libckpt', {}).get('tracking'), backend, f'{what}: --inspect libckpt.tracking')
            if k not in untracked:
                check_tracked(doc, what, incremental=k > 0)
        if k == 0:
            check_equal(doc['parent'], None, f'{what}: parent of the first image (a full one)')
            check_equal(doc['image']['incremental'], False, f'{what}: "incremental" of the first image')
            continue
        parent = doc['parent']
        check(isinstance(parent, dict), f'{what}: not incremental (--inspect parent = {parent!r})')
        check_equal(doc['image']['incremental'], True, f'{what}: "incremental"')
        check_equal(parent.get('file_name'), base(images[k - 1]), f'{what}: parent file name')
        check_equal(parent.get('image_id'), docs[k - 1]['image']['image_id'], f'{what}: parent image id')
    return docs


def check_tracked(doc, what, incremental):
    """The tracker really tracked: it armed pages at this checkpoint and,
    for an incremental image, vouched for pages (classified them against
    the parent) and found some unchanged (PARENT runs in the image)."""
    lib = doc.get('libckpt', {})
    check(lib.get('armed_pages', 0) > 0, f'{what}: the tracker armed no pages for the next interval '
          f'(libckpt.armed_pages = {lib.get("armed_pages")!r})')
    if incremental:
        check(lib.get('vouched_pages', 0) > 0, f'{what}: the tracker vouched for no page '
              f'(libckpt.vouched_pages = {lib.get("vouched_pages")!r}): everything was saved as new')
        check(doc['image'].get('parent_pages', 0) > 0, f'{what}: no page is taken from the parent '
              f'(image.parent_pages = {doc["image"].get("parent_pages")!r})')


# -------------------------------------------------------------- idle process

TICKER_IDLE = ['250', '50', '0', '32']  # COUNT INTERVAL_MS EXIT HEAP_MIB
IDLE_HEAP_PAGES = 32 << 20 >> 12


def last_tick(text):
    return max((int(n) for n in re.findall(r'^tick (\d+) ', text, re.M)), default=0)


@for_backends
def incr_idle(t, backend):
    """A mostly idle process (ticker: a 32 MiB heap it only reads, a few
    words of state) checkpointed three times: the tracker armed at least
    the heap, vouched for it in each incremental image and found it
    unchanged (PARENT pages), so each incremental image is at most 2% of
    the full one; restored from the third, ticker ends with the undisturbed
    run's checksum."""
    argv = [t.program('ticker'), *TICKER_IDLE]
    ref = re.search(r'^done ticks=\d+ pid=\d+ (sum=\w+)$', t.reference(argv, timeout=60), re.M)
    check(ref, 'the undisturbed ticker did not finish')
    app = t.launch(argv, options=track_options(backend))
    app.wait_ready()
    app.wait_output(r'^tick 5 ')
    images = []
    for k in range(3):
        if k:
            app.wait_output(rf'^tick {last_tick(app.output()) + 5} ')
        images.append(t.checkpoint(app))
    t.kill9(app)
    docs = check_chain(t, images, backend)
    problems = []
    armed = docs[0]['libckpt']['armed_pages']
    if armed < IDLE_HEAP_PAGES:
        problems.append(f'image 1: the tracker armed {armed} pages, fewer than the 32 MiB heap ({IDLE_HEAP_PAGES})')
    for k in (1, 2):
        lib, img = docs[k]['libckpt'], docs[k]['image']
        t.log(f'image {k + 1}: {images[k].size} bytes (full: {images[0].size}); vouched {lib["vouched_pages"]}, '
              f'unchanged {lib["unchanged_pages"]}, data {img["data_pages"]}, parent {img["parent_pages"]} pages')
        if lib['vouched_pages'] < IDLE_HEAP_PAGES or img['parent_pages'] < IDLE_HEAP_PAGES:
            problems.append(f'image {k + 1}: vouched for {lib["vouched_pages"]} pages and took {img["parent_pages"]} '
                            f'from its parent: the idle 32 MiB heap ({IDLE_HEAP_PAGES} pages) should be both')
        if images[k].size > 0.02 * images[0].size:
            problems.append(f'image {k + 1} is {images[k].size} bytes, more than 2% of the full image '
                            f'({images[0].size} bytes) for an idle process')
    r = t.restore(images[2], continues=app)
    r.wait_ready()
    check_equal(r.wait_exit(60), 0, 'exit status of the restored ticker')
    done = re.search(r'^done ticks=\d+ pid=\d+ (sum=\w+)$', app.output(), re.M)
    check(done, 'the restored ticker did not print its done line')
    check_equal(done.group(1), ref.group(1), 'final checksum of the ticker restored from the third image')
    raise_problems(problems)


# ------------------------------------------------------------------ memwalk

# memwalk MIB DIRTY_PCT ITERS THREADS SLEEP_MS: each iteration writes one
# word in DIRTY_PCT% of the pages (chosen at random, with repetitions), so
# k iterations write at most k * DIRTY_PCT% of them.
MEMWALK_BIG = ['256', '2', '42', '1', '100']
DIRTY_FRACTION = 0.02


def incremental_size_problem(t, full, img, iters, what):
    """None if img (incremental) holds at most what `iters` memwalk
    iterations can have dirtied, as a fraction of the full image, plus the
    margin; otherwise the failure message. (Returned rather than raised so
    that a test can go on to check the restore and report both.)"""
    fraction = min(1.0, iters * DIRTY_FRACTION)
    limit = full.size * fraction + SIZE_MARGIN_FRACTION * full.size + SIZE_MARGIN_BYTES
    t.log(f'{what}: {img.size} bytes; full image {full.size}; {iters} iterations can have dirtied '
          f'{fraction:.0%} of the pages: limit {int(limit)} bytes')
    if img.size <= limit:
        return None
    return (f'{what} is {img.size} bytes: more than the full image ({full.size} bytes) x {fraction:.2f} '
            f'(the {iters} iterations between the two checkpoints dirty at most {iters} x 2% of the pages) '
            f'+ 5% + 1 MiB = {int(limit)} bytes')


def raise_problems(problems):
    if problems:
        raise TestFailure('\n'.join(problems))


def checkpoint_between(t, app, output_of=None):
    """Takes a checkpoint; returns (image, lo, hi): the last memwalk
    iteration printed before the request and after the image was written.
    The process was frozen after iteration lo's line and before iteration
    hi+1's."""
    output_of = output_of or app
    lo = max_iter(output_of.output())
    img = t.checkpoint(app)
    hi = max_iter(output_of.output())
    t.log(f'{app.tag}: frozen between iterations {lo} and {hi + 1}')
    return img, lo, hi


@for_backends
def incr_memwalk(t, backend):
    """memwalk at 256 MiB dirtying 2% per iteration: three checkpoints a few
    iterations apart; each incremental image is at most as big as the full
    one times the fraction the iterations in between can have dirtied (plus
    5% + 1 MiB); restored from the third image, memwalk ends with the
    undisturbed run's hashes."""
    mw = t.memwalk()
    ref = memwalk_lines(t.reference([mw, *MEMWALK_BIG], timeout=120))

    app = t.launch([mw, *MEMWALK_BIG], options=track_options(backend))
    app.wait_ready()
    app.wait_output(r'^iter 3 ', timeout=60)
    taken = []
    for k in range(3):
        if k:
            app.wait_output(rf'^iter {taken[-1][2] + 5} ', timeout=60)
        taken.append(checkpoint_between(t, app))
    t.kill9(app)

    images = [img for img, _, _ in taken]
    check_chain(t, images, backend)
    problems = []
    for k in (1, 2):
        # Iterations lo_prev+1 .. hi+1 may have written between the freezes.
        iters = taken[k][2] + 1 - taken[k - 1][1]
        problems.append(incremental_size_problem(t, images[0], images[k], iters, f'incremental image {k + 1}'))
    problems = [p for p in problems if p]

    r = t.restore(images[2], continues=app)
    r.wait_ready(timeout=60)
    check_equal(r.wait_exit(120), 0, 'exit status of memwalk restored from the third image')
    check_memwalk_matches(app.output(), ref, 'memwalk restored from the third image')
    raise_problems(problems)


# ------------------------------------------------------------ system calls

SYSCALL_ROUNDS = ['2000', '2']  # ROUNDS SLEEP_MS


def round_lines(text):
    """`round N ...` and `final ...` lines, as a sorted list of unique lines."""
    return sorted({l for l in text.splitlines() if re.match(r'^(round \d+|final) ', l)})


def check_no_fail(text, what):
    fails = [l for l in text.splitlines() if l.startswith('FAIL')]
    check(not fails, f'{what}: ' + '; '.join(fails[:5]))


def check_rounds_match(text, ref, what):
    """The fixture's round/final lines equal the undisturbed run's."""
    check_no_fail(text, what)
    check(re.search(r'^final ', text, re.M), f'{what}: no final line (last lines: {text.splitlines()[-3:]})')
    check_same_lines(round_lines(text), round_lines(ref), f'{what}: round/final lines vs. the undisturbed run')


def max_rounds(text):
    return max((int(n) for n in re.findall(r'^round (\d+)\b', text, re.M)), default=-1)


def checkpoint_rounds(t, app, backend, count, rounds_between, what):
    """Checkpoints a running round-printing fixture `count` times, letting it
    print `rounds_between` more rounds after each, checks that no call
    failed, kills it and checks the chain; returns the images."""
    images = []
    for k in range(count):
        images.append(t.checkpoint(app))
        check_no_fail(app.output(), f'{what} after checkpoint {k + 1}')
        app.wait_output(rf'^round {max_rounds(app.output()) + rounds_between}\b')
    check_no_fail(app.output(), f'{what} before the kill')
    t.kill9(app)
    check_chain(t, images, backend)
    return images


@for_backends
def incr_syscalls(t, backend):
    """A program whose heap buffers are written only by the kernel (pread,
    fstat, stat, readv, recv on a socketpair, readdir) is checkpointed
    incrementally 20 times: no call fails, and restored from the last image
    it prints what an undisturbed run prints."""
    prog = t.program('incr_syscalls')
    os.mkdir(t.path('ref'))
    ref = t.reference([prog, t.path('ref'), *SYSCALL_ROUNDS], timeout=120)
    check_no_fail(ref, 'undisturbed incr_syscalls')

    os.mkdir(t.path('run'))
    app = t.launch([prog, t.path('run'), *SYSCALL_ROUNDS], options=track_options(backend))
    app.wait_ready()
    app.wait_output(r'^round 5 ')
    images = checkpoint_rounds(t, app, backend, 20, 2, 'incr_syscalls')

    r = t.restore(images[-1], continues=app)
    r.wait_ready()
    check_equal(r.wait_exit(120), 0, 'exit status of incr_syscalls restored from the 20th image')
    check_rounds_match(app.output(), ref, 'incr_syscalls restored from the 20th image')


@for_backends
def incr_kwrites(t, backend):
    """Every kind of call through which the kernel writes into the caller's
    memory (signal masks and waits, epoll, poll, select, affinity, ids,
    prctl, thread names, mincore, timers, capget, process_vm_readv, CPU-time
    clocks, raw syscall(2) reads, readv, recvmmsg, stat-like calls, wait4,
    waitid, MADV_POPULATE_WRITE, a stdio stream opened after a checkpoint),
    aimed at heap pages the program does not write itself, across eight
    incremental checkpoints and after a restore from the last: no call
    fails."""
    prog = t.program('incr_kwrites')
    app = t.launch([prog, '400', '5'], options=track_options(backend))
    app.wait_ready()
    app.wait_output(r'^round 3$')
    images = checkpoint_rounds(t, app, backend, 8, 2, 'incr_kwrites')
    r = t.restore(images[-1], continues=app)
    r.wait_ready()
    rc = r.wait_exit(120)
    check_no_fail(app.output(), 'incr_kwrites restored from the last image')
    check(re.search(r'^final ok$', app.output(), re.M), f'incr_kwrites did not end with "final ok": '
          f'{app.output().splitlines()[-3:]}')
    check_equal(rc, 0, 'exit status of the restored incr_kwrites')




@for_backends
def incr_race(t, backend):
    """Two threads pread(2) into the same chunks of a 160 MiB process (the
    mprotect backend protects it in chunks of several pages) across eight
    checkpoints: no call fails with EFAULT (a thread whose destination
    another thread is unprotecting waits for it)."""
    run = t.path('run')
    os.mkdir(run)
    app = t.launch([t.program('incr_race'), run, '160'], options=track_options(backend))
    app.wait_ready()
    app.wait_output(r'^ready$')
    images = [t.checkpoint(app) for _ in range(8)]
    open(os.path.join(run, 'stop'), 'w').close()
    check_equal(app.wait_exit(60), 0, 'exit status of incr_race')
    out = app.output()
    check_no_fail(out, 'incr_race')
    m = re.search(r'^efault (\d+) (\d+) calls (\d+) (\d+)$', out, re.M)
    check(m, f'incr_race printed no efault line: {out[-300:]!r}')
    t.log(m.group(0))
    check(int(m.group(3)) > 0 and int(m.group(4)) > 0, f'a reader thread made no call: {m.group(0)}')
    check_equal((int(m.group(1)), int(m.group(2))), (0, 0), 'pread calls that failed with EFAULT (per thread)')
    check_chain(t, images, backend)


# ------------------------------------------- phased fixtures: every image

def go(run_dir, n):
    open(os.path.join(run_dir, f'go-{n}'), 'w').close()


def comparable(text):
    """The lines of a phased fixture that must equal the undisturbed run's
    (the `addr` lines hold addresses, which differ from run to run)."""
    return [l for l in text.splitlines() if not l.startswith('addr ')]


def after_phase(lines, n):
    marker = f'phase {n} done'
    check(marker in lines, f'the undisturbed run printed no {marker!r}')
    return lines[lines.index(marker) + 1:]


def phased_chain(t, backend, argv_for, phases, check_restored=None, untracked=()):
    """Runs a phased fixture (argv_for(DIR)) undisturbed, then under
    --incremental with a checkpoint at each phase, to its end; then restores
    every image in turn: each restored run prints exactly the undisturbed
    run's lines after the phase its image was taken at.
    check_restored(restore_app, n, image, launch_app) runs while the
    restored process still waits for DIR/go-N. `untracked`: see
    check_chain. Returns the --inspect documents of the images."""
    ref_dir, run_dir = t.path('ref'), t.path('run')
    os.mkdir(ref_dir)
    os.mkdir(run_dir)
    for n in range(phases):
        go(ref_dir, n)
    ref = comparable(t.reference(argv_for(ref_dir), timeout=120))
    check(ref and ref[-1].startswith('final '), f'the undisturbed run did not end with a final line: {ref[-3:]}')

    app = t.launch(argv_for(run_dir), options=track_options(backend), capture='pipe')
    app.wait_ready()
    images = []
    for n in range(phases):
        app.wait_output(rf'^phase {n} done$', timeout=60)
        images.append(t.checkpoint(app))
        go(run_dir, n)
    check_equal(app.wait_exit(60), 0, 'exit status of the checkpointed (not restored) run')
    check_equal(comparable(app.output()), ref, 'output of the checkpointed run vs. the undisturbed run')
    docs = check_chain(t, images, backend, untracked)

    problems = []  # every image is restored, then all differences are reported
    for n, img in enumerate(images):
        os.unlink(os.path.join(run_dir, f'go-{n}'))  # hold the restored process at phase n
        r = t.restore(img, capture='pipe', tag=f'restore-image{n + 1}-')
        r.wait_ready(timeout=60)
        what = f'restored from image {n + 1} (phase {n})'
        try:
            if check_restored:
                check_restored(r, n, img, app)
        except TestFailure as e:
            problems.append(str(e))
        go(run_dir, n)
        rc = r.wait_exit(60)
        if rc != 0:
            problems.append(f'exit status {what}: {rc}')
        problems += line_differences(comparable(r.output()), after_phase(ref, n), f'output {what}')
    raise_problems(problems)
    return docs


def line_differences(actual, expected, what, show=8):
    """Messages for the lines where two outputs differ (none if equal)."""
    if actual == expected:
        return []
    diffs = [f'{what}: differs from the undisturbed run ({len(actual)} lines, expected {len(expected)}):']
    for i in range(max(len(actual), len(expected))):
        a = actual[i] if i < len(actual) else '(none)'
        e = expected[i] if i < len(expected) else '(none)'
        if a != e:
            diffs.append(f'  line {i + 1}: got {a!r}, expected {e!r}')
    return diffs[:show + 1]


# incr_mmaps: regions the program set to these protections (its `addr` lines)
PROT_BITS = {'rw': 3, 'r-': 1, '--': 0}


def addr_lines(text, n):
    """{name: (start, end, prot)} from the `addr` lines of phase n."""
    block = re.split(r'^phase \d+ done$', text, flags=re.M)[n]
    out = {}
    for m in re.finditer(r'^addr (\w+) 0x([0-9a-f]+) 0x([0-9a-f]+) ([r-][w-])$', block, re.M):
        out[m.group(1)] = (int(m.group(2), 16), int(m.group(3), 16), m.group(4))
    check(out, f'incr_mmaps printed no addr lines in phase {n}')
    return out


def proc_maps(pid):
    """[(start, end, perms)] of /proc/PID/maps."""
    out = []
    for line in read_text(f'/proc/{pid}/maps').splitlines():
        rng, perms = line.split()[:2]
        s, e = (int(x, 16) for x in rng.split('-'))
        out.append((s, e, perms))
    return out


def covering(spans, start, end):
    """The spans overlapping [start, end), or None if they leave a hole."""
    hits = sorted((s, e, p) for s, e, p in spans if s < end and e > start)
    pos = start
    for s, e, _ in hits:
        if s > pos:
            return None
        pos = max(pos, e)
    return hits if pos >= end else None


def check_mmaps_restored(t, backend):
    """check_restored for phased_chain: the regions incr_mmaps printed
    before image n+1 are in the image with the program's protection, wholly
    mapped in the restored process with that protection (read-write ones
    may show the mprotect tracker's read-only), and the hole munmapped out
    of A is not mapped."""
    def check_restored(r, n, img, app):
        regions = addr_lines(app.output(), n)
        doc = inspect(t, img)
        in_image = [(g['start'], g['end'], g['prot']) for g in doc['regions']]
        live = proc_maps(r.pid)
        for name, (start, end, prot) in regions.items():
            what = f'image {n + 1}: region {name} [{start:#x}, {end:#x}) ({prot} in the program)'
            saved = covering(in_image, start, end)
            check(saved is not None, f'{what}: not wholly in the image\'s regions')
            check(all(p == PROT_BITS[prot] for _, _, p in saved),
                  f'{what}: protection in the image {[p for _, _, p in saved]}, expected {PROT_BITS[prot]}')
            mapped = covering(live, start, end)
            check(mapped is not None, f'{what}: not wholly mapped in the restored process')
            perms = {p[:2] for _, _, p in mapped}
            allowed = {prot} if prot != 'rw' or backend != 'mprotect' else {'rw', 'r-'}  # tracker's protection
            check(perms <= allowed, f'{what}: the restored process has it {sorted(perms)} in /proc/PID/maps')
        if 'A1' in regions and 'A2' in regions:  # the hole munmapped out of A
            hole = (regions['A1'][1], regions['A2'][0])
            if not [g for g in in_image if g[0] < hole[1] and g[1] > hole[0]]:
                stray = [g for g in live if g[0] < hole[1] and g[1] > hole[0]]
                check(not stray, f'image {n + 1}: the munmapped hole of A [{hole[0]:#x}, {hole[1]:#x}) is '
                      f'mapped in the restored process: {stray}')
    return check_restored


@for_backends
def incr_mmaps(t, backend):
    """mmap, munmap (a split), mremap (grow, move, shrink), mprotect
    (read-only, PROT_NONE, back), MADV_DONTNEED (anonymous and private file
    pages) between four incremental checkpoints: restored from each image,
    the regions have the program's protection and the run ends exactly like
    the undisturbed one (same region checksums, same final sum)."""
    prog = t.program('incr_mmaps')
    phased_chain(t, backend, lambda d: [prog, d], 4, check_mmaps_restored(t, backend))


@for_backends
def incr_remap(t, backend):
    """Mappings moved, grown and replaced by calls libckpt does not see or
    sees only as syscall(2): realloc of a large block (glibc's internal
    mremap), syscall(SYS_mremap), inline-assembly mremap (move, grow in
    place, and a region moved onto the address of another one that was
    unmapped, without writing it), syscall(SYS_mprotect), sbrk shrinking
    and growing. The program keeps working (writes into moved and grown
    memory do not crash it) and, restored from each image, every region is
    exactly the undisturbed run's."""
    prog = t.program('incr_remap')

    def check_restored(r, n, img, app):
        # Read-only anonymous memory in the image: only RO, in image 2 (the
        # protection moved memory carried was libckpt's, not the program's).
        ro = [(g['start'], g['end'] - g['start']) for g in inspect(t, img)['regions']
              if g['kind'] == 'anonymous' and g['prot'] == 1]
        check_equal(sum(size for _, size in ro), 1 << 20 if n == 1 else 0,
                    f'image {n + 1}: bytes of read-only anonymous memory ({[hex(s) for s, _ in ro]})')
    phased_chain(t, backend, lambda d: [prog, d], 4, check_restored)


@for_backends
def incr_arenas(t, backend):
    """Four threads and the main thread allocate, free (the heap tops
    first), malloc_trim, calloc and realloc between four incremental
    checkpoints, so that glibc shrinks and grows its arenas with calls no
    interposer sees: restored from each image, every block is intact and
    the run ends exactly like the undisturbed one."""
    prog = t.program('incr_arenas')
    phased_chain(t, backend, lambda d: [prog, d, '4'], 4)


@for_backends
def incr_zap(t, backend):
    """Pages discarded without a write fault in a 160 MiB region (the
    mprotect backend tracks it in chunks of several pages): MADV_DONTNEED
    then a read (a zero page present) before the first write to the chunk,
    MADV_FREE + MADV_PAGEOUT, MADV_DONTNEED with the same contents written
    back, a page overwritten with zeros. Restored from each image, the
    region is exactly the undisturbed run's (no stale parent page)."""
    prog = t.program('incr_zap')
    phased_chain(t, backend, lambda d: [prog, d, '160'], 4)


@for_backends
def incr_procmem(t, backend):
    """Writes through /proc/self/mem (which need no write permission, so
    the mprotect backend's protection does not fault on them): a descriptor
    kept open across a checkpoint, then fopen, syscall(SYS_openat) of
    /proc/thread-self/mem and openat of /proc/PID/task/TID/mem, each closed
    at once. Restored from each image, the buffer is exactly the
    undisturbed run's; the mprotect backend tracks nothing while the file
    is open at a checkpoint, and tracks again once it is closed."""
    prog = t.program('incr_procmem')
    # mprotect: opening the memory file for writing forgets what the tracker
    # vouched for, and nothing is tracked while it is open at a checkpoint
    # (image 2: open since phase 1; closed during phase 2).
    untracked = (1, 2, 3) if backend == 'mprotect' else ()
    docs = phased_chain(t, backend, lambda d: [prog, d], 4, untracked=untracked)
    if backend == 'mprotect':
        armed = [d['libckpt']['armed_pages'] for d in docs]
        t.log(f'armed pages per image: {armed}')
        check(armed[0] > 0 and armed[2] > 0 and armed[3] > 0, f'the tracker did not track while the memory file '
              f'was not open (armed pages per image: {armed})')
        check_equal(armed[1], 0, 'pages armed while /proc/self/mem was open for writing')


@for_backends
def incr_shared(t, backend):
    """Shared memory written behind the process's page tables between four
    incremental checkpoints: a fork child writing MAP_SHARED anonymous pages
    (some the process never touched), pwrite(2) and fallocate(PUNCH_HOLE)
    on a mapped memfd, writes through a second mapping of it, MADV_REMOVE;
    the process also drops its own page-table entries for the shared pages
    after each phase. Restored from each image (the full one included),
    the shared regions hold exactly what the undisturbed run had."""
    prog = t.program('incr_shared')
    phased_chain(t, backend, lambda d: [prog, d], 4)


# ------------------------------------------------------- own SIGSEGV handler

SIGSEGV_ROUNDS = ['300', '10']  # ROUNDS SLEEP_MS


@for_backends
def incr_sigsegv(t, backend):
    """An application with its own SIGSEGV handlers (SA_SIGINFO fixing a
    PROT_NONE page and returning, one leaving with siglongjmp, one installed
    with signal()) keeps working across five incremental checkpoints and
    after a restore from the last: sigaction(SIGSEGV, NULL, &old) reports its
    own handler, and the output equals an undisturbed run's."""
    prog = t.program('incr_sigsegv')
    ref = t.reference([prog, *SIGSEGV_ROUNDS], timeout=60)
    check_no_fail(ref, 'undisturbed incr_sigsegv')

    app = t.launch([prog, *SIGSEGV_ROUNDS], options=track_options(backend))
    app.wait_ready()
    app.wait_output(r'^round 5 ')
    images = checkpoint_rounds(t, app, backend, 5, 8, 'incr_sigsegv')

    r = t.restore(images[-1], continues=app)
    r.wait_ready()
    rc = r.wait_exit(60)
    check_no_fail(app.output(), 'restored incr_sigsegv')
    check_equal(rc, 0, 'exit status of the restored incr_sigsegv')
    check_rounds_match(app.output(), ref, 'incr_sigsegv restored from the 5th image')


# ------------------------------------------------------- threads' own memory

@for_backends
def incr_tls(t, backend):
    """A program with 64 KiB of static TLS in two threads (its TLS blocks
    span pages apart from the thread control blocks, which libckpt's
    handlers write with SIGSEGV blocked) survives four incremental
    checkpoints; restored from each image, both threads' TLS and the heap
    are exactly the undisturbed run's."""
    prog = t.program('incr_tls')
    phased_chain(t, backend, lambda d: [prog, d], 4)


# ------------------------------------------------------------ in-app API

@for_backends
def incr_api(t, backend):
    """Four checkpoints the program requests itself (ckpt_checkpoint) with
    callbacks that write memory (run in libckpt's coordinator thread, where
    a write fault must be handled like anywhere else): the program runs to
    its end, the images form a chain, and each one restored holds the table
    and the callback counters exactly as they were in it."""
    app = t.launch([t.program('incr_api')], options=track_options(backend), capture='pipe')
    check_equal(app.wait_exit(120), 0, 'exit status of incr_api')
    out = app.output()
    check_no_fail(out, 'incr_api')
    steps = re.findall(r'^step (\d) h=(\w+) image (\S+)$', out, re.M)
    check_equal([int(n) for n, _, _ in steps], [1, 2, 3, 4], f'checkpoints incr_api reported ({out[-300:]!r})')
    check_chain(t, [p for _, _, p in steps], backend)
    problems = []
    for n, h, path in steps:
        r = t.restore(path, capture='pipe', tag=f'restore-image{n}-')
        rc = r.wait_exit(60)
        m = re.search(rf'^after {n} h=(\w+)$', r.output(), re.M)
        if rc != 0 or not m or m.group(1) != h:
            problems.append(f'restored from image {n}: exit {rc}, printed {r.output()[-200:]!r}; '
                            f'expected "after {n} h={h}"')
    raise_problems(problems)


# ------------------------------------------------------ exclude / include

def check_exclusions_recorded(t):
    """check_restored for incr_exclude: images 1 and 2 record BUF and
    PART as excluded (2 MiB + 8 pages), image 3 PART's two pages on each
    side of what was included again, image 4 nothing."""
    def check_restored(r, n, img, app):
        excluded = inspect(t, img).get('excluded')
        check(isinstance(excluded, list), f'image {n + 1}: no "excluded" list in --inspect')
        size = sum(x['end'] - x['start'] for x in excluded)
        want = {0: (2 << 20) + 8 * 4096, 1: (2 << 20) + 8 * 4096, 2: 4 * 4096, 3: 0}[n]
        check_equal(size, want, f'image {n + 1}: bytes the manifest lists as excluded ({excluded!r})')
    return check_restored


@for_backends
def incr_exclude(t, backend):
    """ckpt_exclude() of a 2 MiB buffer and of 8 pages (in two calls), then
    ckpt_include() of the buffer (not written since) and of 4 pages across
    the two excluded ranges, then of the rest: restored from each image, the
    included parts hold exactly what the undisturbed run had (the first
    image after an include holds them in full: its parent left them out),
    and each image's manifest lists what it left out."""
    prog = t.program('incr_exclude')
    phased_chain(t, backend, lambda d: [prog, d], 4, check_exclusions_recorded(t))


# ------------------------------------------------------------- range API

RANGE_PAGES = 64 << 20 >> 12


@test
def incr_range_api(t):
    """ckpt_save_range of a 64 MiB array, 1% of its pages changed, saved
    again: the second file holds only the changed pages (at most 5% of the
    first file's size); after scribbling, ckpt_load_range of each file gives
    back exactly what was saved (pages that became zero are zero). The same
    path saved twice, and a chain's first file replaced, load the newest
    contents (the image replaced cannot be a parent) and the orphaned image
    is refused; a range with a PROT_NONE page saves and loads; a load into
    read-only memory fails with EFAULT. Without ckpt-run the program says so
    and exits 77."""
    prog = t.program('incr_range')
    res = t.run([prog, t.tmp])
    check(res.rc == 77 and 'no libckpt' in res.out,
          'incr_range without ckpt-run should say "no libckpt" and exit 77: ' + res.describe())

    ranges = t.path('ranges')
    os.mkdir(ranges)
    app = t.launch([prog, ranges])
    app.wait_ready()
    rc = app.wait_exit(120)
    out = app.output()
    check_no_fail(out, 'incr_range under ckpt-run')
    check_equal(rc, 0, 'exit status of incr_range under ckpt-run')
    saved = {int(n): (int(size), h) for n, size, h in re.findall(r'^saved (\d) size=(\d+) h=(\w+)$', out, re.M)}
    loaded = {int(n): h for n, h in re.findall(r'^loaded (\d) h=(\w+)$', out, re.M)}
    check(sorted(saved) == [1, 2] and sorted(loaded) == [1, 2] and re.search(r'^done$', out, re.M),
          f'incr_range printed {out[-400:]!r}')
    for ok in ('same path ok', 'replaced parent ok', 'prot_none ok', 'read-only refused ok'):
        check(re.search(rf'^{ok}$', out, re.M), f'incr_range did not print {ok!r}: {out[-400:]!r}')
    check_equal(loaded[2], saved[2][1], 'checksum after ckpt_load_range of range-2.img (vs. when saved)')
    check_equal(loaded[1], saved[1][1], 'checksum after ckpt_load_range of range-1.img (vs. when saved)')
    size1, size2 = saved[1][0], saved[2][0]
    t.log(f'range images: {size1} and {size2} bytes ({size2 / size1:.2%})')
    check(size2 <= 0.05 * size1, f'range-2.img is {size2} bytes, more than 5% of range-1.img ({size1} bytes) '
          f'for 1% of the pages changed')

    first = inspect(t, os.path.join(ranges, 'range-1.img'))
    second = inspect(t, os.path.join(ranges, 'range-2.img'))
    check_equal(first['parent'], None, 'parent of range-1.img')
    check_equal((second['parent'] or {}).get('file_name'), 'range-1.img', 'parent file name of range-2.img')
    nonzero = sum(1 for p in range(RANGE_PAGES) if p % 10)
    changed = sum(1 for p in range(55, RANGE_PAGES, 100) if (p // 100) % 4)
    check_equal(first['image']['data_pages'], nonzero, 'data pages in range-1.img (the non-zero pages)')
    check_equal(second['image']['data_pages'], changed, 'data pages in range-2.img (the changed, non-zero pages)')


# ------------------------------------------------------------------ chains

MEMWALK_CHAIN = ['32', '3', '120', '1', '25']


def restore_to_end(t, image, tag, launch_output, ref, what):
    """Restores image (a memwalk launched with capture='pipe'), runs it to
    its end; its output with the launch's equals the undisturbed run's.
    Returns the restored part of the output."""
    r = t.restore(image, capture='pipe', tag=tag)
    r.wait_ready(timeout=30)
    check_equal(r.wait_exit(60), 0, f'exit status of memwalk {what}')
    check_memwalk_matches(launch_output + r.output(), ref, f'memwalk {what}')
    return memwalk_lines(r.output())


def check_refused(t, image, name, what):
    """--restore of image fails (nonzero, below 124) with a message naming
    `name`, and leaves no process behind."""
    r = t.restore(image, capture='pipe', tag='refused-')
    rc = r.wait_exit(30)
    err = read_text(r.launcher_err)
    check(rc != 0 and rc < 124, f'{what}: --restore exited {rc} (expected a failure status, 1..123); '
          f'stderr: {err.strip()[-400:]!r}')
    check(name in err, f'{what}: the message does not name {name}: {err.strip()[-400:]!r}')
    pid = r.read_pid_file()
    check(pid is None or not pid_exists(pid), f'{what}: the process {pid} is left behind')
    t.reap_orphans()
    check_equal(t.children(), [], f'{what}: processes left behind')


@test
def incr_chain_tools(t):
    """A chain of four images (full + 3 incremental): restores; `--compact`
    makes one full image that restores to the same point and result; the
    whole directory moved elsewhere still restores (parents looked up next
    to the image, even with other files of those names at the old place); a
    middle parent replaced by another image or deleted makes --restore fail
    naming it, with no process left behind."""
    mw = t.memwalk()
    ref = memwalk_lines(t.reference([mw, *MEMWALK_CHAIN]))
    app = t.launch([mw, *MEMWALK_CHAIN], options=['--incremental'], capture='pipe')
    app.wait_ready()
    app.wait_output(r'^iter 5 ')
    images = []
    for k in range(4):
        if k:
            app.wait_output(rf'^iter {max_iter(app.output()) + 5} ')
        images.append(t.checkpoint(app))
    t.kill9(app)
    check_chain(t, images)
    launched = app.output()

    chain_lines = restore_to_end(t, images[3], 'chain-', launched, ref, 'restored from the chain')
    problems = []  # each part is checked, then all failures are reported

    def compacted():
        compact = t.path('compact.img')
        res = t.ckpt('--compact', images[3].path, '-o', compact, timeout=120)
        check(res.rc == 0 and os.path.isfile(compact), '--compact failed: ' + res.describe())
        doc = inspect(t, compact)
        check_equal(doc['parent'], None, 'parent of the compacted image')
        check_equal(doc['image']['incremental'], False, '"incremental" of the compacted image')
        check_equal(restore_to_end(t, compact, 'compact-', launched, ref, 'restored from the compacted image'),
                    chain_lines, 'output restored from the compacted image vs. from the chain')
    collect(problems, compacted)

    moved = t.path('moved')
    os.rename(app.images, moved)
    # Other images under the old names at the old place: a restore that
    # looked there first would find the wrong parents.
    os.mkdir(app.images)
    for img in images[1:3]:
        shutil.copyfile(os.path.join(moved, base(images[0])), img.path)
    newest = os.path.join(moved, base(images[3]))
    collect(problems, lambda: check_equal(
        restore_to_end(t, newest, 'moved-', launched, ref, 'restored from the moved directory'),
        chain_lines, 'output restored from the moved directory vs. from the original place'))

    middle = os.path.join(moved, base(images[1]))
    shutil.copyfile(os.path.join(moved, base(images[0])), middle)
    collect(problems, check_refused, t, newest, base(images[1]), 'a chain whose middle parent is another image')
    os.unlink(middle)
    shutil.rmtree(app.images)
    collect(problems, check_refused, t, newest, base(images[1]), 'a chain whose middle parent is missing')
    raise_problems(problems)


def collect(problems, fn, *args):
    """Runs a check; a failure is appended to problems instead of raised."""
    try:
        fn(*args)
    except TestFailure as e:
        problems.append(str(e))


@test
def incr_keep_full_every(t):
    """--incremental --keep 2 --full-every 3: every third image is full
    (images 1, 4, 7), each incremental one has the previous image as parent,
    and after each checkpoint the directory holds exactly the newest two
    images and the images they depend on; the newest restores."""
    mw = t.memwalk()
    args = ['32', '3', '200', '1', '20']
    ref = memwalk_lines(t.reference([mw, *args]))
    app = t.launch([mw, *args], options=['--incremental', '--keep', '2', '--full-every', '3'], capture='pipe')
    app.wait_ready()
    app.wait_output(r'^iter 3 ')
    parent_of, order = {}, []
    for k in range(1, 8):
        img = t.checkpoint(app)
        name = base(img)
        check(name not in order, f'checkpoint {k} reused the name {name}')
        doc = inspect(t, img)
        parent_of[name] = (doc['parent'] or {}).get('file_name')
        full = (k - 1) % 3 == 0
        check_equal(doc['image']['incremental'], not full, f'image {k} ({name}) "incremental" '
                    f'(with --full-every 3 images 1, 4, 7 are full)')
        if not full:
            check_equal(parent_of[name], order[-1], f'parent of image {k}')
        order.append(name)
        needed = set()
        for n in order[-2:]:
            while n:
                needed.add(n)
                n = parent_of[n]
        present = {f for f in os.listdir(app.images) if f.endswith('.img')}
        check(needed <= present, f'after checkpoint {k}: retention deleted {sorted(needed - present)}, '
              f'needed by the newest two images (present: {sorted(present)})')
        check_equal(sorted(present), sorted(needed), f'images left after checkpoint {k} (the newest two '
                    f'and their parents; retention is done once --checkpoint returns)')
        app.wait_output(rf'^iter {max_iter(app.output()) + 3} ')
    t.kill9(app)
    restore_to_end(t, img, 'newest-', app.output(), ref, 'restored from the newest image')


# ---------------------------------------------------- checkpoint a restored

@for_backends
def incr_after_restore(t, backend):
    """A process restored from an incremental image and checkpointed again
    writes an incremental image whose parent is the image it was restored
    from (a new file: the older ones untouched), no bigger than what the
    iterations since can have dirtied; restored from that one, memwalk ends
    with the undisturbed run's hashes."""
    mw = t.memwalk()
    args = ['64', '2', '100', '1', '40']
    ref = memwalk_lines(t.reference([mw, *args], timeout=60))
    app = t.launch([mw, *args], options=track_options(backend))
    app.wait_ready()
    app.wait_output(r'^iter 3 ')
    img1 = t.checkpoint(app)
    app.wait_output(rf'^iter {max_iter(app.output()) + 5} ')
    img2, lo2, _ = checkpoint_between(t, app)
    t.kill9(app)
    docs = check_chain(t, [img1, img2], backend)

    seen = max_iter(app.output())
    r = t.restore(img2, continues=app)
    r.wait_ready(timeout=30)
    r.wait_output(rf'^iter {seen + 8} ', timeout=60)
    img3, _, hi3 = checkpoint_between(t, r, output_of=app)
    check(img3.path not in (img1.path, img2.path), f'the restored process wrote over {img3.path}')
    doc3 = check_chain(t, [img1, img2, img3], backend)[2]
    for img, doc in ((img1, docs[0]), (img2, docs[1])):
        check_equal(inspect(t, img)['image']['content_hash'], doc['image']['content_hash'],
                    f'{base(img)} after the restored process\'s checkpoint')
    t.log(f'image 3: parent {doc3["parent"]["file_name"]}, {doc3["image"]["data_pages"]} data pages')
    problem = incremental_size_problem(t, img1, img3, hi3 + 1 - lo2, 'the restored process\'s incremental image')
    t.kill9(r)

    r2 = t.restore(img3, continues=app)
    r2.wait_ready(timeout=30)
    check_equal(r2.wait_exit(60), 0, 'exit status of memwalk restored from the third image')
    check_memwalk_matches(app.output(), ref, 'memwalk restored from the image of a restored process')
    raise_problems([problem] if problem else [])
