#!/usr/bin/env python3
"""libckpt benchmark: checkpoint and restore times, image sizes, as ratios to
this machine's own limits measured in the same run.

Steps (each bounded in time; every process started here is killed by pid at
the end, temporary files removed):

1. machine limits (the `machine_limits` helper): memcpy bandwidth, zstd
   level-1 compression/decompression throughput on memwalk's kind of data,
   MADV_POPULATE_WRITE and first-touch page-fault speed;
2. for each memwalk size: launch `memwalk MIB 2 ITERS 1 SLEEP_MS` under
   `ckpt-run`, wait for `ready`, checkpoint it REPS times
   (`ckpt-run --verbose --checkpoint`), kill -9 it, then restore the last
   image REPS times, each time killing the restored application once it has
   printed its first `iter` line;
3. the same for a 64 GiB MAP_NORESERVE reservation with 100 touched pages.

Prints a table on stdout and writes JSON (default BUILD/bench/results/latest.json).
Python 3 standard library only. See bench/README.md for what each number means.
"""

import argparse
import ctypes
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PR_SET_CHILD_SUBREAPER = 36
MIB = 1 << 20

CKPT_RE = re.compile(r'ckpt-run: process (\d+): image (\S+), (\d+) bytes, frozen ([\d.]+) ms, done in ([\d.]+) ms')
INPLACE_RE = re.compile(r'ckpt-run: (\d+) pages in place in ([\d.]+) ms')
RESTORED_RE = re.compile(r'ckpt-run: restored pid (\d+) from (\S+) in ([\d.]+) ms')
# libckpt's own report (launch --verbose), written by the process that wrote the image.
WRITTEN_RE = r'checkpoint written to {} \((\d+) bytes; frozen (\d+) ms, of which capture (\d+) ms; ' \
             r'pages (\d+) ms; fsync\+rename (\d+) ms\)'
TICK_RE = re.compile(r'^(?:iter|tick) \d+ t=(\d+)')


class BenchError(Exception):
    """A step failed or timed out; the message says which."""


# ------------------------------------------------------------------ processes

def proc_stat(pid):
    """(state, ppid, starttime) of pid, or None if it does not exist."""
    try:
        with open(f'/proc/{pid}/stat', 'rb') as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = data[data.rindex(b')') + 2:].split()
    return fields[0].decode(), int(fields[1]), int(fields[19])


class ProcRef:
    """A process identified by pid and start time: a recycled pid is never signalled."""

    def __init__(self, pid):
        self.pid = pid
        st = proc_stat(pid)
        self.starttime = st[2] if st else None

    def is_same(self):
        st = proc_stat(self.pid)
        return st is not None and st[2] == self.starttime

    def kill9(self):
        if self.is_same():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap_if_child(self):
        """Reaps it if it is (now) our zombie child: orphans come to us (subreaper)."""
        st = proc_stat(self.pid)
        if st and st[2] == self.starttime and st[1] == os.getpid():
            try:
                os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pass


def wait_until(pred, timeout, what, interval=0.01):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise BenchError(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(interval)


class LineReader(threading.Thread):
    """Collects a pipe's lines with the monotonic time each arrived."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines = []  # (monotonic seconds, text)
        self.cond = threading.Condition()
        self.start()

    def run(self):
        for raw in iter(self.pipe.readline, b''):
            now = time.monotonic()
            with self.cond:
                self.lines.append((now, raw.decode('utf-8', 'replace').rstrip('\n')))
                self.cond.notify_all()
        self.pipe.close()
        with self.cond:
            self.lines.append((time.monotonic(), None))  # end of stream
            self.cond.notify_all()

    def wait_for(self, regex, timeout, what, start=0, accept=None):
        """(index, arrival time, match) of the first line from index start
        matching regex (and accept(match), if given)."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    t, text = self.lines[i]
                    if text is None:
                        raise BenchError(f'output ended while waiting for {what}; last lines: '
                                         f'{[l for _, l in self.lines[-4:]]}')
                    m = rx.search(text)
                    if m and (accept is None or accept(m)):
                        return i, t, m
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f'timed out after {timeout:g} s waiting for {what}')
                self.cond.wait(left)

    def count(self, regex):
        rx = re.compile(regex)
        with self.cond:
            return sum(1 for _, l in self.lines if l is not None and rx.search(l))

    def texts(self):
        with self.cond:
            return [l for _, l in self.lines if l is not None]


