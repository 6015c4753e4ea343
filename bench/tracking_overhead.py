#!/usr/bin/env python3
"""libckpt tracking overhead benchmark: what dirty-page tracking for
incremental images costs the application, as ratios measured in the same run.

memwalk (MIB, DIRTY% per iteration, SLEEP_MS between iterations, one thread)
runs to completion in four variants, interleaved and repeated (baseline,
none, uffd, mprotect, baseline, none, ...) so that drifting machine load hits
all of them alike:

  baseline   memwalk alone, no ckpt-run
  none       ckpt-run --incremental --track=none      (every checkpoint full)
  uffd       ckpt-run --incremental --track=uffd
  mprotect   ckpt-run --incremental --track=mprotect

Tracking costs nothing until a checkpoint arms it, so every ckpt-run variant
is checkpointed (`ckpt-run --verbose --checkpoint PID`) after WARMUP
iterations and then each time it has done EVERY more iterations since the
previous checkpoint returned. The baseline runs the same schedule without
checkpoints. memwalk's own per-iteration timestamps split the run into
iterations overlapped by a checkpoint (its downtime and writer: the cost of
the checkpoint) and the iterations between checkpoints (where tracking costs
what it costs). The extra time of the first iterations after each checkpoint
is measured against the same run's steady pace later in the interval, in
wall time and in the application's CPU time (its /proc/PID/schedstat,
sampled with its iteration number, leaves out the time other processes kept
it waiting for a CPU); the iterations between checkpoints are also compared
with the same iterations of the baseline run of the same repetition. Also
reported: total wall time ratios, image pages and sizes (the first image is
full, the later ones incremental) and, from the `tracking_limits` helper run
in each repetition, what each kind of write fault costs on this machine.

Prints a table on stdout and writes JSON (default
BUILD/bench/results/tracking.json). Python 3 standard library only; shares
run_bench.py's helpers. See bench/README.md.
"""

import argparse
import ctypes
import datetime
import json
import math
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # importing run_bench must not write into the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_bench as rb  # noqa: E402
from run_bench import BenchError, ProcRef, med, fmt  # noqa: E402

VARIANTS = ('baseline', 'none', 'uffd', 'mprotect')
ITER_RE = re.compile(rb'^iter (\d+) t=(\d+) h=(\w+)$', re.M)
READY_RE = re.compile(rb'^ready pid=\d+ pages=\d+ t=(\d+)$', re.M)
FINAL_RE = re.compile(rb'^final (\w+)$', re.M)
BURST = 100  # iterations right after a checkpoint (at 5% dirty, 99% of the pages are written by then)


class OutputFile:
    """memwalk's stdout, a regular file (a pipe read by Python would compete
    with the application for the 2 CPUs): its latest iteration, read as it grows."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = b''
        self.ready = False
        self.last_iter = -1
        self.final = False

    def poll(self):
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        if not data:
            return
        self.offset += len(data)
        data = self.partial + data
        cut = data.rfind(b'\n') + 1
        self.partial, data = data[cut:], data[:cut]
        if not self.ready and READY_RE.search(data):
            self.ready = True
        for m in ITER_RE.finditer(data[max(0, data.rfind(b'\niter ')):]):
            self.last_iter = int(m.group(1))
        if FINAL_RE.search(data):
            self.final = True


def schedstat(pid):
    """(ns on a CPU, ns waiting for one) of pid's main thread, or None."""
    try:
        with open(f'/proc/{pid}/schedstat') as f:
            v = f.read().split()
        return int(v[0]), int(v[1])
    except (OSError, ValueError, IndexError):
        return None


def parse_output(path):
    """(ready timestamp s, [(iteration, timestamp s, hash)], final hash) of a finished run."""
    with open(path, 'rb') as f:
        data = f.read()
    ready = READY_RE.search(data)
    final = FINAL_RE.search(data)
    iters = [(int(m.group(1)), int(m.group(2)) / 1e9, m.group(3).decode()) for m in ITER_RE.finditer(data)]
    return (int(ready.group(1)) / 1e9 if ready else None, iters, final.group(1).decode() if final else None)


