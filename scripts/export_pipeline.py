#!/usr/bin/env python3
"""export_pipeline.py: a folder written by `siglip export`, run by transformers, against `siglip` on the checkpoint.

    .venv/bin/python scripts/export_pipeline.py --siglip build-cpu/siglip --checkpoint CKPT --hf HF_DIR \\
        [--images A.png B.png ...] [--labels "a red circle" "a blue square" ...] [--tol 1e-4]

HF_DIR is what `siglip export --checkpoint CKPT --out HF_DIR` wrote. transformers loads it with AutoConfig,
AutoModel (float32, CPU), AutoTokenizer and AutoProcessor, and this script compares:

1. token ids: the tokenizer called as SigLIP is, tokenizer(texts, padding="max_length", max_length=L,
   truncation=True), against `siglip tokenize --tokenizer CKPT --length L`, on over a thousand strings
   (scripts/tokenizer_parity.py's: captions, punctuation, digits, accents, CJK, emoji, whitespace, empty, long),
   400 strings of the tokenizer's own words mixed with those, and the labels. Strings holding a special token's text ("</s>", "<unk>") are counted apart: transformers maps
   those to their special ids, our tokenizers canonicalise them as text.
2. embeddings: get_image_features on the processor's pixel_values and get_text_features on the tokenizer's ids,
   L2-normalised as we do, against `siglip embed --images` / `--texts` (worst absolute difference).
3. scores: pipeline("zero-shot-image-classification", model=HF_DIR) with hypothesis_template="{}" (the labels as
   they are) against `siglip classify --json --checkpoint CKPT IMAGE LABEL...`, per image (worst absolute
   difference). transformers 5.24's pipeline pads SigLIP text to 64 tokens and feeds RGB: for another text length,
   1 channel or no MAP head it cannot run the model, and this script says so and compares the model's own
   sigmoid(logits_per_image) (text padded to the model's length) with classify instead.

Without --images, random RGB PNGs at the model's image size are written (so that the processor's resize is the
identity and only the model is compared); without --labels, a few captions. Every difference must be at most --tol.
Prints one line per comparison and a final "export_pipeline: PASS ..." or "export_pipeline: FAIL ...".
Exit status: 0 all agree; 1 a difference above --tol, a token mismatch or a failed command; 2 bad usage or a
missing module.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# SiglipTokenizer on a text holding "</s>": that it will add eos twice in later versions
warnings.filterwarnings("ignore", message="This sequence already has")

PIPELINE_TEXT_LENGTH = 64  # transformers 5.24's zero-shot pipeline: padding="max_length", max_length=64 for siglip
SPECIAL_TEXT = ["</s>", "<unk>", "<pad>"]
DEFAULT_LABELS = ["a red circle", "a blue square", "A photo of a GREEN triangle.", "small_yellow-ring!!",
                  "there is a purple cross", "an image of a shape", "ein Straßenbahn-Foto", "a cat"]


def die(msg, code):
    print(f"export_pipeline: {msg}", file=sys.stderr)
    sys.exit(code)


def run(cmd, stdin=None):
    r = subprocess.run(cmd, input=stdin, capture_output=True)
    if r.returncode != 0:
        die(f"`{' '.join(cmd)}` failed with status {r.returncode}:\n{r.stderr.decode(errors='replace').strip()}", 1)
    return r.stdout.decode("utf-8")


def resolve_checkpoint(path):
    """A checkpoint folder, or a run directory's latest checkpoint (as siglip/checkpoint.h resolves them)."""
    if os.path.exists(os.path.join(path, "model.safetensors")) or not os.path.exists(os.path.join(path, "latest")):
        return path
    with open(os.path.join(path, "latest")) as f:
        return os.path.join(path, f.read().strip())


def siglip_ids(binary, checkpoint, length, strings):
    data = ("\n".join(strings) + "\n").encode("utf-8")
    lines = run([binary, "tokenize", "--tokenizer", checkpoint, "--length", str(length)], data).split("\n")[:-1]
    assert len(lines) == len(strings), (len(lines), len(strings))
    return [[int(x) for x in line.split()] for line in lines]


def siglip_embeddings(binary, checkpoint, kind, inputs, out):
    from safetensors.numpy import load_file
    run([binary, "embed", "--checkpoint", checkpoint, kind, *inputs, "--out", out])
    return load_file(out)["embeddings"]


def random_images(folder, size, count, seed):
    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        if i % 2:  # a smooth image too: not only noise
            y, x = np.mgrid[0:size, 0:size]
            pixels[..., 0] = (255 * x / max(size - 1, 1)).astype(np.uint8)
            pixels[..., 1] = (255 * y / max(size - 1, 1)).astype(np.uint8)
        path = os.path.join(folder, f"image{i}.png")
        Image.fromarray(pixels, "RGB").save(path)
        paths.append(path)
    return paths