def read_text(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except FileNotFoundError:
        return ''


def rss_kib(pid):
    """VmRSS, RssAnon, RssFile, RssShmem of pid in KiB."""
    out = {}
    for line in read_text(f'/proc/{pid}/status').splitlines():
        k, _, v = line.partition(':')
        if k in ('VmRSS', 'RssAnon', 'RssFile', 'RssShmem'):
            out[k] = int(v.split()[0])
    return out


def cpu_snapshot():
    """(monotonic s, machine busy CPU-s, steal CPU-s, our own CPU-s incl. reaped descendants)."""
    fields = read_text('/proc/stat').splitlines()[0].split()[1:]
    v = [int(x) for x in fields] + [0] * 10
    tick = os.sysconf('SC_CLK_TCK')
    busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tick  # user nice system irq softirq steal
    t = os.times()
    return time.monotonic(), busy, v[7] / tick, t.user + t.system + t.children_user + t.children_system


def cpu_delta(a, b):
    """CPU use between two snapshots: ours and everybody else's (other
    sessions on a shared machine), in CPU-seconds and as a share of the machine."""
    wall = b[0] - a[0]
    ncpu = len(os.sched_getaffinity(0))
    others = max(0.0, (b[1] - a[1]) - (b[3] - a[3]))
    return {'wall_s': wall, 'machine_busy_cpu_s': b[1] - a[1], 'ours_cpu_s': b[3] - a[3],
            'others_cpu_s': others, 'steal_cpu_s': b[2] - a[2],
            'others_share': others / (wall * ncpu) if wall > 0 else None}


def finish_run(result, error, started, cpu0):
    """Records a run's fatal error (if any) and its end: elapsed time, CPU
    used by everything on the machine, load average. Returns whether it failed."""
    if error is not None:
        result['errors'].append(str(error))
        print(f'FAILED: {error}', file=sys.stderr, flush=True)
    result['elapsed_s'] = time.monotonic() - started
    result['cpu'] = cpu_delta(cpu0, cpu_snapshot())
    result['machine']['loadavg_end'] = ' '.join(f'{x:.2f}' for x in os.getloadavg())
    return error is not None


# --------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.ckpt_run = os.path.join(self.build, 'launcher', 'ckpt-run')
        self.bin = os.path.join(self.build, 'bench')
        self.tmp = tempfile.mkdtemp(prefix='ckpt-bench-', dir=args.tmp)
        self.popens = []     # every Popen we started
        self.refs = []       # every application process (original and restored)
        self.serial = 0

    def path(self, name):
        return os.path.join(self.tmp, name)

    def program(self, name):
        p = os.path.join(self.bin, name)
        if not os.access(p, os.X_OK):
            raise BenchError(f'{p} is missing: build first (ninja -C {self.build})')
        return p

    # ---------------------------------------------------------- cleanup
    def cleanup(self):
        for ref in self.refs:
            ref.kill9()
        for p in self.popens:
            if p.poll() is None:
                if ProcRef(p.pid).is_same():
                    p.kill()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        for ref in self.refs:
            ref.reap_if_child()
        # Anything else orphaned onto us descends from a process we started.
        me = os.getpid()
        for d in os.listdir('/proc'):
            if d.isdigit():
                st = proc_stat(int(d))
                if st and st[1] == me:
                    ref = ProcRef(int(d))
                    ref.kill9()
                    try:
                        os.waitpid(ref.pid, 0)
                    except ChildProcessError:
                        pass
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def wait_gone(self, pid, timeout=30):
        def gone():
            st = proc_stat(pid)
            if st and st[0] == 'Z' and st[1] == os.getpid():
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            return not os.path.exists(f'/proc/{pid}')
        wait_until(gone, timeout, f'pid {pid} to vanish')

    # ---------------------------------------------------------- steps
    def machine_limits(self):
        mib, reps = (128, 3) if self.args.quick else (512, 5)
        r = subprocess.run([self.program('machine_limits'), str(mib), str(reps), str(self.args.dirty_iters)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise BenchError(f'machine_limits failed ({r.returncode}): {r.stderr.strip()}')
        return json.loads(r.stdout)

    def launch(self, name, argv, ready_re):
        self.serial += 1
        tag = f'{name}-{self.serial}'
        pidfile = self.path(tag + '.pid')
        err = open(self.path(tag + '.launch.err'), 'wb')
        env = dict(os.environ, **dict(kv.split('=', 1) for kv in self.args.app_env))
        p = subprocess.Popen([self.ckpt_run, '--verbose', '--images', self.path(name + '-images'),
                              '--pid-file', pidfile] + argv,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env)
        err.close()
        self.popens.append(p)
        reader = LineReader(p.stdout)
        try:
            reader.wait_for(ready_re, self.args.timeout, f'{name} to print its ready line')
            wait_until(lambda: read_text(pidfile).strip(), self.args.timeout, 'the pid file')
        except BenchError as e:
            if ProcRef(p.pid).is_same():
                p.kill()
                p.wait(30)
            raise BenchError(f'{e}\n  launcher stderr: {read_text(self.path(tag + ".launch.err"))[-800:]}')
        pid = int(read_text(pidfile))
        ref = ProcRef(pid)
        self.refs.append(ref)
        return p, reader, ref, self.path(tag + '.launch.err')

    def checkpoint(self, pid):
        t0 = time.monotonic()
        r = subprocess.run([self.ckpt_run, '--verbose', '--checkpoint', str(pid)],
                           capture_output=True, text=True, timeout=self.args.timeout)
        wall = time.monotonic() - t0
        m = CKPT_RE.search(r.stderr)
        lines = r.stdout.strip().splitlines()
        if r.returncode != 0 or not m or not lines:
            raise BenchError(f'ckpt-run --checkpoint {pid} exited {r.returncode}: '
                             f'stdout {r.stdout.strip()!r} stderr {r.stderr.strip()!r}')
        image = lines[-1]
        return {'image': image, 'image_bytes': os.path.getsize(image), 'reported_bytes': int(m.group(3)),
                'frozen_ms': float(m.group(4)), 'done_ms': float(m.group(5)), 'wall_ms': wall * 1e3}

    def restore(self, name, image, pid, first_re):
        """One restore: until the first line matching first_re, then kill -9."""
        self.wait_gone(pid)
        self.serial += 1
        tag = f'{name}-restore-{self.serial}'
        pidfile, errpath = self.path(tag + '.pid'), self.path(tag + '.err')
        err = open(errpath, 'wb')
        t0 = time.monotonic()
        p = subprocess.Popen([self.ckpt_run, '--verbose', '--pid-file', pidfile, '--restore', image],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        err.close()
        self.popens.append(p)
        reader = LineReader(p.stdout)
        try:
            _, t_arrived, m = reader.wait_for(first_re, self.args.timeout, f'the restored {name} to print')
        except BenchError as e:
            raise BenchError(f'{e}\n  ckpt-run --restore stderr: {read_text(errpath)[-800:]}')
        restored_pid = int(wait_until(lambda: read_text(pidfile).strip(), 10, 'the restore pid file'))
        ref = ProcRef(restored_pid)
        self.refs.append(ref)
        ref.kill9()
        try:
            rc = p.wait(self.args.timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f'ckpt-run --restore did not exit after its application was killed')
        reader.join(10)
        self.wait_gone(restored_pid)
        stderr = read_text(errpath)
        m1, m2 = INPLACE_RE.search(stderr), RESTORED_RE.search(stderr)
        if not m1 or not m2:
            raise BenchError(f'ckpt-run --restore printed no timing lines (exit {rc}): {stderr.strip()!r}')
        app_t = int(m.group(1)) / 1e9 if m.re.groups >= 1 else None
        first_ms = (app_t - t0) * 1e3 if app_t and app_t > t0 else (t_arrived - t0) * 1e3
        return {'pid': restored_pid, 'same_pid': restored_pid == pid,
                'pages_in_place': int(m1.group(1)), 'in_place_ms': float(m1.group(2)),
                'restore_ms': float(m2.group(3)), 'first_output_ms': first_ms,
                'first_arrival_ms': (t_arrived - t0) * 1e3, 'first_line': m.group(0),
                'warnings': [l for l in stderr.splitlines() if 'warning' in l]}

    def run_case(self, name, argv, ready_re, first_re, reps):
        """Launch, checkpoint reps times, kill -9, restore reps times."""
        cpu0 = cpu_snapshot()
        p, reader, ref, errpath = self.launch(name, argv, ready_re)
        try:
            case = self.measure_case(name, argv, first_re, reps, p, reader, ref, errpath)
        finally:  # a failed case must not leave its application running into the next one
            ref.kill9()
            for q in self.popens:
                if q.poll() is None and ProcRef(q.pid).is_same():
                    q.kill()
                    q.wait(30)
        case['cpu'] = cpu_delta(cpu0, cpu_snapshot())
        return case

    def measure_case(self, name, argv, first_re, reps, p, reader, ref, errpath):
        case = {'name': name, 'argv': [os.path.basename(argv[0])] + argv[1:]}
        # A baseline of the application's own pace before the first checkpoint.
        n = self.args.baseline_lines
        wait_until(lambda: reader.count(TICK_RE.pattern) >= n, self.args.timeout, f'{name} to run {n} iterations')
        rss = rss_kib(ref.pid)
        case['rss_kib'] = rss
        case['resident_bytes'] = rss.get('VmRSS', 0) * 1024
        cps = []
        for i in range(reps):
            t_start = time.monotonic()
            cp = self.checkpoint(ref.pid)
            t_end = time.monotonic()
            cp['window'] = [t_start, t_end]
            # Let the application print once after the checkpoint (its pace
            # during and after the checkpoint is measured from its output).
            reader.wait_for(TICK_RE.pattern, self.args.timeout, f'{name} to print after checkpoint {i + 1}',
                            accept=lambda m: int(m.group(1)) / 1e9 > t_end)
            rx = re.compile(WRITTEN_RE.format(re.escape(cp['image'])))
            try:
                wm = wait_until(lambda: rx.search(read_text(errpath)), 5, "libckpt's report of the checkpoint")
                cp.update(libckpt_frozen_ms=int(wm.group(2)), capture_ms=int(wm.group(3)),
                          pages_ms=int(wm.group(4)), sync_ms=int(wm.group(5)))
            except BenchError:
                pass  # the breakdown is optional
            if cps and not self.args.keep:  # keep only the newest image (disk space)
                os.unlink(cps[-1]['image'])
            cps.append(cp)
        case['checkpoints'] = cps
        image = cps[-1]['image']
        ref.kill9()
        p.wait(30)
        reader.join(10)
        self.wait_gone(ref.pid)
        original_lines = reader.texts()
        app_pace(original_lines, cps)
        case['launch_stderr'] = read_text(errpath).splitlines()[-20:]
        rs = []
        for i in range(reps):
            r = self.restore(name, image, ref.pid, first_re)
            r['continuity'] = continuity(original_lines, r['first_line'])
            rs.append(r)
        case['restores'] = rs
        if not self.args.keep:
            os.unlink(image)
        return case



def app_pace(lines, cps):
    """The application's pace around each checkpoint, from its own timestamps:
    its longest gap between two output lines overlapping the checkpoint, and
    its progress during the checkpoint as a share of its normal pace (lines
    per second before the first checkpoint)."""
    ms = [m for m in (TICK_RE.match(l) for l in lines) if m]
    ts = [int(m.group(1)) / 1e9 for m in ms]
    nums = [int(m.group(0).split()[1]) for m in ms]
    if len(ts) < 3 or not cps:
        return
    first = cps[0]['window'][0]
    before = [b - a for a, b in zip(ts, ts[1:]) if b < first]
    if not before:
        return
    period = statistics.median(before)
    for cp in cps:
        a, b = cp['window']
        gaps = [y - x for x, y in zip(ts, ts[1:]) if y > a and x < b]
        inside = sum(1 for t in ts if a <= t <= b)
        cp['app_period_ms'] = period * 1e3
        cp['app_iteration'] = max((n for n, t in zip(nums, ts) if t < a), default=None)
        cp['app_max_gap_ms'] = max(gaps) * 1e3 if gaps else None
        cp['app_progress'] = inside * period / (b - a) if b > a else None


def continuity(original_lines, first_restored):
    """Does the restored app's first iteration line carry the same hash as the
    original run's line for that iteration? (None: the original never got there.)"""
    m = re.match(r'iter (\d+) t=\d+ (h=\w+)', first_restored)
    if not m:
        return None
    for l in original_lines:
        o = re.match(r'iter (\d+) t=\d+ (h=\w+)', l)
        if o and o.group(1) == m.group(1):
            return o.group(2) == m.group(2)
    return None


# ---------------------------------------------------------------- summary

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(case, limits):
    cps, rs = case['checkpoints'], case['restores']
    res = case['resident_bytes']
    pages = res / 4096
    s = {
        'resident_mib': res / MIB,
        'frozen_ms': med([c['frozen_ms'] for c in cps]),
        'checkpoint_ms': med([c['done_ms'] for c in cps]),
        'checkpoint_wall_ms': med([c['wall_ms'] for c in cps]),
        'capture_ms': med([c.get('capture_ms') for c in cps]),
        'pages_ms': med([c.get('pages_ms') for c in cps]),
        'sync_ms': med([c.get('sync_ms') for c in cps]),
        'app_period_ms': med([c.get('app_period_ms') for c in cps]),
        'app_iteration': med([c.get('app_iteration') for c in cps]),
        'app_max_gap_ms': med([c.get('app_max_gap_ms') for c in cps]),
        'app_progress_pct': med([c['app_progress'] * 100 if c.get('app_progress') is not None else None
                                 for c in cps]),
        'image_bytes': med([c['image_bytes'] for c in cps]),
        'restore_ms': med([r['restore_ms'] for r in rs]),
        'in_place_ms': med([r['in_place_ms'] for r in rs]),
        'first_output_ms': med([r['first_output_ms'] for r in rs]),
        'pages_in_place': med([r['pages_in_place'] for r in rs]),
        'same_pid': all(r['same_pid'] for r in rs),
        'continuity': [r['continuity'] for r in rs],
        'others_cpu_share_pct': case['cpu']['others_share'] * 100 if case['cpu'].get('others_share') is not None
        else None,
    }
    s['image_mib'] = s['image_bytes'] / MIB
    s['compression_ratio'] = res / s['image_bytes'] if s['image_bytes'] else None
    ckpt_s, rest_s = s['checkpoint_ms'] / 1e3, s['restore_ms'] / 1e3
    s['checkpoint_mibps'] = res / ckpt_s / MIB
    s['restore_mibps'] = res / rest_s / MIB

    # Ratios: the limit's time for the same bytes / the measured time, i.e.
    # measured throughput / the limit's throughput (1 = as fast as the limit).
    def per_page(key):
        v = limits.get(key)
        return v['us_per_page'] * 1e-6 if v else None
    z, zx = limits['zstd'], limits.get('zstd_dirtied') or limits['zstd']
    zc, zd = z['compress']['us_per_page'] * 1e-6, z['decompress']['us_per_page'] * 1e-6
    zxc, zxd = zx['compress']['us_per_page'] * 1e-6, zx['decompress']['us_per_page'] * 1e-6
    mc, fr = per_page('memcpy'), per_page('fork_read')
    pop, touch = per_page('populate'), per_page('populate_touch')
    s['checkpoint_vs_zstd1'] = pages * zc / ckpt_s
    s['checkpoint_vs_zstd1_dirtied'] = pages * zxc / ckpt_s
    s['checkpoint_vs_memcpy'] = pages * mc / ckpt_s
    # Floor of the writer on one core: zstd-1 of every page, plus, for a
    # forked writer (downtime well under the total), the child's first touch.
    forked = s['frozen_ms'] < 0.9 * s['checkpoint_ms']
    s['writer'] = 'forked' if forked else 'inline'
    s['checkpoint_vs_floor'] = pages * ((fr if forked and fr else 0) + zxc) / ckpt_s
    s['restore_vs_populate'] = pages * pop / rest_s if pop else None
    s['restore_vs_zstd_decompress'] = pages * zd / rest_s
    s['restore_vs_zstd_decompress_dirtied'] = pages * zxd / rest_s
    # Floor of a restore on one core: populate, first write, decompress.
    s['restore_vs_floor'] = pages * (pop + touch + zxd) / rest_s if pop and touch else None
    s['frozen_share'] = s['frozen_ms'] / s['checkpoint_ms'] if s['checkpoint_ms'] else None
    s['ok'] = s['same_pid'] and all(c is not False for c in s['continuity'])
    return s


def fmt(v, spec):
    if v is None:
        return '-'
    if isinstance(v, bool):
        return 'yes' if v else 'NO'
    return format(v, spec)


def table(result):
    lim = result['limits']
    out = []
    w = out.append
    m = result['machine']
    src = f", source {result['source_commit']}" if result.get('source_commit') else ''
    w(f"libckpt benchmark, {result['mode']} run, {result['date']}{src}")
    if result.get('label'):
        w('label: ' + result['label'])
    if result['params'].get('app_env'):
        w('application environment: ' + ' '.join(result['params']['app_env']))
    w(f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_gib']:.1f} GiB, Linux {m['kernel']}, "
      f"THP {m['thp']}, images on {m['images_fs']}")
    cpu = result.get('cpu') or {}
    if cpu.get('others_share') is not None:
        w(f"load: {m['loadavg_start']} at start; other processes used {cpu['others_cpu_s']:.0f} CPU-s "
          f"({cpu['others_share'] * 100:.0f}% of the machine) during the run, steal {cpu['steal_cpu_s']:.1f} CPU-s")
    w('')
    w(f"machine limits ({lim['buffer_mib']} MiB buffers, median of {lim['reps']}; GB = 1e9 bytes; one core)")

    def lrow(label, v, extra=''):
        if v:
            w(f"  {label:<34}{v['gbps']:8.3f} GB/s {v['us_per_page']:8.3f} us/page{extra}")
    lrow('memcpy', lim['memcpy'])
    z = lim['zstd']
    lrow('zstd-1 compress, memwalk fill', z['compress'], f"   ratio {z['ratio']:.2f}, 1 MiB chunks, zstd {z['version']}")
    lrow('zstd decompress, memwalk fill', z['decompress'])
    zx = lim.get('zstd_dirtied')
    it = zx['memwalk_iterations'] if zx else '?'
    if zx:
        lrow(f'zstd-1 compress, {it} iters later', zx['compress'], f"   ratio {zx['ratio']:.2f}")
        lrow(f'zstd decompress, {it} iters later', zx['decompress'])
    lrow('MADV_POPULATE_WRITE', lim.get('populate'))
    lrow('first write after populate', lim.get('populate_touch'))
    lrow('page fault (1 byte per new page)', lim['fault'])
    lrow('fork child: first read per page', lim.get('fork_read'), f"   fork {lim.get('fork_ms', 0):.0f} ms")
    lrow('parent copy-on-write per page', lim.get('cow'))
    w('')
    cases = result['cases']
    if not cases:
        return '\n'.join(out)
    names = [c['name'] for c in cases]
    colw = max(13, max(len(n) for n in names) + 2)
    reps = result['params']['reps']

    def row(label, key, spec):
        vals = [c['summary'].get(key) for c in cases]
        w(f'  {label:<44}' + ''.join(f'{fmt(v, spec):>{colw}}' for v in vals))

    w(f"  {'':<44}" + ''.join(f'{n:>{colw}}' for n in names))
    row('resident memory (VmRSS), MiB', 'resident_mib', '.1f')
    row('other processes, % of machine during case', 'others_cpu_share_pct', '.0f')
    w(f'checkpoint (median of {reps})')
    row('downtime (frozen), ms', 'frozen_ms', '.1f')
    row('checkpoint total (ckpt-run), ms', 'checkpoint_ms', '.1f')
    row('  image writer (forked, or inline = frozen)', 'writer', 's')
    row('  libckpt: capture (while frozen), ms', 'capture_ms', '.0f')
    row('  libckpt: pages (compress + write), ms', 'pages_ms', '.0f')
    row('  libckpt: fsync + rename, ms', 'sync_ms', '.0f')
    row('checkpoint wall (--checkpoint command), ms', 'checkpoint_wall_ms', '.1f')
    row('image size, MiB', 'image_mib', '.2f')
    row('compression ratio (resident / image)', 'compression_ratio', '.2f')
    row('checkpoint throughput, MiB/s', 'checkpoint_mibps', '.0f')
    row('  ratio to zstd-1 1-core throughput (fill)', 'checkpoint_vs_zstd1', '.2f')
    row(f'  ratio to zstd-1 1-core ({it} iters later)', 'checkpoint_vs_zstd1_dirtied', '.2f')
    row('  ratio to 1-core floor (+fork-read if forked)', 'checkpoint_vs_floor', '.2f')
    row('  ratio to memcpy bandwidth', 'checkpoint_vs_memcpy', '.3f')
    row('app: iteration at checkpoint', 'app_iteration', '.0f')
    row('app: normal output period, ms', 'app_period_ms', '.1f')
    row('app: longest output gap during ckpt, ms', 'app_max_gap_ms', '.1f')
    row('app: progress during ckpt, % of normal', 'app_progress_pct', '.0f')
    w(f'restore (median of {reps}, same image)')
    row('restore (ckpt-run verbose), ms', 'restore_ms', '.1f')
    row('  of which pages in place, ms', 'in_place_ms', '.1f')
    row('first output line (wall), ms', 'first_output_ms', '.1f')
    row('restore throughput, MiB/s', 'restore_mibps', '.0f')
    row('  ratio to MADV_POPULATE_WRITE speed', 'restore_vs_populate', '.3f')
    row('  ratio to zstd decompression (fill)', 'restore_vs_zstd_decompress', '.2f')
    row(f'  ratio to zstd decompr. ({it} iters later)', 'restore_vs_zstd_decompress_dirtied', '.2f')
    row('  ratio to populate+touch+decompress floor', 'restore_vs_floor', '.2f')
    row('same pid, output continues correctly', 'ok', '')
    return '\n'.join(out)


# --------------------------------------------------------------------- main

def machine_info(images_dir):
    def first(path, key):
        for line in read_text(path).splitlines():
            if line.startswith(key):
                return line.split(':', 1)[1].strip()
        return '?'
    thp = read_text('/sys/kernel/mm/transparent_hugepage/enabled').strip()
    thp = (re.search(r'\[(\w+)\]', thp) or [None, '?'])[1]
    # Filesystem holding the images: the longest mount point prefix.
    fs, best = '?', ''
    for line in read_text('/proc/self/mounts').splitlines():
        parts = line.split()
        if len(parts) > 2 and (images_dir + '/').startswith(parts[1].rstrip('/') + '/') and len(parts[1]) >= len(best):
            best, fs = parts[1], f'{parts[2]} ({parts[0]})'
    return {
        'nproc': len(os.sched_getaffinity(0)),
        'cpus_online': os.cpu_count(),
        'cpu_model': first('/proc/cpuinfo', 'model name'),
        'mem_gib': int(first('/proc/meminfo', 'MemTotal').split()[0]) / (1 << 20),
        'kernel': platform.release(),
        'thp': thp,
        'images_fs': fs,
        'loadavg_start': ' '.join(f'{x:.2f}' for x in os.getloadavg()),
    }


def git_commit(source):
    try:
        r = subprocess.run(['git', '-C', source, 'rev-parse', '--short', 'HEAD'],
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--build', default=os.path.join(here, '..', 'build'), help='meson build directory')
    ap.add_argument('--out', help='JSON output (default BUILD/bench/results/latest.json)')
    ap.add_argument('--quick', action='store_true', help='small sizes, 1 repetition')
    ap.add_argument('--sizes', help='memwalk sizes in MiB, comma-separated (default 256,1024; quick 32,128)')
    ap.add_argument('--reps', type=int, help='checkpoint and restore repetitions (default 3; quick 1)')
    ap.add_argument('--sleep-ms', type=int, default=10, help='memwalk sleep between iterations')
    ap.add_argument('--baseline-lines', type=int, default=20,
                    help='application output lines before the first checkpoint (its normal pace)')
    ap.add_argument('--dirty-iters', type=int, default=30,
                    help="memwalk iterations applied before the second zstd measurement (about where "
                         "the checkpoints happen)")
    ap.add_argument('--app-env', action='append', default=[], metavar='KEY=VALUE',
                    help='environment for the launched applications, e.g. CKPT_FORKED_WRITER=0')
    ap.add_argument('--label', help='free text recorded with the results (e.g. what was measured)')
    ap.add_argument('--no-sparse', action='store_true', help='skip the 64 GiB sparse case')
    ap.add_argument('--tmp', help='where images go (default: the system temporary directory)')
    ap.add_argument('--timeout', type=float, default=180, help='bound on each wait, seconds')
    ap.add_argument('--keep', action='store_true', help='keep the temporary directory and images')
    args = ap.parse_args()

    sizes = [int(s) for s in (args.sizes or ('32,128' if args.quick else '256,1024')).split(',') if s]
    reps = args.reps or (1 if args.quick else 3)
    out_path = args.out or os.path.join(os.path.abspath(args.build), 'bench', 'results', 'latest.json')

    try:  # orphans (a restored app whose ckpt-run died) come to us, to be killed
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass

    bench = Bench(args)
    started = time.monotonic()
    cpu0 = cpu_snapshot()
    result = {
        'schema': 1,
        'mode': 'quick' if args.quick else 'full',
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'machine': machine_info(os.path.realpath(bench.tmp)),
        'source_commit': git_commit(os.path.join(here, '..')),
        'label': args.label,
        'params': {'sizes_mib': sizes, 'reps': reps, 'dirty_pct': 2, 'sleep_ms': args.sleep_ms,
                   'baseline_lines': args.baseline_lines, 'dirty_iters': args.dirty_iters,
                   'app_env': args.app_env},
        'cases': [], 'errors': [],
    }
    failed, error = False, None
    try:
        if not os.access(bench.ckpt_run, os.X_OK):
            raise BenchError(f'{bench.ckpt_run} is missing: build first (ninja -C {bench.build})')
        print('measuring machine limits ...', file=sys.stderr, flush=True)
        limits = bench.machine_limits()
        result['limits'] = limits
        iters = 1000000  # far more than needed: the app is killed after its checkpoints
        todo = []
        if os.access(os.path.join(bench.bin, 'memwalk'), os.X_OK):
            todo = [(f'memwalk-{mib}M', [bench.program('memwalk'), str(mib), '2', str(iters), '1', str(args.sleep_ms)],
                     r'^ready ', r'^iter \d+ t=(\d+)') for mib in sizes]
        else:  # bench/meson.build builds it only if ../shared/bench/workloads/memwalk.c exists
            result['errors'].append('memwalk cases skipped: memwalk was not built')
        if not args.no_sparse:
            todo.append(('sparse-64G', [bench.program('sparse_reserve'), str(iters), str(args.sleep_ms)],
                         r'^ready ', r'^tick \d+ t=(\d+)'))
        for name, argv, ready_re, first_re in todo:
            print(f'{name}: launch, {reps} checkpoint(s), {reps} restore(s) ...', file=sys.stderr, flush=True)
            if name.startswith('sparse'):
                probe = subprocess.run([argv[0], '0', '0'], capture_output=True, text=True, timeout=60)
                if probe.returncode == 3:
                    result['errors'].append(f'{name} skipped: {probe.stdout.strip()}')
                    continue
            try:
                case = bench.run_case(name, argv, ready_re, first_re, reps)
            except (BenchError, subprocess.TimeoutExpired, OSError) as e:
                failed = True
                result['errors'].append(f'{name}: {e}')
                print(f'{name}: FAILED: {e}', file=sys.stderr, flush=True)
                continue
            s = summarize(case, limits)
            if name.startswith('sparse'):  # throughputs of a few resident MiB mean nothing
                for k in list(s):
                    if k.endswith('_mibps') or '_vs_' in k:
                        s[k] = None
            case['summary'] = s
            result['cases'].append(case)
    except (BenchError, subprocess.TimeoutExpired, OSError, ValueError) as e:
        error = e
    finally:
        bench.cleanup()
    failed = finish_run(result, error, started, cpu0) or failed

    if 'limits' in result:
        print(table(result))
    for e in result['errors']:
        print('error: ' + e)
    print(f"\n(total {result['elapsed_s']:.0f} s; JSON: {out_path})")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path + '.tmp', 'w') as f:
        json.dump(result, f, indent=1)
        f.write('\n')
    os.replace(out_path + '.tmp', out_path)
    bad = [c['name'] for c in result['cases'] if not c['summary']['ok']]
    if bad:
        print('restored applications misbehaved in: ' + ', '.join(bad))
    return 1 if failed or bad else 0


if __name__ == '__main__':
    sys.exit(main())
