#!/usr/bin/env python3
"""bench_loader.py: how fast the streaming loader turns WebDataset JPEG shards into training batches, against
PyTorch's DataLoader reading the same shards, in the same run.

Both sides decode every image, resize it to SIZE x SIZE, normalise it to [-1, 1] and stack batches of 64:
  siglip    `siglip data stats --data SHARDS --workers W --image-size SIZE --limit N` (the ShardLoader that
            `siglip train` uses: libarchive, libjpeg-turbo, Pillow's resize, a shuffle buffer of 1000)
  pytorch   torch.utils.data.DataLoader(num_workers=W, batch_size=64) over an IterableDataset that reads the tar
            shards with Python's tarfile (shards split over the workers), decodes with PIL and applies
            torchvision's Resize((SIZE, SIZE)), ToTensor and Normalize(0.5, 0.5)
The two run alternately, REPEATS times each; the table gives the median rate of each and their ratio.

The shards: N photo-like 512x384 JPEGs (quality 90, 4:2:0; smooth gradients, blobs and noise, about 40 KB each)
with a caption each, written once into OUT (reused when present).

Needs .venv (scripts/install-deps.sh --oracles) and torchvision (`.venv/bin/pip install torchvision`).
Usage: .venv/bin/python scripts/bench_loader.py --siglip build/siglip [--samples 2000] [--workers 2] [--size 224]
"""
import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tarfile
import time


def die(msg):
    print(f"bench_loader: {msg}", file=sys.stderr)
    sys.exit(1)


def make_shards(out, samples, shard_size, seed=0):
    import numpy as np
    from PIL import Image
    os.makedirs(out, exist_ok=True)
    n_shards = (samples + shard_size - 1) // shard_size
    paths = [os.path.join(out, f"{i:05d}.tar") for i in range(n_shards)]
    if all(os.path.exists(p) for p in paths):
        return paths
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:384, 0:512].astype(np.float32)
    k = 0
    for p in paths:
        tmp = p + ".part"
        with tarfile.open(tmp, "w") as tar:
            for _ in range(min(shard_size, samples - k)):
                img = np.zeros((384, 512, 3), np.float32)
                for c in range(3):  # a smooth background: a random linear gradient per channel
                    a, b, d = rng.uniform(-0.3, 0.3, 2).tolist() + [rng.uniform(40, 200)]
                    img[..., c] = d + a * xx + b * yy
                for _ in range(6):  # soft blobs
                    cx, cy, r = rng.uniform(0, 512), rng.uniform(0, 384), rng.uniform(20, 120)
                    w = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
                    img = img * (1 - w) + w * rng.uniform(0, 255, 3)
                img += rng.normal(0, 6, img.shape)  # sensor-like noise
                buf = io.BytesIO()
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
                for name, data in ((f"{k:07d}.jpg", buf.getvalue()), (f"{k:07d}.txt", f"picture {k}".encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                k += 1
        os.replace(tmp, p)
    return paths


def run_siglip(binary, spec, workers, size, samples):
    r = subprocess.run([binary, "data", "stats", "--data", spec, "--workers", str(workers), "--image-size", str(size),
                        "--limit", str(samples)], capture_output=True, text=True)
    if r.returncode != 0:
        die(f"siglip data stats failed:\n{r.stdout}{r.stderr}")
    m = re.search(r"([0-9.]+) samples/s \((\d+) samples", r.stdout)
    if not m:
        die(f"no rate in siglip's output:\n{r.stdout}")
    return float(m.group(1)), int(m.group(2))


def run_pytorch(paths, workers, size, samples):
    import torch
    from PIL import Image
    from torchvision import transforms as T

    transform = T.Compose([T.Resize((size, size)), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])

    class Shards(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            mine = paths if info is None else paths[info.id::info.num_workers]
            for p in mine:
                with tarfile.open(p, "r") as tar:
                    image = None
                    for member in tar:
                        data = tar.extractfile(member).read()
                        if member.name.endswith(".jpg"):
                            image = transform(Image.open(io.BytesIO(data)).convert("RGB"))
                        elif member.name.endswith(".txt") and image is not None:
                            yield image, data.decode()
                            image = None

    loader = torch.utils.data.DataLoader(Shards(), batch_size=64, num_workers=workers)
    t0 = time.perf_counter()
    done = 0
    for images, _ in loader:
        assert images.shape[1:] == (3, size, size)
        done += images.shape[0]
        if done >= samples:
            break
    return done / (time.perf_counter() - t0), done


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--siglip", default="build/siglip")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--shard-size", type=int, default=250)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="/tmp/sg-bench-loader")
    a = ap.parse_args()
    try:
        import torchvision  # noqa: F401
    except ImportError:
        die("needs torchvision in this Python (.venv/bin/pip install torchvision)")
    if not os.access(a.siglip, os.X_OK):
        die(f"{a.siglip}: not an executable (build it: make)")
    paths = make_shards(a.out, a.samples, a.shard_size)
    spec = os.path.join(a.out, "{%05d..%05d}.tar" % (0, len(paths) - 1))
    ours, theirs = [], []
    for _ in range(a.repeats):
        ours.append(run_siglip(a.siglip, spec, a.workers, a.size, a.samples)[0])
        theirs.append(run_pytorch(paths, a.workers, a.size, a.samples)[0])
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"{a.samples} JPEGs 512x384 in {len(paths)} shards -> {a.size}x{a.size}, batches of 64, {a.workers} workers, "
          f"{a.repeats} alternating runs each (median)")
    print(f"{'loader':<32} {'samples/s':>10}   runs")
    print(f"{'siglip (ShardLoader)':<32} {o:10.0f}   {' '.join(f'{x:.0f}' for x in ours)}")
    print(f"{'pytorch DataLoader + torchvision':<32} {t:10.0f}   {' '.join(f'{x:.0f}' for x in theirs)}")
    print(f"ratio siglip / pytorch: {o / t:.2f}x")


if __name__ == "__main__":
    main()
