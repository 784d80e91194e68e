#!/usr/bin/env python3
"""`siglip preprocess` against transformers' SiglipImageProcessor (the PIL backend, SiglipImageProcessorPil).

Makes real-looking test images in a temporary folder (smooth gradients, filled shapes, noise, sharp edges and
thin lines; several sizes and aspect ratios, downscales and upscales), saved as PNG and JPEG (quality 90), grey ("L")
and RGB, plus RGBA PNGs (transparency composited onto white), RGB JPEGs in other encodings (chroma 4:4:4 and 4:2:2,
progressive, quality 50 with optimised tables) and CMYK JPEGs, then prepares every image with transformers and with
`siglip preprocess` and compares the pixel values in normalised units (what the model sees):

  per image: mean and max absolute difference; per group (PNG / JPEG x RGB / L / RGBA / CMYK): the worst of each.

Checks: the default processor (bicubic to 224x224, rescale 1/255, mean = std = 0.5), and a preprocessor_config.json
with ImageNet mean/std at 160x160 for each resample filter (bilinear, lanczos, box, hamming) on a subset; then the
JPEG decoder alone: every JPEG without resize, rescale or normalise (8-bit levels) against Pillow's
Image.open(f).convert("RGB"). Exit status 1 if any image has mean >= --mean-tol (2e-3) or max >= --max-tol (2e-2),
or any decoded JPEG value differs from Pillow's by more than --decode-max-levels (0).

Both sides decode JPEG with libjpeg-turbo (TurboJPEG in siglip, the copy inside Pillow) with the same settings,
so PNG and JPEG alike give the same values exactly (every group's worst mean and max are 0).

  .venv/bin/python scripts/preprocess_parity.py [--siglip build/siglip] [--keep DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image, ImageDraw
from safetensors.numpy import load_file
from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

# (width, height): non-square, odd, tiny, large, tall, wide; 224x224 is the identity resize
SIZES = [(31, 47), (224, 224), (300, 200), (500, 375), (640, 480), (1024, 768), (97, 640), (16, 16), (180, 90)]


def make_image(width, height, seed):
    """An RGB uint8 [H, W, 3] that looks like a photo's hard cases: gradients, shapes, noise, edges, lines."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    base = np.stack([
        255 * (0.5 + 0.5 * np.sin(2 * np.pi * (u * rng.uniform(0.5, 2) + v * rng.uniform(0, 1)))),
        255 * u * (1 - v) + 60 * v,
        255 * (0.3 + 0.7 * v) * (0.6 + 0.4 * np.cos(3 * u)),
    ], axis=-1)
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(6):  # hard-edged shapes
        x0, y0 = rng.uniform(-0.1, 0.9) * width, rng.uniform(-0.1, 0.9) * height
        x1, y1 = x0 + rng.uniform(0.1, 0.5) * width, y0 + rng.uniform(0.1, 0.5) * height
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        [draw.ellipse, draw.rectangle][int(rng.integers(0, 2))]([x0, y0, x1, y1], fill=colour)
    for _ in range(4):  # thin lines: sharp edges that ring under bicubic
        pts = [(rng.uniform(0, width), rng.uniform(0, height)) for _ in range(2)]
        draw.line(pts, fill=tuple(int(c) for c in rng.integers(0, 256, 3)), width=int(rng.integers(1, 4)))
    arr = np.asarray(img).astype(np.float64)
    arr += rng.normal(0, rng.uniform(2, 12), arr.shape)  # sensor noise
    return np.clip(np.round(arr), 0, 255).astype(np.uint8)


# JPEG encodings beyond the default (quality 90, 4:2:0) that the RGB JPEGs cycle through: chroma 4:4:4 and
# 4:2:2, progressive, optimised Huffman tables at low quality.
JPEG_VARIANTS = [("444", {"quality": 95, "subsampling": 0}), ("422", {"quality": 75, "subsampling": 1}),
                 ("prog", {"quality": 80, "progressive": True}), ("q50", {"quality": 50, "optimize": True})]


