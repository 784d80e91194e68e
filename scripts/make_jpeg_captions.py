#!/usr/bin/env python3
"""make_jpeg_captions.py DIR N [WIDTH HEIGHT]: N synthetic photos-like JPEGs (default 512x384, quality 90) and
DIR/captions.tsv ("image<TAB>caption<TAB>label"), for measuring the shard loader on real-sized images:

    scripts/make_jpeg_captions.py /tmp/jpegs 2000
    build/siglip data pack --data /tmp/jpegs/captions.tsv --out /tmp/jpeg-shards --shard-size 500
    build/siglip data stats --data '/tmp/jpeg-shards/{00000..00003}.tar' --workers 2

Each image: a smooth two-colour gradient, per-pixel noise and a few filled shapes (so the files have the size and
entropy of photos, ~40-60 KB), drawn from a seeded RNG: the same N give the same files. Needs Pillow and numpy
(scripts/install-deps.sh --oracles)."""
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 90, 235), "yellow": (235, 215, 40)}
SHAPES = ["circle", "square"]


def main():
    out, n = sys.argv[1], int(sys.argv[2])
    w, h = (int(sys.argv[3]), int(sys.argv[4])) if len(sys.argv) > 4 else (512, 384)
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    rng = np.random.default_rng(0)
    names = list(COLOURS)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    lines = []
    for i in range(n):
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = (xs / w * rng.uniform(0.2, 1.0) + ys / h * rng.uniform(0.2, 1.0))[..., None] / 2
        px = a * (1 - t) + b * t + rng.normal(0, 8, (h, w, 3))
        img = Image.fromarray(np.clip(px, 0, 255).astype(np.uint8))
        d = ImageDraw.Draw(img)
        colour, shape = names[rng.integers(len(names))], SHAPES[rng.integers(len(SHAPES))]
        for _ in range(3):
            r = int(rng.integers(h // 10, h // 4))
            cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
            box = (cx - r, cy - r, cx + r, cy + r)
            (d.ellipse if shape == "circle" else d.rectangle)(box, fill=COLOURS[colour])
        name = f"img/{i:06d}.jpg"
        img.save(os.path.join(out, name), quality=90)
        lines.append(f"{name}\tthree {colour} {shape}s on a gradient\t{colour}\n")
    with open(os.path.join(out, "captions.tsv"), "w") as f:
        f.writelines(lines)
    print(f"{n} {w}x{h} JPEGs and captions.tsv in {out}")


if __name__ == "__main__":
    main()
