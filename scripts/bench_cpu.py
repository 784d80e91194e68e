#!/usr/bin/env python3
"""bench_cpu.py: our trainer and image tower against PyTorch on the CPU, in one run (scripts/bench-cpu.sh builds
the binary, makes .venv and runs this).

Rows (each program runs alone, with the same threads: OMP_NUM_THREADS=T and --threads T on both sides):
  train f32     s/step of a training step, tiny at B=256 and small at B=128: `siglip train --data shapes
                --no-eval --vocab 1000` (median of step_s in metrics.jsonl after the warm-up steps) against
                `torch_reference.py bench --device cpu` (transformers' SiglipModel, the same sigmoid loss, AdamW,
                gradient clipping; median step time after its warm-up steps). Random pixels on PyTorch's side,
                synthetic shapes on ours: the same shapes and work per step.
  train bf16    ours with --precision bf16 (bf16 activations and GEMM operands, f32 master weights), against our
                f32 and PyTorch's f32; with --torch-bf16 also PyTorch under CPU autocast(bfloat16).
  peak RSS      of each training process (ru_maxrss; PyTorch's includes Python, torch and transformers).
  tensors       ours: the peak of the host memory held in tensors during the steps.
  inference     images/s of the image tower (MAP head and L2 normalisation included) on random images in
                batches: `siglip bench embed` against `torch_reference.py infer` (get_image_features under
                inference_mode), both the median of the full batches after 2 warm-up batches; f32, and bf16
                (ours --precision bf16, PyTorch under CPU autocast(bfloat16)).

Each round runs every row's two programs one after the other, ours first in odd rounds and PyTorch first in even
rounds; a cell is the median over the rounds. Ratios: time PyTorch/ours and images/s ours/PyTorch (> 1: ours
faster), memory ours/PyTorch (< 1: ours smaller).

The FMA peak, measured: `siglip bench ops --peak-only` (f32 FMAs on registers, every thread busy), the rate the
cores reach at the clock they run at with the FMA units they have (a 2-core AMD EPYC of the Zen 4 generation
splits each AVX-512 FMA over two 256-bit halves: 32 FLOP/cycle, not 64). Next to it the nominal peak: cores x GHz
x FLOP/cycle, 64 with AVX-512 (16 f32 lanes x 2 FMA units x 2 FLOP), 32 with AVX2; GHz from lscpu's "CPU max MHz",
else /proc/cpuinfo's "cpu MHz" (or --ghz). Percentages are of the measured peak. The achieved GFLOP/s of the tiny
f32 step is torch_reference.py's model FLOPs per step (matmul work, 6 N D plus attention) over the step time; the
"f32 ceiling" line is PyTorch's step time over the time those FLOPs take at the measured peak: the most any f32
implementation could gain over PyTorch on this machine. The "inference" lines do the same for the image tower's
forward (torch_reference.vision_forward_flops: patch embedding, encoder, attention-pooling head).
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import torch_reference  # noqa: E402  (model_flops and the presets; imports no torch)

VOCAB = 1000  # torch_reference.py's presets: our token table is padded to the same rows


def die(msg):
    print(f"bench-cpu: {msg}", file=sys.stderr)
    sys.exit(1)


def run(name, cmd, work, env):
    """Runs cmd with its output in WORK/NAME.log; stops the benchmark, showing the log's end, when it fails."""
    log = os.path.join(work, name + ".log")
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    with open(log) as f:
        text = f.read()
    if r.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        die(f"{name} failed (exit {r.returncode}): {' '.join(cmd)}\n{tail}\n(log: {log})")
    return text


def last_json(text, name):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    die(f"{name}: no JSON line in its output")


def mb_to_mib(mb):
    return mb * 1e6 / 2**20


def measured_peak(a, work, env, name):
    """GFLOP/s of `siglip bench ops --peak-only` with the benchmark's threads, or None where it is not measured."""
    text = run(name, [a.siglip, "bench", "ops", "--peak-only", "--reps", "9"], work, env)
    m = re.search(r"FMA peak: (.*?), best of \d+: ([0-9.]+) GFLOP/s", text)
    return (float(m.group(2)), m.group(1)) if m else (None, text.strip())


