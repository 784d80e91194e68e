#!/usr/bin/env python3
"""bench_data_scale.py: does a training run's memory or start-up grow with the size of its data set?

For each size N (default 20,000 and 200,000) the shapes data is packed once into WebDataset shards
(`siglip data pack --data shapes:N:1000 --image-size 32 --shard-size 5000`, kept in OUT for later runs), then the
same training run streams them: micro config at 32 px, batch 128, STEPS steps, one model thread, two decoding
workers, no evaluation. `data pack` writes shardindex.json, so the larger set's counts are not read from its shards. Measured per run:
  start-up   seconds from launching `siglip train` to its first step's line (log every step)
  peak RSS   the process's maximum resident set size (wait4's ru_maxrss)
  s/step     the median of the steps after the first
The sizes run alternately, REPEATS times each; the table gives the medians and the ratio of the largest size to
the smallest. Usage: python3 scripts/bench_data_scale.py --siglip build/siglip [--sizes 20000,200000] [--steps 30]
"""
import argparse
import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import time


def die(msg):
    print(f"bench_data_scale: {msg}", file=sys.stderr)
    sys.exit(1)


def pack(binary, out, n):
    d = os.path.join(out, str(n))
    if not glob.glob(os.path.join(d, "*.tar")):
        t0 = time.perf_counter()
        r = subprocess.run([binary, "data", "pack", "--data", f"shapes:{n}:1000", "--image-size", "32", "--shard-size",
                            "5000", "--out", d, "--force"], capture_output=True, text=True)
        if r.returncode != 0:
            die(f"data pack failed:\n{r.stdout}{r.stderr}")
        print(f"packed shapes:{n}:1000 into {d} in {time.perf_counter() - t0:.0f}s", flush=True)
    train = sorted(glob.glob(os.path.join(d, "[0-9]*.tar")))
    test = sorted(glob.glob(os.path.join(d, "test", "*.tar")))
    spec = lambda files: os.path.join(os.path.dirname(files[0]), "{%05d..%05d}.tar" % (0, len(files) - 1))
    return spec(train), spec(test), sum(os.path.getsize(f) for f in train)


def train(binary, data, eval_data, steps, run_dir):
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run each time
    cmd = [binary, "train", "--data", data, "--eval-data", eval_data, "--config", "micro", "--image-size", "32",
           "--batch", "128", "--steps", str(steps), "--log-every", "1", "--no-eval", "--threads", "1", "--out", run_dir]
    env = dict(os.environ, OMP_WAIT_POLICY="passive")  # idle OpenMP threads sleep instead of taking the workers' time
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    first, stamps, lines = None, [], []
    for line in p.stdout:
        lines.append(line)
        if re.match(r"step\s+\d+/", line):
            now = time.perf_counter() - t0
            first = first if first is not None else now
            stamps.append(now)
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0 or first is None:
        die("training failed:\n" + "".join(lines[-20:]))
    per_step = statistics.median(b - a for a, b in zip(stamps[1:], stamps[2:]))
    return first, usage.ru_maxrss / 1024.0, per_step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--siglip", default="build/siglip")
    ap.add_argument("--sizes", default="20000,200000")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="/tmp/sg-bench-scale")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    packed = {n: pack(a.siglip, a.out, n) for n in sizes}
    results = {n: [] for n in sizes}
    for _ in range(a.repeats):
        for n in sizes:
            results[n].append(train(a.siglip, packed[n][0], packed[n][1], a.steps, os.path.join(a.out, f"run-{n}")))
    print(f"micro at 32 px, batch 128, {a.steps} steps, streamed shards; median of {a.repeats} alternating runs")
    print(f"{'samples':>9} {'shards MB':>10} {'start-up s':>11} {'peak RSS MiB':>13} {'s/step':>8}")
    med = {}
    for n in sizes:
        med[n] = [statistics.median(r[i] for r in results[n]) for i in range(3)]
        print(f"{n:9d} {packed[n][2] / 1e6:10.1f} {med[n][0]:11.2f} {med[n][1]:13.1f} {med[n][2]:8.3f}")
    lo, hi = sizes[0], sizes[-1]
    print(f"ratio {hi} / {lo}: start-up {med[hi][0] / med[lo][0]:.3f}, peak RSS {med[hi][1] / med[lo][1]:.3f}")


if __name__ == "__main__":
    main()
