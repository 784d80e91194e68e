#!/usr/bin/env python3
"""hf_walkthrough.py: the README's Hugging Face walk-through, end to end, on a SigLIP-B/16-shaped folder made here.

Nothing can be downloaded here, so transformers builds the stand-in for a downloaded google/siglip-base-patch16-224
folder: SiglipModel(SiglipConfig()) (B/16: 224 px, patch 16, width 768, 12+12 layers, text 64, vocab 32000; random
weights), a SiglipTokenizer around a spiece.model trained here on generated captions, and a SiglipImageProcessor,
saved with save_pretrained. Then the README's commands run on it, each timed (wall seconds, peak RSS):

    siglip import HF_DIR --out CKPT
    siglip classify --checkpoint CKPT photo.jpg "a red circle" "a blue square" ...
    siglip train --init CKPT --data captions.tsv --steps S --batch B --lr 1e-5 --lr-mult vision=0.1 --out RUN
    siglip eval --checkpoint RUN
    siglip export --checkpoint RUN --out EXPORT    (then transformers' pipeline on EXPORT, as export_pipeline.py)

The caption file holds JPEG photos of coloured shapes (PIL) with their captions. The weights are random, so the
accuracies mean nothing; the point is that every step works at this size, and what it costs.

    .venv/bin/python scripts/hf_walkthrough.py --siglip build/siglip [--keep DIR] [--steps 2] [--batch 8]
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 70, 220), "yellow": (230, 210, 40)}
SHAPES = ("circle", "square", "triangle")


def timed(cmd, label, rows):
    """Runs cmd under /usr/bin/time -v; records (label, seconds, peak MiB); returns stdout."""
    t0 = time.time()
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    dt = time.time() - t0
    if r.returncode != 0:
        sys.exit(f"hf_walkthrough: `{' '.join(cmd)}` failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    rows.append((label, dt, int(m.group(1)) / 1024 if m else float("nan")))
    return r.stdout


def draw(path, colour, shape, rng):
    from PIL import Image, ImageDraw
    w, h = rng.choice([(320, 240), (256, 256), (240, 320), (400, 300)])
    img = Image.new("RGB", (w, h), tuple(rng.randint(150, 255) for _ in range(3)))
    d = ImageDraw.Draw(img)
    s = min(w, h) * rng.uniform(0.3, 0.45)
    cx, cy = w / 2 + rng.uniform(-w / 8, w / 8), h / 2 + rng.uniform(-h / 8, h / 8)
    box = (cx - s, cy - s, cx + s, cy + s)
    c = COLOURS[colour]
    if shape == "circle":
        d.ellipse(box, fill=c)
    elif shape == "square":
        d.rectangle(box, fill=c)
    else:
        d.polygon([(cx, cy - s), (cx - s, cy + s), (cx + s, cy + s)], fill=c)
    img.save(path, quality=90)


def make_hf_folder(torch, tf, tokenizer_parity, hf_dir):
    os.makedirs(hf_dir, exist_ok=True)
    spiece = os.path.join(hf_dir, "spiece.model")
    with open(spiece, "wb") as f:
        f.write(tokenizer_parity.train("unigram", False, tokenizer_parity.corpus(4000, seed=1), 1000))
    tok = tf.SiglipTokenizer(vocab_file=spiece, model_max_length=64)
    tok.save_pretrained(hf_dir)
    tf.SiglipImageProcessor().save_pretrained(hf_dir)  # 224 x 224 bicubic, mean = std = 0.5
    torch.manual_seed(0)
    cfg = tf.SiglipConfig(text_config=dict(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                                           bos_token_id=None))
    model = tf.SiglipModel(cfg)  # the defaults are SigLIP-B/16's shapes
    with torch.no_grad():
        model.logit_scale.fill_(4.7)  # a pre-trained model's t' (t = 110), above the paper's init
        model.logit_bias.fill_(-12.9)
    model.save_pretrained(hf_dir)
    return sum(p.numel() for p in model.parameters())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--siglip", default="build/siglip")
    ap.add_argument("--keep", default="")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--images", type=int, default=40)
    a = ap.parse_args(argv)
    import torch
    import transformers as tf
    import tokenizer_parity
    siglip = os.path.abspath(a.siglip)
    with tempfile.TemporaryDirectory(prefix="hf_walkthrough_") as tmp:
        root = a.keep or tmp
        os.makedirs(root, exist_ok=True)
        hf, ckpt, run, export = (os.path.join(root, n) for n in ("hf", "ckpt", "run", "export"))
        rows = []
        t0 = time.time()
        n_params = make_hf_folder(torch, tf, tokenizer_parity, hf)
        print(f"made {hf}: SiglipModel with {n_params / 1e6:.1f}M parameters in {time.time() - t0:.1f} s")
        rng = random.Random(0)
        photos = os.path.join(root, "photos")
        os.makedirs(photos, exist_ok=True)
        with open(os.path.join(root, "captions.tsv"), "w") as f:
            for i in range(a.images):
                colour, shape = rng.choice(list(COLOURS)), rng.choice(SHAPES)
                draw(os.path.join(photos, f"{i:04d}.jpg"), colour, shape, rng)
                f.write(f"photos/{i:04d}.jpg\ta photo of a {colour} {shape}\n")
        out = timed([siglip, "import", hf, "--out", ckpt], "import (B/16, f32)", rows)
        print(out.strip().splitlines()[-1])
        labels = [f"a photo of a {c} {s}" for c in ("red", "blue") for s in SHAPES]
        out = timed([siglip, "classify", "--checkpoint", ckpt, os.path.join(photos, "0000.jpg")] + labels,
                    "classify (1 image, 6 texts)", rows)
        print(out.strip())
        out = timed([siglip, "train", "--init", ckpt, "--data", os.path.join(root, "captions.tsv"), "--steps",
                     str(a.steps), "--batch", str(a.batch), "--lr", "1e-5", "--warmup", "0", "--lr-mult", "vision=0.1",
                     "--out", run, "--log-every", "1"], f"train --init ({a.steps} steps, batch {a.batch})", rows)
        print("\n".join(l for l in out.splitlines() if l.startswith(("initialised", "evaluation", "zero-shot", "trained",
                                                                      "retrieval", "model:"))))
        out = timed([siglip, "eval", "--checkpoint", run], "eval (the run's test split)", rows)
        out = timed([siglip, "export", "--checkpoint", run, "--out", export], "export", rows)
        print(out.strip().splitlines()[-1])
        pipe = tf.pipeline("zero-shot-image-classification", model=export)
        scores = pipe(os.path.join(photos, "0000.jpg"), candidate_labels=labels, hypothesis_template="{}")
        print("pipeline on the export:", ", ".join(f"{s['label']}: {s['score']:.4f}" for s in scores[:3]))
        print()
        print("| step | wall s | peak RSS MiB |")
        print("|---|---|---|")
        for label, dt, mib in rows:
            print(f"| {label} | {dt:.1f} | {mib:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
