#!/usr/bin/env python3
"""export_sentencepiece.py: the text contract of an imported SentencePiece SigLIP, then its export in the pipeline.

    .venv/bin/python scripts/export_sentencepiece.py --siglip build-cpu/siglip [--keep DIR] [--rtol 1e-5]

1. transformers builds a small random SiglipModel (text length 64, every parameter perturbed) and a SiglipTokenizer
   around a unigram spiece.model trained here on generated captions (scripts/tokenizer_parity.py's corpus), and
   saves both, with a SiglipImageProcessor, into HF_DIR.
2. `siglip import HF_DIR --out CKPT`.
3. The same captions (the corpus and tokenizer_parity's strings: punctuation, digits, accents, CJK, emoji) through
   transformers' processor, processor(text=captions, padding="max_length", truncation=True), and get_text_features on its
   input_ids, L2-normalised; and through `siglip embed --checkpoint CKPT --texts ...`. The worst difference,
   relative to the largest |value|, must be at most --rtol; the ids must equal `siglip tokenize`'s. (The processor
   also returns an attention mask; passed to the model, it masks the padding, which SigLIP's text tower does not:
   that difference is printed too, for information.)
4. `siglip export --checkpoint CKPT --out EXPORT` and scripts/export_pipeline.py on it: token ids, embeddings and
   pipeline("zero-shot-image-classification") scores against `siglip classify`.
Prints the numbers and "export_sentencepiece: PASS" or "export_sentencepiece: FAIL ..."; exit status 0, 1 on a
difference or a failed command, 2 on a missing module.
"""
import argparse
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
            max_position_embeddings=64)
VISION = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2, image_size=16,
              patch_size=4)


def die(msg, code):
    print(f"export_sentencepiece: {msg}", file=sys.stderr)
    sys.exit(code)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"`{' '.join(cmd)}` failed with status {r.returncode}:\n{r.stderr.strip() or r.stdout.strip()}", 1)
    return r.stdout


def make_hf_folder(torch, tf, tokenizer_parity, hf_dir, seed):
    """A random SiglipModel with a SiglipTokenizer (spiece.model trained here) and a SiglipImageProcessor."""
    os.makedirs(hf_dir, exist_ok=True)
    spiece = os.path.join(hf_dir, "spiece.model")
    with open(spiece, "wb") as f:
        f.write(tokenizer_parity.train("unigram", False, tokenizer_parity.corpus(4000, seed=1), 1000))
    tokenizer = tf.SiglipTokenizer(vocab_file=spiece, model_max_length=TEXT["max_position_embeddings"])
    tokenizer.save_pretrained(hf_dir)
    tf.SiglipImageProcessor(size={"height": VISION["image_size"], "width": VISION["image_size"]}).save_pretrained(hf_dir)
    torch.manual_seed(seed)
    eos = tokenizer.eos_token_id
    config = tf.SiglipConfig(text_config=dict(TEXT, vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id,
                                              eos_token_id=eos, bos_token_id=None),
                             vision_config=VISION)
    model = tf.SiglipModel(config)
    with torch.no_grad():  # no zero bias, no identity layer norm: every parameter matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(hf_dir)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--siglip", default="build-cpu/siglip", help="our binary")
    ap.add_argument("--keep", default="", help="write the folders here (default: a temporary folder)")
    ap.add_argument("--rtol", type=float, default=1e-5, help="text embeddings: largest difference / largest |value|")
    ap.add_argument("--tol", type=float, default=1e-4, help="export_pipeline.py's tolerance")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        import torch
        import transformers as tf
        import tokenizer_parity
        import export_pipeline
        from safetensors.numpy import load_file
    except ImportError as e:
        die(f"needs torch, transformers, sentencepiece and safetensors ({e})", 2)
    if not os.access(a.siglip, os.X_OK):
        die(f"{a.siglip} is not an executable", 2)
    tf.logging.set_verbosity_error()
    tf.utils.logging.disable_progress_bar()
    root = a.keep or tempfile.mkdtemp(prefix="export_sentencepiece_")
    hf_dir, ckpt, export = (os.path.join(root, n) for n in ("hf", "ckpt", "export"))
    make_hf_folder(torch, tf, tokenizer_parity, hf_dir, a.seed)
    print(f"export_sentencepiece: {hf_dir}: " + ", ".join(sorted(os.listdir(hf_dir))))
    run([a.siglip, "import", hf_dir, "--out", ckpt])

    # the text contract: transformers' processor + get_text_features against our tokenizer and text tower
    captions = tokenizer_parity.corpus(120, seed=5) + [s for s in tokenizer_parity.test_strings(0, 60, 9) if s.strip()]
    captions = [c for c in captions if not c.startswith("-")]  # not taken for an option by `siglip embed`
    processor = tf.AutoProcessor.from_pretrained(hf_dir)
    model = tf.AutoModel.from_pretrained(hf_dir, dtype=torch.float32).eval()
    inputs = processor(text=captions, padding="max_length", truncation=True, return_tensors="pt")
    length = inputs["input_ids"].shape[1]
    with torch.no_grad():
        theirs = export_pipeline.normalise(torch, model.get_text_features(input_ids=inputs["input_ids"]).pooler_output)
        masked = None
        if "attention_mask" in inputs:
            masked = export_pipeline.normalise(torch, model.get_text_features(**inputs).pooler_output)
    ours_ids = export_pipeline.siglip_ids(a.siglip, ckpt, length, captions)
    same = sum(o == t for o, t in zip(ours_ids, inputs["input_ids"].tolist()))
    embed_file = os.path.join(root, "texts.safetensors")
    run([a.siglip, "embed", "--checkpoint", ckpt, "--texts", *captions, "--out", embed_file])
    ours = torch.from_numpy(load_file(embed_file)["embeddings"])
    diff = (ours - theirs).abs().max().item()
    rel = diff / theirs.abs().max().item()
    print(f"  {type(processor).__name__} ({type(processor.tokenizer).__name__}), padding=\"max_length\" -> length "
          f"{length}: {same}/{len(captions)} captions tokenised alike by `siglip tokenize`")
    print(f"  text embeddings, {len(captions)} captions: worst |difference| {diff:.3e}, relative {rel:.3e} "
          f"(tolerance {a.rtol:g})")
    if masked is not None:
        print(f"  (with the processor's attention_mask passed to get_text_features: worst |difference| "
              f"{(ours - masked).abs().max().item():.3e}: that mask is not SigLIP's)")
    failed = [] if same == len(captions) and rel <= a.rtol else ["imported text contract"]

    out = run([a.siglip, "export", "--checkpoint", ckpt, "--out", export])
    print("  " + out.strip().replace("\n", "\n  "))
    sys.stdout.flush()
    if export_pipeline.main(["--siglip", a.siglip, "--checkpoint", ckpt, "--hf", export, "--tol", str(a.tol)]) != 0:
        failed.append("export_pipeline")
    if failed:
        print(f"export_sentencepiece: FAIL: {', '.join(failed)}")
        return 1
    print(f"export_sentencepiece: PASS: imported text embeddings within {rel:.2e} of transformers' (relative); "
          f"the export runs in the pipeline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