def write_images(folder):
    """Returns [(path, format, mode)]."""
    out = []
    for i, (w, h) in enumerate(SIZES):
        rgb = make_image(w, h, seed=i)
        for mode in ("RGB", "L"):
            im = Image.fromarray(rgb, "RGB").convert(mode)
            for fmt, ext, kw in (("PNG", "png", {}), ("JPEG", "jpg", {"quality": 90})):
                path = os.path.join(folder, f"img{i}_{w}x{h}_{mode}.{ext}")
                im.save(path, fmt, **kw)
                out.append((path, fmt, mode))
        name, kw = JPEG_VARIANTS[i % len(JPEG_VARIANTS)]
        path = os.path.join(folder, f"img{i}_{w}x{h}_RGB_{name}.jpg")
        Image.fromarray(rgb, "RGB").save(path, "JPEG", **kw)
        out.append((path, "JPEG", "RGB"))
        if i in (0, 3, 6):  # RGBA: a radial alpha ramp with fully transparent and fully opaque parts
            y, x = np.mgrid[0:h, 0:w]
            r = np.hypot((x - w / 2) / w, (y - h / 2) / h)
            alpha = np.clip(255 * (1.4 - 2.5 * r), 0, 255).astype(np.uint8)
            path = os.path.join(folder, f"img{i}_{w}x{h}_RGBA.png")
            Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
            out.append((path, "PNG", "RGBA"))
        if i in (1, 2, 6):  # CMYK JPEG (Pillow writes Adobe's inverted CMYK)
            path = os.path.join(folder, f"img{i}_{w}x{h}_CMYK.jpg")
            Image.fromarray(rgb, "RGB").convert("CMYK").save(path, "JPEG", quality=90)
            out.append((path, "JPEG", "CMYK"))
    return out


def reference(paths, processor):
    """transformers' pixel values, [N, 3, H, W] float32 (each image opened with PIL as a user would)."""
    images = [Image.open(p) for p in paths]
    return np.stack([processor(images=[im], return_tensors="np")["pixel_values"][0] for im in images])


def ours(siglip, paths, args, out_file):
    cmd = [siglip, "preprocess", *args, "--out", out_file, *paths]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"preprocess_parity: {' '.join(cmd[:4])} ... failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return load_file(out_file)["pixel_values"]


def decoded_levels(siglip, images, folder):
    """The decoder alone: each JPEG through `siglip preprocess` without resize, rescale or normalise (its 8-bit
    levels as float32) against Pillow's Image.open(f).convert("RGB"). Returns [(name, mode, max |d|, values that
    differ)] in 8-bit levels."""
    cfg = os.path.join(folder, "preprocessor_decode_only.json")
    with open(cfg, "w") as f:
        json.dump({"do_resize": False, "do_rescale": False, "do_normalize": False}, f)
    by_size = {}
    for path, fmt, mode in images:
        if fmt == "JPEG":
            by_size.setdefault(Image.open(path).size, []).append((path, mode))
    rows = []
    for k, group in enumerate(by_size.values()):
        got = ours(siglip, [p for p, _ in group], ["--processor", cfg], os.path.join(folder, f"decode{k}.safetensors"))
        for (path, mode), g in zip(group, got):
            ref = np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1).astype(np.float64)
            d = np.abs(ref - g.astype(np.float64))
            rows.append((os.path.basename(path), mode, float(d.max()), int((d != 0).sum())))
    return rows