def ours_train(a, cfg, batch, precision, work, env, name):
    out = os.path.join(work, name)
    shutil.rmtree(out, ignore_errors=True)
    text = run(name, [a.siglip, "train", "--data", "shapes:1024:64", "--config", cfg, "--batch", str(batch),
                      "--steps", str(a.warmup + a.steps), "--precision", precision, "--threads", str(a.threads),
                      "--vocab", str(VOCAB), "--no-eval", "--log-every", "1000", "--out", out], work, env)
    with open(os.path.join(out, "metrics.jsonl")) as f:
        steps = [json.loads(line)["step_s"] for line in f if '"step_s"' in line]
    shutil.rmtree(out, ignore_errors=True)
    if len(steps) != a.warmup + a.steps:
        die(f"{name}: {len(steps)} steps in metrics.jsonl, expected {a.warmup + a.steps}")
    m = re.search(r"peak host memory in tensors (\d+) MB, peak RSS (\d+) MB", text)
    if not m:
        die(f"{name}: no 'peak host memory in tensors ... MB, peak RSS ... MB' line in its output")
    return {"s_step": statistics.median(steps[a.warmup:]), "rss_mib": mb_to_mib(float(m.group(2))),
            "tensor_mib": mb_to_mib(float(m.group(1)))}


def torch_train(a, cfg, batch, dtype, work, env, name):
    text = run(name, [a.python, "scripts/torch_reference.py", "bench", "--device", "cpu", "--config", cfg,
                      "--batch", str(batch), "--steps", str(a.steps), "--warmup", str(a.warmup), "--dtype", dtype,
                      "--threads", str(a.threads)], work, env)
    j = last_json(text, name)
    return {"s_step": j["median_ms"] / 1e3, "rss_mib": j["peak_rss_mib"], "torch": j["torch"], "model": j["model"]}


def ours_infer(a, cfg, images, precision, work, env, name):
    j = last_json(run(name, [a.siglip, "bench", "embed", "--config", cfg, "--images", str(images), "--batch",
                             str(a.infer_batch), "--precision", precision, "--threads", str(a.threads)], work, env),
                  name)
    return {"images_s": j["images_per_s"], "rss_mib": j["peak_rss_mib"]}


def torch_infer(a, cfg, images, dtype, work, env, name):
    j = last_json(run(name, [a.python, "scripts/torch_reference.py", "infer", "--device", "cpu", "--config", cfg,
                             "--images", str(images), "--batch", str(a.infer_batch), "--dtype", dtype, "--threads",
                             str(a.threads)], work, env), name)
    return {"images_s": j["images_per_s"], "rss_mib": j["peak_rss_mib"]}