def normalise(torch, x):
    return x / x.norm(p=2, dim=-1, keepdim=True)


class Checks:
    """Collects the comparisons: each a line, and whether it passed."""

    def __init__(self, tol):
        self.tol, self.failed, self.worst = tol, [], {}

    def number(self, name, value, detail=""):
        self.worst[name] = value
        ok = value <= self.tol
        print(f"  {name:<34} worst |difference| {value:.3e}{detail} {'ok' if ok else 'ABOVE ' + format(self.tol, 'g')}")
        if not ok:
            self.failed.append(name)

    def count(self, name, same, total, detail=""):
        print(f"  {name:<34} {same}/{total} identical{detail}")
        if same != total:
            self.failed.append(name)


def vocabulary_mixes(tokenizer, count, seed):
    """Strings of the tokenizer's own words (so that most ids are words, not <unk>) in changed case, joined and
    wrapped by punctuation, digits, ASCII and Unicode whitespace, underscores and non-ASCII letters."""
    import random
    rng = random.Random(seed)
    words = sorted(w.replace("\u2581", "") for w in tokenizer.get_vocab() if w not in SPECIAL_TEXT)
    words = [w for w in words if w] or ["a"]
    seps = [" ", " ", " ", "  ", "_", "-", ". ", ", ", "\t", " \u3000", "\xa0", "!?", " 42 ", "/", "'s "]
    wraps = ["", "", "", "\"", "(", "É", "é", "ß", "Σ", "3", "🐱"]
    out = []
    for _ in range(count):
        text = ""
        for _ in range(rng.randint(1, 8)):
            w = rng.choice(words)
            w = rng.choice([w, w, w.upper(), w.capitalize(), rng.choice(wraps) + w + rng.choice(wraps)])
            text += w + rng.choice(seps)
        out.append(rng.choice(["", " ", "_", "\t"]) + text.rstrip(" ") + rng.choice(["", ".", "!", "  "]))
    return out