def compare(label, images, ref, got, tol, rows):
    """tol: (mean_tol, max_tol)."""
    assert ref.shape == got.shape, f"{label}: shapes differ: transformers {ref.shape}, siglip {got.shape}"
    failed = 0
    for (path, fmt, mode), r, g in zip(images, ref, got):
        d = np.abs(r.astype(np.float64) - g.astype(np.float64))
        bad = d.mean() >= tol[0] or d.max() >= tol[1]
        failed += bad
        rows.append((label, os.path.basename(path), fmt, mode, d.mean(), d.max(), bad))
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--siglip", default="build/siglip", help="the siglip binary")
    ap.add_argument("--keep", default="", help="write the images and outputs here (default: a temporary folder)")
    ap.add_argument("--mean-tol", type=float, default=2e-3)
    ap.add_argument("--max-tol", type=float, default=2e-2)
    ap.add_argument("--decode-max-levels", type=float, default=0,
                    help="the most a decoded JPEG value may differ from Pillow's, in 8-bit levels")
    a = ap.parse_args()
    tol = (a.mean_tol, a.max_tol)
    if not os.path.exists(a.siglip):
        sys.exit(f"preprocess_parity: {a.siglip} does not exist (build it, or pass --siglip)")

    with tempfile.TemporaryDirectory() as tmp:
        folder = a.keep or tmp
        os.makedirs(folder, exist_ok=True)
        images = write_images(folder)
        paths = [p for p, _, _ in images]
        rows, failed = [], 0

        default = SiglipImageProcessorPil(size={"height": 224, "width": 224})
        assert default.backend == "pil"
        got = ours(a.siglip, paths, ["--image-size", "224"], os.path.join(folder, "default.safetensors"))
        failed += compare("default 224 bicubic", images, reference(paths, default), got, tol, rows)

        subset = [im for im in images if im[2] != "L"][::2]
        for resample, name in ((2, "bilinear"), (1, "lanczos"), (4, "box"), (5, "hamming"), (3, "bicubic")):
            proc = SiglipImageProcessorPil(size={"height": 160, "width": 160}, resample=resample,
                                           image_mean=[0.48145466, 0.4578275, 0.40821073],
                                           image_std=[0.26862954, 0.26130258, 0.27577711])
            cfg = os.path.join(folder, f"preprocessor_{name}.json")
            with open(cfg, "w") as f:
                f.write(proc.to_json_string())
            sub_paths = [p for p, _, _ in subset]
            got = ours(a.siglip, sub_paths, ["--processor", cfg], os.path.join(folder, f"{name}.safetensors"))
            failed += compare(f"imagenet 160 {name}", subset, reference(sub_paths, proc), got, tol, rows)

        decode_rows = decoded_levels(a.siglip, images, folder)

    print(f"{'check':<22} {'image':<28} {'format':<5} {'mode':<5} {'mean |d|':>10} {'max |d|':>10}")
    for label, name, fmt, mode, mean, mx, bad in rows:
        print(f"{label:<22} {name:<28} {fmt:<5} {mode:<5} {mean:10.3e} {mx:10.3e}{'  FAIL' if bad else ''}")
    print("\nworst per group (normalised units; one 8-bit level is 2/255 = 7.8e-3 with std 0.5):")
    groups = {}
    for label, name, fmt, mode, mean, mx, bad in rows:
        g = groups.setdefault((fmt, mode), [0.0, 0.0, "-", "-", 0])
        g[4] += 1
        if mean > g[0]: g[0], g[2] = mean, name
        if mx > g[1]: g[1], g[3] = mx, name
    for (fmt, mode), (mean, mx, mean_at, max_at, n) in sorted(groups.items()):
        print(f"  {fmt:<4} {mode:<4} ({n:2d} results): worst mean {mean:.3e} ({mean_at}), worst max {mx:.3e} ({max_at})")
    worst_mean = max(rows, key=lambda r: r[4])
    worst_max = max(rows, key=lambda r: r[5])
    print(f"worst overall: mean {worst_mean[4]:.3e} ({worst_mean[0]}, {worst_mean[1]}), "
          f"max {worst_max[5]:.3e} ({worst_max[0]}, {worst_max[1]})")
    print("\nthe JPEG decoder alone (8-bit levels, no resize; siglip against Pillow's Image.open(f).convert(\"RGB\")):")
    decode_failed = 0
    for mode in sorted({m for _, m, _, _ in decode_rows}):
        rs = [r for r in decode_rows if r[1] == mode]
        worst = max(rs, key=lambda r: r[2])
        bad = [r for r in rs if r[2] > a.decode_max_levels]
        decode_failed += len(bad)
        at = worst[0] if worst[2] else "-"
        print(f"  JPEG {mode:<4} ({len(rs):2d} files): worst max {worst[2]:g} levels ({at}), "
              f"{sum(r[3] for r in rs)} values differ{'  FAIL' if bad else ''}")
    print(json.dumps({"results": len(rows), "failed": int(failed), "worst_mean": float(worst_mean[4]),
                      "worst_max": float(worst_max[5]), "decoded_files": len(decode_rows),
                      "decode_failed": decode_failed}))
    limits = f"mean {a.mean_tol} max {a.max_tol}; decoded JPEG max {a.decode_max_levels:g} levels"
    if failed or decode_failed:
        print(f"FAIL: {failed} of {len(rows)} results and {decode_failed} of {len(decode_rows)} decoded JPEGs reach "
              f"their limit ({limits})")
        return 1
    print(f"OK: all {len(rows)} results and {len(decode_rows)} decoded JPEGs within their limits ({limits})")
    return 0

if __name__ == "__main__":
    sys.exit(main())