class TrackingBench(rb.Bench):
    def tracking_limits(self):
        a = self.args
        r = subprocess.run([self.program('tracking_limits'), str(a.limit_mib), str(a.limit_reps), str(a.chunk_kib)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode not in (0, 3):
            raise BenchError(f'tracking_limits failed ({r.returncode}): {r.stderr.strip()}')
        return json.loads(r.stdout)

    def inspect(self, image):
        r = subprocess.run([self.ckpt_run, '--inspect', image], capture_output=True, text=True,
                           timeout=self.args.timeout)
        if r.returncode != 0:
            raise BenchError(f'ckpt-run --inspect {image} exited {r.returncode}: {r.stderr.strip()}')
        img = json.loads(r.stdout)
        return {'data_pages': img['image'].get('data_pages'), 'incremental': img['image'].get('incremental'),
                'tracking': img.get('libckpt', {}).get('tracking')}

    def run_variant(self, variant, rep):
        """One complete memwalk run of a variant, checkpointed on the schedule."""
        a = self.args
        tag = f'{variant}-{rep}'
        out_path, err_path, pidfile = self.path(tag + '.out'), self.path(tag + '.err'), self.path(tag + '.pid')
        argv = [self.program('memwalk'), str(a.mib), str(a.dirty), str(a.iters), '1', str(a.sleep_ms)]
        if variant != 'baseline':
            argv = [self.ckpt_run, '--verbose', '--incremental', f'--track={variant}',
                    '--images', self.path(tag + '-images'), '--pid-file', pidfile] + argv
        env = dict(os.environ, **dict(kv.split('=', 1) for kv in a.app_env))
        cpu0 = rb.cpu_snapshot()
        with open(out_path, 'wb') as out, open(err_path, 'wb') as err:
            t0 = time.monotonic()
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        self.popens.append(p)
        ref = None
        run = {'variant': variant, 'rep': rep, 'checkpoints': []}
        try:
            mw = OutputFile(out_path)

            def poll_ready():
                mw.poll()
                return mw.ready or p.poll() is not None
            rb.wait_until(poll_ready, a.timeout, f'{tag} to print ready', interval=0.002)
            if not mw.ready:
                raise BenchError(f'{tag} exited ({p.returncode}) before it was ready: '
                                 f'{rb.read_text(err_path)[-800:]}')
            if variant == 'baseline':
                ref = ProcRef(p.pid)
            else:
                ref = ProcRef(int(rb.wait_until(lambda: rb.read_text(pidfile).strip(), a.timeout, 'the pid file')))
            self.refs.append(ref)
            samples = run['samples'] = []  # (monotonic s, iteration, ns on CPU, ns waiting for a CPU)

            def sample():
                mw.poll()
                st = schedstat(ref.pid) if ref.is_same() else None
                if st:
                    samples.append((time.monotonic(), mw.last_iter) + st)
            mark = a.warmup
            for k in range(a.checkpoints):
                def reached():
                    sample()
                    return mw.last_iter >= mark or mw.final or p.poll() is not None
                rb.wait_until(reached, a.timeout, f'{tag} to reach iteration {mark}', interval=0.002)
                if mw.final or p.poll() is not None:
                    break  # ran out of iterations: fewer checkpoints (reported)
                if variant == 'baseline':
                    mark = mw.last_iter + a.every
                    continue
                sample()
                before = mw.last_iter
                t_start = time.monotonic()
                cp = self.checkpoint(ref.pid)
                t_end = time.monotonic()
                sample()
                cp.update(window=[t_start, t_end], iter_before=before, iter_after=mw.last_iter)
                rx = re.compile(rb.WRITTEN_RE.format(re.escape(cp['image'])))
                try:
                    wm = rb.wait_until(lambda: rx.search(rb.read_text(err_path)), 5, "libckpt's report")
                    cp.update(capture_ms=int(wm.group(3)), pages_ms=int(wm.group(4)), sync_ms=int(wm.group(5)))
                except BenchError:
                    pass  # the breakdown is optional
                run['checkpoints'].append(cp)
                mark = mw.last_iter + a.every

            def finished():
                sample()
                return p.poll() is not None
            rb.wait_until(finished, a.timeout, f'{tag} to finish', interval=0.002)
            rc = p.returncode
            run['wall_s'] = time.monotonic() - t0
            if rc != 0:
                raise BenchError(f'{tag} exited {rc}: {rb.read_text(err_path)[-800:]}')
        finally:
            if ref:
                ref.kill9()
            if p.poll() is None and ProcRef(p.pid).is_same():
                p.kill()
                p.wait(30)
        run['cpu'] = rb.cpu_delta(cpu0, rb.cpu_snapshot())
        run['ready_t'], iters, run['final_hash'] = parse_output(out_path)
        run['iter_t'] = [t for _, t, _ in iters]
        run['iter_hash'] = [h for _, _, h in iters]
        if [n for n, _, _ in iters] != list(range(len(iters))) or len(iters) != a.iters:
            raise BenchError(f'{tag}: {len(iters)} iteration lines, expected 0..{a.iters - 1}')
        for cp in run['checkpoints']:
            cp.update(self.inspect(cp['image']))
            if not a.keep:
                os.unlink(cp['image'])
        run['stderr_tail'] = rb.read_text(err_path).splitlines()[-12:]
        if not a.keep:
            for path in (out_path, err_path):
                os.unlink(path)
        return run


# ---------------------------------------------------------------- analysis

def durations(run):
    """Duration of each iteration (from the previous line's timestamp)."""
    ts = [run['ready_t']] + run['iter_t']
    return [b - a for a, b in zip(ts, ts[1:])]


def classify(run):
    """Per iteration: 'warm' (before the first checkpoint), 'ckpt' (overlaps a
    checkpoint window), 'between' (after the first checkpoint, not overlapped);
    for 'between' ones, the interval (the checkpoint it follows) and how many
    iterations since that checkpoint returned."""
    ts = [run['ready_t']] + run['iter_t']
    windows = [cp['window'] for cp in run['checkpoints']]
    kinds, since, interval = [], [], []
    w, count = 0, None
    for i in range(1, len(ts)):
        lo, hi = ts[i - 1], ts[i]
        while w < len(windows) and windows[w][1] < lo:
            count = 0
            w += 1
        overlapped = w < len(windows) and hi > windows[w][0] and lo < windows[w][1]
        if overlapped:
            kinds.append('ckpt')
            since.append(None)
            interval.append(None)
        elif count is None:
            kinds.append('warm')
            since.append(None)
            interval.append(None)
        else:
            kinds.append('between')
            since.append(count)
            interval.append(w - 1)
            count += 1
    return kinds, since, interval


def after_checkpoint(d, kinds, since, interval, n_cp):
    """The run's own pace around each checkpoint: per interval, the average
    iteration time once BURST iterations have passed (steady pace), and the
    extra time of the first BURST iterations over that pace. Both come from
    the same run seconds apart, so drifting load mostly cancels out."""
    out = []
    for k in range(n_cp):
        idx = [i for i in range(len(d)) if kinds[i] == 'between' and interval[i] == k]
        burst = [d[i] for i in idx if since[i] < BURST]
        rest = [d[i] for i in idx if since[i] >= BURST]
        if len(burst) < BURST or len(rest) < BURST:
            continue
        steady = sum(rest) / len(rest)  # average: ordinary waits for a CPU net out of the burst's extra
        out.append({'steady_us': steady * 1e6, 'burst_extra_ms': (sum(burst) - steady * len(burst)) * 1e3,
                    'first_iters_us': [round(x * 1e6) for x in burst[:20]]})
    return out


def cpu_after_checkpoint(run):
    """The same from the application's CPU time (/proc/PID/schedstat, sampled
    with its iteration number every few ms): time it spent waiting for a CPU
    (other processes) is left out, so the burst costs what the faults cost."""
    smp = run.get('samples') or []
    cps = run['checkpoints']
    out = []
    for k, cp in enumerate(cps):
        end = cps[k + 1]['window'][0] if k + 1 < len(cps) else float('inf')
        seg = [x for x in smp if cp['window'][1] <= x[0] < end and x[1] >= 0]
        if not seg:
            continue
        a = seg[0]
        b = next((x for x in seg if x[1] >= a[1] + BURST), None)
        z = seg[-1]
        if not b or z[1] - b[1] < BURST:
            continue
        steady = (z[2] - b[2]) / (z[1] - b[1])  # CPU ns per iteration
        out.append({'steady_cpu_us': steady / 1e3, 'burst_iters': b[1] - a[1],
                    'burst_extra_cpu_ms': ((b[2] - a[2]) - steady * (b[1] - a[1])) / 1e6})
    return out


def analyse(run, base, none, limits, args):
    """The run's numbers against the baseline run (and the none run) of the same repetition."""
    d, bd = durations(run), durations(base)
    kinds, since, interval = classify(run)
    n_cp = len(run['checkpoints'])

    def total(sel):
        idx = [i for i in range(len(d)) if sel(i)]
        return sum(d[i] for i in idx), sum(bd[i] for i in idx), len(idx)

    s = {'checkpoints': n_cp, 'wall_s': run['wall_s'], 'others_share_pct': run['cpu']['others_share'] * 100,
         'final_ok': run['final_hash'] == base['final_hash'] and run['iter_hash'] == base['iter_hash']}
    s['wall_vs_baseline'] = run['wall_s'] / base['wall_s']
    s['wall_vs_none'] = run['wall_s'] / none['wall_s'] if none else None
    s['loop_s'] = run['iter_t'][-1] - run['ready_t']
    x, b, n = total(lambda i: kinds[i] == 'warm')
    s['warm_iters'], s['warm_us'] = n, x / n * 1e6 if n else None
    s['warm_vs_baseline'] = x / b if b else None
    x, b, n = total(lambda i: kinds[i] == 'between')
    s['between_iters'], s['between_s'], s['between_base_s'] = n, x, b
    s['between_vs_baseline'] = x / b if b else None
    s['extra_per_interval_ms'] = (x - b) / n_cp * 1e3 if n_cp else None
    x1, b1, _ = total(lambda i: kinds[i] == 'between' and since[i] < BURST)
    s['extra_burst_per_interval_ms'] = (x1 - b1) / n_cp * 1e3 if n_cp else None
    s['extra_rest_per_interval_ms'] = ((x - x1) - (b - b1)) / n_cp * 1e3 if n_cp else None
    smp = run.get('samples') or []
    if len(smp) >= 2:
        cpu, wait = smp[-1][2] - smp[0][2], smp[-1][3] - smp[0][3]
        s['app_cpu_s'] = cpu / 1e9
        s['app_wait_pct'] = wait / (cpu + wait) * 100 if cpu + wait else None
    cc = cpu_after_checkpoint(run)
    run['cpu_after_checkpoint'] = cc
    s['burst_extra_cpu_ms'] = med([c['burst_extra_cpu_ms'] for c in cc])
    s['steady_cpu_us'] = med([c['steady_cpu_us'] for c in cc])
    ac = after_checkpoint(d, kinds, since, interval, n_cp)
    run['after_checkpoint'] = ac
    s['burst_extra_ms'] = med([a['burst_extra_ms'] for a in ac])
    s['steady_us'] = med([a['steady_us'] for a in ac])
    # The baseline's pace over the same iterations (steady part only).
    steady_idx = [i for i in range(len(d)) if kinds[i] == 'between' and since[i] >= BURST]
    if steady_idx:
        s['steady_vs_baseline'] = med([d[i] for i in steady_idx]) / med([bd[i] for i in steady_idx])
    x, b, n = total(lambda i: kinds[i] == 'ckpt')
    s['ckpt_iters'] = n
    s['ckpt_iters_each'] = n / n_cp if n_cp else None
    s['lost_per_checkpoint_ms'] = (x - b) / n_cp * 1e3 if n_cp else None
    cps = run['checkpoints']
    s['frozen_ms'] = med([c['frozen_ms'] for c in cps])
    s['checkpoint_ms'] = med([c['done_ms'] for c in cps])
    s['capture_ms'] = med([c.get('capture_ms') for c in cps])
    s['iters_per_interval'] = med([b2['iter_before'] - a2['iter_after'] for a2, b2 in zip(cps, cps[1:])])
    if cps:
        s['first_image_mib'] = cps[0]['image_bytes'] / rb.MIB
        s['first_image_pages'] = cps[0].get('data_pages')
        later = cps[1:]
        s['later_image_mib'] = med([c['image_bytes'] / rb.MIB for c in later])
        s['later_image_pages'] = med([c.get('data_pages') for c in later])
        s['later_incremental'] = all(c.get('incremental') for c in later) if later else None
        if later and s['first_image_mib']:
            s['later_vs_first'] = s['later_image_mib'] / s['first_image_mib']
        if none and later and len(none['checkpoints']) > 1:
            pairs = [(c['image_bytes'], nc['image_bytes']) for c, nc in zip(later, none['checkpoints'][1:])]
            s['later_vs_none'] = med([x2 / y2 for x2, y2 in pairs])
    # What the machine's fault costs predict: every page still protected when
    # the checkpoint returns faults once when the application next writes it
    # (the mprotect backend: once per chunk). Pages the application wrote
    # while a forked writer was running were copied then (and their uffd-wp
    # bit cleared by the same fault): that cost is inside the checkpoint.
    k = s['iters_per_interval'] or args.every
    s['written_share'] = 1 - math.exp(-args.dirty / 100 * k)
    # Iterations after the application thawed and before the checkpoint
    # returned (the writer's lifetime; 'done' and 'frozen' both count from
    # the signal, the window ends when ckpt-run returned).
    thawed = []
    for cp in run['checkpoints']:
        b = cp['window'][1]
        t_thaw = b - (cp['done_ms'] - cp['frozen_ms']) / 1e3
        thawed.append(sum(1 for t in run['iter_t'] if t_thaw <= t <= b))
    w = med(thawed) or 0
    s['thawed_iters_each'] = w
    pages = args.mib * 256 * math.exp(-args.dirty / 100 * w)
    s['pages_after_window'] = pages
    forked = not any(kv.strip() == 'CKPT_FORKED_WRITER=0' for kv in args.app_env)
    key = {('none', True): 'fork_reuse', ('uffd', True): 'uffd_wp_after_fork', ('uffd', False): 'uffd_wp',
           ('mprotect', True): 'mprotect', ('mprotect', False): 'mprotect'}.get((run['variant'], forked))
    lim = limits.get(key) if key else None
    if lim:
        s['predicted_extra_ms'] = pages * lim['us_per_page'] / 1e3 if run['variant'] == 'mprotect' else \
            pages * lim['us_per_fault'] / 1e3
        if 'cpu_us_per_page' in lim:
            s['predicted_extra_cpu_ms'] = pages * lim['cpu_us_per_page'] / 1e3
    elif run['variant'] == 'none' and not forked:
        s['predicted_extra_ms'] = s['predicted_extra_cpu_ms'] = 0.0
    if pages >= 1:
        if s.get('burst_extra_ms') is not None:
            s['burst_us_per_page'] = s['burst_extra_ms'] * 1e3 / pages
        if s.get('burst_extra_cpu_ms') is not None:
            s['burst_cpu_us_per_page'] = s['burst_extra_cpu_ms'] * 1e3 / pages
    return s


def summarize(result, args):
    runs = result['runs']
    by = {(r['variant'], r['rep']): r for r in runs}
    reps = sorted({r['rep'] for r in runs})
    per = {v: [] for v in VARIANTS}
    for rep in reps:
        base, none = by.get(('baseline', rep)), by.get(('none', rep))
        if not base:
            continue
        for v in VARIANTS:
            r = by.get((v, rep))
            if r:
                s = analyse(r, base, none, result['limits_by_rep'].get(rep) or result['limits'], args)
                r['analysis'] = s
                per[v].append(s)
    # Tracking's own share: each backend against none of the same repetition.
    for rep in reps:
        n = by.get(('none', rep), {}).get('analysis')
        for v in ('uffd', 'mprotect'):
            x = by.get((v, rep), {}).get('analysis')
            if not x or not n:
                continue
            if n.get('between_vs_baseline') and x.get('between_vs_baseline'):
                x['between_vs_none'] = x['between_vs_baseline'] / n['between_vs_baseline']
            if n.get('burst_extra_ms') is not None and x.get('burst_extra_ms') is not None:
                x['burst_tracking_ms'] = x['burst_extra_ms'] - n['burst_extra_ms']
            if n.get('burst_extra_cpu_ms') is not None and x.get('burst_extra_cpu_ms') is not None:
                x['burst_tracking_cpu_ms'] = x['burst_extra_cpu_ms'] - n['burst_extra_cpu_ms']
    # Within-run estimates: an interval's compute at the run's steady pace
    # plus the extra after its checkpoint, against the same for none / for no
    # checkpoint; and the spacing between checkpoints (seconds of compute) at
    # which that extra would be 5%. In wall time and in the app's CPU time.
    for r in runs:
        x = r.get('analysis')
        if not x:
            continue
        iters = x.get('iters_per_interval') or args.every
        n = by.get(('none', r['rep']), {}).get('analysis') or {}
        for sfx, extra, steady in (('', 'burst_extra_ms', 'steady_us'), ('_cpu', 'burst_extra_cpu_ms', 'steady_cpu_us')):
            if x.get(extra) is None or not x.get(steady):
                continue
            compute_ms = iters * x[steady] / 1e3
            x[f'interval_compute{sfx}_ms'] = compute_ms
            x[f'within{sfx}_vs_nockpt'] = (compute_ms + x[extra]) / compute_ms
            x[f'seconds{sfx}_for_5pct_total'] = max(0.0, x[extra] / 1e3 / 0.05)
            if r['variant'] in ('uffd', 'mprotect') and n.get(extra) is not None:
                x[f'within{sfx}_vs_none'] = (compute_ms + x[extra]) / (compute_ms + n[extra])
                x[f'seconds{sfx}_for_5pct'] = max(0.0, (x[extra] - n[extra]) / 1e3 / 0.05)
    summary = {}
    for v, ss in per.items():
        if not ss:
            continue
        keys = set().union(*ss)
        summary[v] = {}
        for k in keys:
            vals = [s.get(k) for s in ss]
            if all(x is None for x in vals):
                summary[v][k] = None
            elif all(isinstance(x, bool) or x is None for x in vals):
                summary[v][k] = all(x is not False for x in vals)
            else:
                summary[v][k] = med(vals)
    return summary


def merge_limits(all_limits):
    """Median of each tracking_limits figure over the repetitions."""
    if not all_limits:
        return {}
    out = dict(all_limits[0])
    for k, v in all_limits[0].items():
        if isinstance(v, dict):
            out[k] = {kk: med([l.get(k, {}).get(kk) for l in all_limits if isinstance(l.get(k), dict)])
                      for kk in v}
        elif isinstance(v, float):
            out[k] = med([l.get(k) for l in all_limits])
    out['measured'] = len(all_limits)
    return out


# ------------------------------------------------------------------- table

def table(result, args):
    out = []
    w = out.append
    m, s, lim = result['machine'], result['summary'], result['limits']
    src = f", source {result['source_commit']}" if result.get('source_commit') else ''
    w(f"libckpt tracking overhead benchmark, {result['date']}{src}")
    if result.get('label'):
        w('label: ' + result['label'])
    if args.app_env:
        w('application environment: ' + ' '.join(args.app_env))
    w(f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_gib']:.1f} GiB, Linux {m['kernel']}, "
      f"THP {m['thp']}, images on {m['images_fs']}")
    cpu = result.get('cpu') or {}
    if cpu.get('others_share') is not None:
        w(f"load: {m['loadavg_start']} at start, {m.get('loadavg_end', '?')} at end; other processes used "
          f"{cpu['others_cpu_s']:.0f} CPU-s ({cpu['others_share'] * 100:.0f}% of the machine) during the run")
    w(f"workload: memwalk {args.mib} MiB, {args.dirty}% dirty/iteration, {args.iters} iterations, 1 thread, "
      f"sleep {args.sleep_ms} ms; checkpoint after {args.warmup} iterations, then every {args.every} "
      f"(up to {args.checkpoints}); {args.reps} interleaved repetitions, medians")
    w('')
    if lim:
        w(f"write fault costs on this machine (tracking_limits, {lim['buffer_mib']} MiB, one word per page; "
          f"median of {lim['reps']} passes x {lim['measured']} repetitions)")

        def lrow(label, key, extra=''):
            v = lim.get(key)
            if v:
                w(f"  {label:<46}{v['us_per_page']:9.3f} us/page {v.get('cpu_us_per_page', 0):9.3f} CPU-us/page{extra}")
        lrow('write, present page (no fault)', 'write_present')
        lrow('first touch of a fresh page (for scale)', 'first_touch')
        lrow('first write after fork (child gone)', 'fork_reuse')
        lrow('first write after uffd-wp (async)', 'uffd_wp')
        lrow('first write after uffd-wp and fork', 'uffd_wp_after_fork')
        v = lim.get('mprotect')
        if v:
            lrow("first write after mprotect, SIGSEGV", 'mprotect',
                 f"  ({v['us_per_fault']:.1f} us, {v.get('cpu_us_per_fault', 0):.1f} CPU-us per {lim['chunk_kib']} KiB chunk)")
        if lim.get('uffd_scan_written_ms') is not None:
            label = f"PAGEMAP_SCAN, {lim['buffer_mib']} MiB written: scan / rearm"
            w(f"  {label:<46}"
              f"{lim['uffd_scan_written_ms']:9.3f} / {lim['uffd_rearm_written_ms']:.3f} ms")
        w('')
    cols = [v for v in VARIANTS if v in s]
    colw = 11

    def row(label, key, spec, only=None):
        vals = [s[v].get(key) if (only is None or v in only) else None for v in cols]
        w(f'  {label:<52}' + ''.join(f'{fmt(x, spec):>{colw}}' for x in vals))

    w(f"  {'':<52}" + ''.join(f'{v:>{colw}}' for v in cols))
    row('other processes, % of machine during run', 'others_share_pct', '.0f')
    row('checkpoints taken', 'checkpoints', '.0f', cols[1:])
    row('iterations between checkpoints (per interval)', 'iters_per_interval', '.0f', cols[1:])
    w('before the first checkpoint (nothing armed)')
    row('  iteration time, us', 'warm_us', '.1f')
    row('  ratio to baseline, same iterations', 'warm_vs_baseline', '.3f')
    row("application's wait for a CPU, % of its run time", 'app_wait_pct', '.0f')
    w(f'after each checkpoint, against the same run\'s steady pace (iterations {BURST}+ after it)')
    row('  steady iteration time, us (wall)', 'steady_us', '.1f', cols[1:])
    row('  steady pace, ratio to baseline (same iterations)', 'steady_vs_baseline', '.3f', cols[1:])
    row('  pages still protected when the checkpoint returned', 'pages_after_window', '.0f', cols[1:])
    row(f'  extra wall time, first {BURST} iterations, ms', 'burst_extra_ms', '.0f', cols[1:])
    row('    per page still protected, us', 'burst_us_per_page', '.1f', cols[1:])
    row('    predicted: pages x fault cost (limits), ms', 'predicted_extra_ms', '.0f', cols[1:])
    row('    tracking alone (minus none), ms', 'burst_tracking_ms', '.0f', ('uffd', 'mprotect'))
    row(f'  extra CPU time, first ~{BURST} iterations, ms', 'burst_extra_cpu_ms', '.0f', cols[1:])
    row('    per page still protected, us', 'burst_cpu_us_per_page', '.1f', cols[1:])
    row('    predicted: pages x fault CPU cost (limits), ms', 'predicted_extra_cpu_ms', '.0f', cols[1:])
    row('    tracking alone (minus none), ms', 'burst_tracking_cpu_ms', '.0f', ('uffd', 'mprotect'))
    row(f'  interval ({args.every} it.) time, ratio to no checkpoint', 'within_vs_nockpt', '.3f', cols[1:])
    row('    same in CPU time', 'within_cpu_vs_nockpt', '.3f', cols[1:])
    row('  interval time, ratio to none (tracking overhead)', 'within_vs_none', '.3f', ('uffd', 'mprotect'))
    row('    same in CPU time', 'within_cpu_vs_none', '.3f', ('uffd', 'mprotect'))
    row('  spacing for <= 5% vs none, s of compute', 'seconds_for_5pct', '.1f', ('uffd', 'mprotect'))
    row('    same in CPU time', 'seconds_cpu_for_5pct', '.1f', ('uffd', 'mprotect'))
    row('  spacing for <= 5% vs no checkpoint, s of compute', 'seconds_for_5pct_total', '.1f', cols[1:])
    row('    same in CPU time', 'seconds_cpu_for_5pct_total', '.1f', cols[1:])
    w('between checkpoints, against the other runs (iterations not overlapped by one)')
    row('  iterations measured', 'between_iters', '.0f', cols[1:])
    row('  time, ratio to baseline, same iterations', 'between_vs_baseline', '.3f', cols[1:])
    row('  time, ratio to none (tracking overhead)', 'between_vs_none', '.3f', ('uffd', 'mprotect'))
    row('  extra time per interval vs baseline, ms', 'extra_per_interval_ms', '.0f', cols[1:])
    w('checkpoints')
    row('  downtime (frozen), ms', 'frozen_ms', '.1f', cols[1:])
    row('    libckpt: capture incl. rearm (frozen), ms', 'capture_ms', '.0f', cols[1:])
    row('  checkpoint total (ckpt-run), ms', 'checkpoint_ms', '.0f', cols[1:])
    row('  app time lost per checkpoint (overlapped), ms', 'lost_per_checkpoint_ms', '.0f', cols[1:])
    row('  iterations overlapped by a checkpoint (each)', 'ckpt_iters_each', '.0f', cols[1:])
    row('    of which after the thaw (writer running)', 'thawed_iters_each', '.0f', cols[1:])
    row('total wall time, s', 'wall_s', '.2f')
    row('  ratio to baseline', 'wall_vs_baseline', '.3f')
    row('  ratio to none', 'wall_vs_none', '.3f', cols[1:])
    w('images (memwalk data compresses worse as it runs: compare pages, or bytes at the same checkpoint)')
    row('  pages stored: first image (full)', 'first_image_pages', '.0f', cols[1:])
    row('  pages stored: later images (incremental unless none)', 'later_image_pages', '.0f', cols[1:])
    row('  expected share of pages written per interval', 'written_share', '.3f', cols[1:])
    row('  first image, MiB', 'first_image_mib', '.1f', cols[1:])
    row('  later images, MiB', 'later_image_mib', '.1f', cols[1:])
    row("  later / none's image at the same checkpoint (bytes)", 'later_vs_none', '.2f', ('uffd', 'mprotect'))
    row('same iteration hashes and final hash as baseline', 'final_ok', '')
    return '\n'.join(out)


# -------------------------------------------------------------------- main

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--build', default=os.path.join(here, '..', 'build'), help='meson build directory')
    ap.add_argument('--out', help='JSON output (default BUILD/bench/results/tracking.json)')
    ap.add_argument('--quick', action='store_true', help='64 MiB, 1 repetition, shorter runs')
    ap.add_argument('--mib', type=int, help='memwalk size (default 256; quick 64)')
    ap.add_argument('--dirty', type=int, default=5, help='memwalk dirty %% per iteration (default 5)')
    ap.add_argument('--sleep-ms', type=int, default=0, help='memwalk sleep between iterations (default 0)')
    ap.add_argument('--reps', type=int, help='interleaved repetitions of the four variants (default 3; quick 1)')
    ap.add_argument('--checkpoints', type=int, default=3, help='checkpoints per run (default 3)')
    ap.add_argument('--warmup', type=int, help='iterations before the first checkpoint (default 2000)')
    ap.add_argument('--every', type=int, help='iterations between a checkpoint and the next (default 10000)')
    ap.add_argument('--iters', type=int, help='memwalk iterations (default warmup + (checkpoints + 1) * every)')
    ap.add_argument('--variants', default=','.join(VARIANTS),
                    help='comma-separated subset of ' + ','.join(VARIANTS) + ' (baseline and none are always run)')
    ap.add_argument('--limit-mib', type=int, help="tracking_limits buffer (default: memwalk's size)")
    ap.add_argument('--limit-reps', type=int, default=3,
                    help='passes of each tracking_limits measurement, in each repetition (default 3)')
    ap.add_argument('--chunk-kib', type=int, help="mprotect chunk for tracking_limits (default: libckpt's for MIB)")
    ap.add_argument('--app-env', action='append', default=[], metavar='KEY=VALUE',
                    help='environment for the launched applications, e.g. CKPT_FORKED_WRITER=0')
    ap.add_argument('--label', help='free text recorded with the results')
    ap.add_argument('--tmp', help='where images go (default: the system temporary directory)')
    ap.add_argument('--timeout', type=float, default=300, help='bound on each wait, seconds')
    ap.add_argument('--keep', action='store_true', help='keep the temporary directory, images and outputs')
    args = ap.parse_args()
    args.mib = args.mib or (64 if args.quick else 256)
    args.limit_mib = args.limit_mib or args.mib
    args.reps = args.reps or (1 if args.quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (1000 if args.quick else 2000)
    args.every = args.every or (4000 if args.quick else 10000)
    args.iters = args.iters or args.warmup + (args.checkpoints + 1) * args.every
    if args.chunk_kib is None:  # libckpt's mprotect backend: at most 16384 chunks, a power of two >= 4 KiB
        chunk = 4096
        while (args.mib << 20) / chunk > 16384:
            chunk *= 2
        args.chunk_kib = chunk // 1024
    variants = [v for v in VARIANTS if v in {'baseline', 'none'} | set(args.variants.split(','))]
    out_path = args.out or os.path.join(os.path.abspath(args.build), 'bench', 'results', 'tracking.json')

    try:  # orphans come to us, to be killed
        ctypes.CDLL(None, use_errno=True).prctl(rb.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass

    bench = TrackingBench(args)
    started = time.monotonic()
    cpu0 = rb.cpu_snapshot()
    result = {
        'schema': 1,
        'benchmark': 'tracking_overhead',
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'machine': rb.machine_info(os.path.realpath(bench.tmp)),
        'source_commit': rb.git_commit(os.path.join(here, '..')),
        'label': args.label,
        'params': {k: getattr(args, k) for k in ('mib', 'dirty', 'sleep_ms', 'reps', 'checkpoints', 'warmup',
                                                 'every', 'iters', 'chunk_kib', 'app_env')},
        'limits': {}, 'limits_by_rep': {}, 'runs': [], 'errors': [],
    }
    result['params']['variants'] = variants
    error = None
    try:
        for prog in ('memwalk', 'tracking_limits'):
            bench.program(prog)
        if not os.access(bench.ckpt_run, os.X_OK):
            raise BenchError(f'{bench.ckpt_run} is missing: build first (ninja -C {bench.build})')
        for rep in range(args.reps):
            print(f'rep {rep + 1}/{args.reps}: write fault costs (tracking_limits) ...', file=sys.stderr, flush=True)
            result['limits_by_rep'][rep] = bench.tracking_limits()
            for v in variants:
                print(f'rep {rep + 1}/{args.reps}: {v} ...', file=sys.stderr, flush=True)
                run = bench.run_variant(v, rep)
                result['runs'].append(run)
                print(f'  {run["wall_s"]:.1f} s, {len(run["checkpoints"])} checkpoint(s)', file=sys.stderr, flush=True)
    except (BenchError, subprocess.TimeoutExpired, OSError, ValueError) as e:
        error = e
    finally:
        bench.cleanup()
    failed = rb.finish_run(result, error, started, cpu0)
    result['limits'] = merge_limits(list(result['limits_by_rep'].values()))
    result['summary'] = summarize(result, args) if result['runs'] else {}
    for r in result['runs']:  # per-iteration data is large: keep the analysis only
        r.pop('iter_t', None)
        r.pop('iter_hash', None)
        r.pop('samples', None)
    if result['summary']:
        print(table(result, args))
    for e in result['errors']:
        print('error: ' + e)
    bad = [v for v, s in result['summary'].items() if s.get('final_ok') is False]
    if bad:
        print('iteration hashes differ from the baseline in: ' + ', '.join(bad))
    short = [f"{r['variant']}-{r['rep']}" for r in result['runs']
             if r['variant'] != 'baseline' and len(r['checkpoints']) < args.checkpoints]
    if short:
        print('fewer checkpoints than asked (memwalk ran out of iterations) in: ' + ', '.join(short))
    print(f"\n(total {result['elapsed_s']:.0f} s; JSON: {out_path})")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    with open(out_path + '.tmp', 'w') as f:
        json.dump(result, f, indent=1)
        f.write('\n')
    os.replace(out_path + '.tmp', out_path)
    return 1 if failed or bad else 0


if __name__ == '__main__':
    sys.exit(main())