def cpu_flags():
    """The first "flags" line of /proc/cpuinfo, as a list."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.strip() == "flags":
                return value.split()
    return []


def cpu_has_bf16_dot():
    """True where the CPU has bf16 dot-product instructions (AVX512_BF16 or AMX)."""
    flags = cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_info():
    """(model name, physical cores or None, GHz, how the GHz was found, FLOP/cycle per core, why)."""
    name, mhz, flags, cores = "unknown", None, cpu_flags(), None
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name" and name == "unknown":
                name = value
            elif key == "cpu MHz" and mhz is None:
                mhz, source = float(value), "/proc/cpuinfo cpu MHz"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"^CPU max MHz:\s*([0-9.]+)", lscpu, re.M)
        if m and float(m.group(1)) > 0:
            mhz, source = float(m.group(1)), "lscpu CPU max MHz"
        per_socket = re.search(r"^Core\(s\) per socket:\s*(\d+)", lscpu, re.M)
        sockets = re.search(r"^Socket\(s\):\s*(\d+)", lscpu, re.M)
        if per_socket and sockets:
            cores = int(per_socket.group(1)) * int(sockets.group(1))
    except OSError:
        pass
    if "avx512f" in flags:
        fpc, why = 64, "AVX-512: 16 f32 lanes x 2 FMA units x 2 FLOP"
    elif "avx2" in flags and "fma" in flags:
        fpc, why = 32, "AVX2: 8 f32 lanes x 2 FMA units x 2 FLOP"
    else:
        fpc, why = 8, "SSE: 4 f32 lanes x 2 FLOP"
    if mhz is None:
        return name, cores, None, "no clock found (give --ghz)", fpc, why
    return name, cores, mhz / 1e3, source, fpc, why


def git_commit():
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=ROOT).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def fmt(v, digits):
    return "-" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--siglip", required=True, help="our binary")
    p.add_argument("--python", default=sys.executable, help="the Python with torch and transformers (.venv)")
    p.add_argument("--rounds", type=int, default=2, help="rounds; each cell is the median over them")
    p.add_argument("--steps", type=int, default=3, help="timed training steps per run")
    p.add_argument("--warmup", type=int, default=1, help="training steps before the timed ones")
    p.add_argument("--tiny-batch", type=int, default=256)
    p.add_argument("--small-batch", type=int, default=128)
    p.add_argument("--images", type=int, default=10000, help="images per inference run, tiny")
    p.add_argument("--small-images", type=int, default=1280, help="images per inference run, small")
    p.add_argument("--infer-batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads of both programs")
    p.add_argument("--torch-bf16", action="store_true", help="also PyTorch's training step under bf16 autocast")
    p.add_argument("--no-small", action="store_true", help="tiny only")
    p.add_argument("--ghz", type=float, default=None, help="the clock for the FMA peak (default: lscpu/cpuinfo)")
    p.add_argument("--markdown", default=None, metavar="FILE", help="also write the table as markdown to FILE")
    p.add_argument("--work", default=None, metavar="DIR", help="logs and run directories (default: a temp dir)")
    a = p.parse_args()
    for name in ("rounds", "steps", "tiny_batch", "small_batch", "infer_batch", "threads"):
        if getattr(a, name) < 1:
            die(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    if a.warmup < 0:
        die(f"--warmup must be >= 0, got {a.warmup}")
    for name in ("images", "small_images"):
        if getattr(a, name) < a.infer_batch:
            die(f"--{name.replace('_', '-')} {getattr(a, name)} must be >= --infer-batch {a.infer_batch}")
    if not os.access(a.siglip, os.X_OK):
        die(f"{a.siglip} is not an executable (scripts/bench-cpu.sh builds it)")
    a.siglip = os.path.abspath(a.siglip)
    work = a.work or tempfile.mkdtemp(prefix="bench-cpu.")
    os.makedirs(work, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))

    versions = subprocess.run([a.python, "-c", "import json, torch, transformers; print(json.dumps({'torch': "
                               "torch.__version__, 'transformers': transformers.__version__, 'capability': "
                               "torch.backends.cpu.get_cpu_capability(), 'blas': next((w.split('=')[1] for w in "
                               "torch.__config__.show().replace(',', ' ').split() if w.startswith('BLAS_INFO=')), "
                               "'?')}))"], capture_output=True, text=True)
    if versions.returncode != 0:
        die(f"{a.python} cannot import torch and transformers (scripts/install-deps.sh --oracles): "
            f"{versions.stderr.strip()[-500:]}")
    v = json.loads(versions.stdout)
    name, cores, ghz, ghz_source, fpc, fpc_why = cpu_info()
    cores = min(a.threads, cores or a.threads)  # the cores the threads can use (SMT siblings share FMA units)
    if a.ghz:
        ghz, ghz_source = a.ghz, "--ghz"

    configs = [("tiny", a.tiny_batch, a.images)] + ([] if a.no_small else [("small", a.small_batch, a.small_images)])
    # Without bf16 dot products the bf16 rows would time our f32 again and PyTorch's bf16 emulation (minutes for
    # the 10,000 images of one inference row): they are left out, and the table says why.
    bf16_dot = cpu_has_bf16_dot()
    precisions = ("f32", "bf16") if bf16_dot else ("f32",)
    # (row key, our function, PyTorch's function or None); each returns a dict of measurements
    jobs = []
    for cfg, batch, images in configs:
        jobs.append((f"train {cfg} f32", lambda n, c=cfg, b=batch: ours_train(a, c, b, "f32", work, env, n),
                     lambda n, c=cfg, b=batch: torch_train(a, c, b, "f32", work, env, n)))
        if bf16_dot:
            jobs.append((f"train {cfg} bf16", lambda n, c=cfg, b=batch: ours_train(a, c, b, "bf16", work, env, n),
                         (lambda n, c=cfg, b=batch: torch_train(a, c, b, "bf16", work, env, n)) if a.torch_bf16
                         else None))
    for cfg, batch, images in configs:
        for prec in precisions:
            jobs.append((f"infer {cfg} {prec}", lambda n, c=cfg, i=images, p=prec: ours_infer(a, c, i, p, work, env, n),
                         lambda n, c=cfg, i=images, p=prec: torch_infer(a, c, i, p, work, env, n)))

    t_start = time.monotonic()
    print(f"bench-cpu: {a.rounds} rounds, {a.threads} threads, logs in {work}", flush=True)
    measured, measured_how = measured_peak(a, work, env, "fma_peak_before")
    print(f"FMA peak, measured before: {fmt(measured, 1)} GFLOP/s ({measured_how})", flush=True)
    results = {}  # (row, side) -> list of dicts over the rounds
    total = a.rounds * sum(1 + (t is not None) for _, _, t in jobs)
    done = 0
    for r in range(a.rounds):
        for row, ours, theirs in jobs:
            sides = [("ours", ours), ("pytorch", theirs)]
            if r % 2 == 1:
                sides.reverse()
            for side, f in sides:
                if f is None:
                    continue
                done += 1
                tag = f"{row.replace(' ', '_')}_{side}_r{r + 1}"
                m = f(tag)
                results.setdefault((row, side), []).append(m)
                shown = ", ".join(f"{k} {x:.3f}" if isinstance(x, float) else f"{k} {x}" for k, x in m.items()
                                  if k not in ("model",))
                print(f"[{done}/{total}] round {r + 1} {side:<7} {row:<16} {shown}", flush=True)

    after, _ = measured_peak(a, work, env, "fma_peak_after")  # again after the rounds: the higher of the two is the peak
    print(f"FMA peak, measured after: {fmt(after, 1)} GFLOP/s", flush=True)
    if after and (measured is None or after > measured):
        measured = after
    if measured:
        measured_how += " (the higher of a measurement before and one after the rounds, each the best of 9 runs)"

    def med(row, side, key):
        runs = results.get((row, side))
        return statistics.median(x[key] for x in runs) if runs else None

    tiny_b = a.tiny_batch
    flops = torch_reference.model_flops(torch_reference._preset("tiny"), tiny_b)[0]
    nominal = cores * ghz * fpc if ghz else None
    peak = measured or nominal
    rows = []  # (row, ours, pytorch, ratio, note)
    for cfg, batch, _ in configs:
        o, t = med(f"train {cfg} f32", "ours", "s_step"), med(f"train {cfg} f32", "pytorch", "s_step")
        rows.append((f"train {cfg} f32, B={batch} (s/step)", fmt(o, 3), fmt(t, 3), ratio(t, o),
                     "PyTorch/ours: > 1 ours faster"))
    for cfg, batch, _ in configs if bf16_dot else []:
        o = med(f"train {cfg} bf16", "ours", "s_step")
        t = med(f"train {cfg} bf16", "pytorch", "s_step")
        of32, tf32 = med(f"train {cfg} f32", "ours", "s_step"), med(f"train {cfg} f32", "pytorch", "s_step")
        rows.append((f"train {cfg} bf16, B={batch} (s/step)", fmt(o, 3), fmt(t, 3) if t else "not run",
                     ratio(t, o), f"vs our f32 {ratio(of32, o)}, vs PyTorch f32 {ratio(tf32, o)}"))
    for cfg, batch, _ in configs:
        for prec in precisions:
            o, t = med(f"train {cfg} {prec}", "ours", "rss_mib"), med(f"train {cfg} {prec}", "pytorch", "rss_mib")
            if o is None:
                continue
            rows.append((f"peak RSS, train {cfg} {prec} (MiB)", fmt(o, 0), fmt(t, 0), ratio(o, t),
                         "ours/PyTorch: < 1 ours smaller" if t else "ours only"))
    for cfg, batch, _ in configs:
        for prec in precisions:
            rows.append((f"peak tensor memory, train {cfg} {prec} (MiB)", fmt(med(f"train {cfg} {prec}", "ours",
                         "tensor_mib"), 0), "-", "-", "ours: host memory held in tensors"))
    for cfg, _, images in configs:
        for prec in precisions:
            o, t = med(f"infer {cfg} {prec}", "ours", "images_s"), med(f"infer {cfg} {prec}", "pytorch", "images_s")
            how = "; PyTorch under autocast(bfloat16)" if prec == "bf16" else ""
            rows.append((f"inference {cfg} {prec}, B={a.infer_batch} (images/s)", fmt(o, 1), fmt(t, 1), ratio(o, t),
                         f"ours/PyTorch: > 1 ours faster; {images} images{how}"))
        for prec in precisions:
            o, t = med(f"infer {cfg} {prec}", "ours", "rss_mib"), med(f"infer {cfg} {prec}", "pytorch", "rss_mib")
            rows.append((f"peak RSS, inference {cfg} {prec} (MiB)", fmt(o, 0), fmt(t, 0), ratio(o, t),
                         "ours/PyTorch: < 1 ours smaller"))

    o, t = med("train tiny f32", "ours", "s_step"), med("train tiny f32", "pytorch", "s_step")
    head = [
        f"date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, commit {git_commit()}",
        f"CPU: {name}, {os.cpu_count()} logical CPUs; both programs run with {a.threads} threads "
        f"(OMP_NUM_THREADS={a.threads}, --threads {a.threads})",
        f"PyTorch {v['torch']} (BLAS {v['blas']}, CPU capability {v['capability']}), transformers "
        f"{v['transformers']}: SiglipModel, sdpa attention",
        f"{a.rounds} round{'s' * (a.rounds != 1)} (ours and PyTorch alternate; a cell is the median over the rounds); "
        f"each training run: the median of {a.steps} step{'s' * (a.steps != 1)} after {a.warmup} warm-up; the "
        f"benchmark took "
        f"{(time.monotonic() - t_start) / 60:.1f} min",
    ]
    if measured:
        head.append(f"FMA peak, measured: {measured:.0f} GFLOP/s (siglip bench ops --peak-only: {measured_how})")
    else:
        head.append(f"FMA peak, measured: none ({measured_how[-200:]})")
    if nominal:
        head.append(f"FMA peak, nominal: {cores} cores x {ghz:.2f} GHz ({ghz_source}) x {fpc} FLOP/cycle ({fpc_why}) "
                    f"= {nominal:.0f} GFLOP/s")
    else:
        head.append(f"FMA peak, nominal: unknown, {ghz_source}")
    gf = lambda s: flops / s / 1e9 if s else None  # noqa: E731
    which = "measured" if measured else "nominal"
    pct = lambda s: f" ({100 * gf(s) / peak:.0f}% of the {which} peak)" if s and peak else ""  # noqa: E731
    head.append(f"tiny f32 step, B={tiny_b}: {flops / 1e9:.0f} GFLOP (model FLOPs, torch_reference.py); ours "
                f"{fmt(gf(o), 1)} GFLOP/s{pct(o)}, PyTorch {fmt(gf(t), 1)} GFLOP/s{pct(t)}")
    if peak and t:
        floor = flops / (peak * 1e9)
        head.append(f"f32 ceiling: those FLOPs take {floor:.3f} s at the peak, so no f32 step can beat PyTorch's "
                    f"{t:.3f} s by more than {t / floor:.2f}x here")
    if not bf16_dot:
        head.append("bf16 rows not run: this CPU has no bf16 dot products (AVX512_BF16 or AMX), where our "
                    "--precision bf16 says so and runs in f32 (siglip/cpu_precision.h) and PyTorch's autocast "
                    "emulates bf16 at a fraction of its f32 speed")
    for cfg, _, _ in configs:  # the same for the image tower's forward (inference)
        per_image = torch_reference.vision_forward_flops(torch_reference._preset(cfg)["vision_config"], 1)[0]
        oi, ti = med(f"infer {cfg} f32", "ours", "images_s"), med(f"infer {cfg} f32", "pytorch", "images_s")
        gi = lambda n: per_image * n / 1e9 if n else None  # noqa: E731
        pi = lambda n: f" ({100 * gi(n) / peak:.0f}% of the {which} peak)" if n and peak else ""  # noqa: E731
        line = (f"inference {cfg} f32: {per_image / 1e6:.0f} MFLOP per image (image tower forward); ours "
                f"{fmt(gi(oi), 1)} GFLOP/s{pi(oi)}, PyTorch {fmt(gi(ti), 1)} GFLOP/s{pi(ti)}")
        if peak and ti:
            ceiling = peak * 1e9 / per_image
            line += (f"; at the peak {ceiling:.0f} images/s, so no f32 image tower can beat PyTorch's {ti:.1f} "
                     f"images/s by more than {ceiling / ti:.2f}x here")
        head.append(line)

    cols = ("row", "ours", "PyTorch", "ratio", "")
    widths = [max(len(str(r[i])) for r in rows + [cols]) for i in range(5)]
    print()
    for line in head:
        print(line)
    print()
    for r in [cols] + rows:
        print("  ".join(str(x).ljust(w) if i in (0, 4) else str(x).rjust(w) for i, (x, w) in
                        enumerate(zip(r, widths))).rstrip())
    if a.markdown:
        with open(a.markdown, "w") as f:
            for line in head:
                f.write(f"- {line}\n")
            f.write("\n| row | ours | PyTorch | ratio | |\n|---|---:|---:|---:|---|\n")
            for r in rows:
                f.write("| " + " | ".join(str(x) for x in r) + " |\n")
        print(f"\nwrote {a.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