def compare_tokens(checks, binary, checkpoint, tokenizer, length, labels):
    import tokenizer_parity  # the strings of scripts/tokenizer_parity.py
    strings = tokenizer_parity.test_strings(n_captions=600, n_random=500, special_tokens=False) + vocabulary_mixes(tokenizer, 400, 11) + labels
    special = [s for t in SPECIAL_TEXT for s in (f"a {t} b", t, f"{t}{t}", f"red{t}square")]
    for name, texts, must_agree in (("token ids", strings, True), ("token ids, special-token text", special, False)):
        want = tokenizer(texts, padding="max_length", max_length=length, truncation=True)
        if must_agree and "attention_mask" in want:
            print("  the tokenizer returns an attention mask: the model would mask the padding, ours does not")
            checks.failed.append("attention mask")
        got = siglip_ids(binary, checkpoint, length, texts)
        same = sum(w == g for w, g in zip(want["input_ids"], got))
        detail = f" (L={length})"
        if must_agree:
            checks.count(name, same, len(texts), detail)
        else:
            print(f"  {name:<34} {same}/{len(texts)} identical{detail} (not required: transformers maps them to ids)")
        for s, w, g in [(s, w, g) for s, w, g in zip(texts, want["input_ids"], got) if w != g][:3]:
            print(f"    {s[:60]!r}\n      transformers {w[:16]}\n      siglip       {g[:16]}")
    return len(strings)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--siglip", default="build-cpu/siglip", help="our binary")
    ap.add_argument("--checkpoint", required=True, help="the checkpoint that was exported")
    ap.add_argument("--hf", required=True, help="the folder `siglip export` wrote")
    ap.add_argument("--images", nargs="*", default=[], help="PNG images (default: random ones at the model's size)")
    ap.add_argument("--labels", nargs="*", default=[], help="the candidate labels (default: a few captions)")
    ap.add_argument("--tol", type=float, default=1e-4, help="largest absolute difference of scores and embeddings")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        import torch
        import transformers as tf
    except ImportError as e:
        die(f"needs torch and transformers ({e})", 2)
    if not os.access(a.siglip, os.X_OK):
        die(f"{a.siglip} is not an executable", 2)
    tf.logging.set_verbosity_error()
    tf.utils.logging.disable_progress_bar()
    a.checkpoint = resolve_checkpoint(a.checkpoint)
    labels = a.labels or DEFAULT_LABELS
    if len(set(labels)) != len(labels):
        die("the labels must be distinct (the pipeline's scores are matched to them by label)", 2)

    config = tf.AutoConfig.from_pretrained(a.hf)
    model = tf.AutoModel.from_pretrained(a.hf, dtype=torch.float32).eval()
    tokenizer = tf.AutoTokenizer.from_pretrained(a.hf)
    processor = tf.AutoProcessor.from_pretrained(a.hf)
    vc, tc = config.vision_config, config.text_config
    length, size, channels, head = tc.max_position_embeddings, vc.image_size, vc.num_channels, vc.vision_use_head
    print(f"export_pipeline: {a.hf}: {type(config).__name__}, {type(model).__name__}, {type(tokenizer).__name__}, "
          f"{type(processor).__name__} ({type(processor.image_processor).__name__}); transformers {tf.__version__}, "
          f"torch {torch.__version__}; image {size} px x {channels}, text length {length}, "
          f"{'MAP head' if head else 'mean pooling'}")
    checks = Checks(a.tol)
    n_strings = compare_tokens(checks, a.siglip, a.checkpoint, tokenizer, length, labels)

    with tempfile.TemporaryDirectory(prefix="export_pipeline_") as tmp:
        # text embeddings: the tokenizer's ids (no attention mask: SigLIP's text tower attends to the padding)
        ids = tokenizer(labels, padding="max_length", max_length=length, truncation=True, return_tensors="pt")
        with torch.no_grad():
            theirs_txt = normalise(torch, model.get_text_features(input_ids=ids["input_ids"]).pooler_output)
        ours_txt = torch.from_numpy(siglip_embeddings(a.siglip, a.checkpoint, "--texts", labels,
                                                      os.path.join(tmp, "texts.safetensors")))
        checks.number("text embeddings", (ours_txt - theirs_txt).abs().max().item(), f" ({len(labels)} labels)")

        if channels != 3:
            print(f"  images: not compared: the model takes {channels} channel(s); SiglipImageProcessor and the "
                  f"pipeline feed RGB")
        else:
            from PIL import Image
            images = a.images or random_images(tmp, size, 4, a.seed)
            pixels = processor(images=[Image.open(p) for p in images], return_tensors="pt")["pixel_values"]
            with torch.no_grad():
                vision = model.get_image_features(pixel_values=pixels)
                pooled = vision.pooler_output if head else vision.last_hidden_state.mean(1)
                theirs_img = normalise(torch, pooled)
            ours_img = torch.from_numpy(siglip_embeddings(a.siglip, a.checkpoint, "--images", images,
                                                          os.path.join(tmp, "images.safetensors")))
            checks.number("image embeddings", (ours_img - theirs_img).abs().max().item(), f" ({len(images)} images)")

            why_not = []
            if length != PIPELINE_TEXT_LENGTH:
                why_not.append(f"text length {length}, the pipeline pads SigLIP text to {PIPELINE_TEXT_LENGTH}")
            if not head:
                why_not.append("no MAP head: SiglipModel.forward has no pooled image output")
            if why_not:
                print(f"  pipeline: not run ({'; '.join(why_not)}); the model's sigmoid(logits) instead")
                scale, bias = model.logit_scale.exp(), model.logit_bias
            else:
                pipe = tf.pipeline("zero-shot-image-classification", model=a.hf, device="cpu")
            worst = 0.0
            for i, image in enumerate(images):
                ours = {r["text"]: r["probability"] for r in
                        json.loads(run([a.siglip, "classify", "--json", "--checkpoint", a.checkpoint, image, *labels]))}
                if why_not:
                    with torch.no_grad():
                        theirs_p = torch.sigmoid(theirs_img[i] @ theirs_txt.t() * scale + bias)
                    theirs = dict(zip(labels, theirs_p.tolist()))
                else:
                    theirs = {r["label"]: r["score"] for r in pipe(image, candidate_labels=labels,
                                                                    hypothesis_template="{}")}
                worst = max(worst, max(abs(ours[t] - theirs[t]) for t in labels))
                if i == 0:
                    top = max(labels, key=lambda t: theirs[t])
                    print(f"    {os.path.basename(image)}: top label {top!r}: transformers {theirs[top]:.6f}, "
                          f"siglip classify {ours[top]:.6f}")
            name = "model sigmoid(logits) vs classify" if why_not else "pipeline scores vs classify"
            checks.number(name, worst, f" ({len(images)} images x {len(labels)} labels)")

    if checks.failed:
        print(f"export_pipeline: FAIL: {', '.join(checks.failed)}")
        return 1
    print(f"export_pipeline: PASS: {n_strings} strings tokenised alike; "
          + ", ".join(f"{k} {v:.2e}" for k, v in checks.worst.items()) + f" (tolerance {a.tol:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
