#!/usr/bin/env python3
"""`siglip import` against transformers: random SiglipModels saved by save_pretrained, imported, then compared.

For each config below, transformers builds a SiglipModel with random weights (every parameter perturbed, so no
bias is zero and no layer norm is the identity), saves it with save_pretrained (one config sharded, one in
bfloat16, one without the MAP head), and this script runs

    siglip import HF_DIR --out CKPT
    siglip grad --checkpoint CKPT --inputs BATCH --out GRADS

on a random batch it writes (pixel_values f32 [B, C, H, W], input_ids int64 [B, T]). The reference is the same
folder loaded by transformers (SiglipModel.from_pretrained, float32, CPU): image and text embeddings, logits, the
sigmoid loss -(1/B) sum_ij log sigmoid(z_ij logits_ij) (z = 2I - 1; transformers' own return_loss=True loss where
the model has a head) and the gradient of every parameter.

Each config runs a second time at a larger image size (two more patches a side): `siglip grad --image-size S`
interpolates the position table once, and the reference is transformers' forward with
interpolate_pos_encoding=True, which interpolates it in every forward. The position table's own gradient is then
of another shape on each side (ours is the new table's, theirs the original's) and is left out of that row.

Without the MAP head (vision_use_head false) transformers 5.24 has no pooled image output: SiglipVisionModel
returns pooler_output None and SiglipModel.forward fails. Our import pools by the mean of the post-layernorm
tokens; the reference here is transformers' vision_model(...).last_hidden_state.mean(1), through the same
normalisation, logits and loss.

Errors are normwise, as scripts/compare_grads.py measures them: max |ours - torch| / max |torch| per tensor,
against --out-tol (1e-5) for the loss, logits and embeddings and --grad-tol (1e-4) for the gradients; gradients
that are zero in exact arithmetic (attention key biases) are measured against the largest gradient.

    scripts/import_parity.py --siglip build/siglip [--keep DIR]

Prints one line per config and a final "import_parity: PASS ..." or "import_parity: FAIL ...".
Exit status: 0 all pass; 1 a tensor fails or a command fails; 2 torch or transformers is missing, or bad usage.
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_grads as cg  # noqa: E402  (normwise_error, ZERO_GRADIENT, import_dependencies)

OUTPUTS = cg.OUTPUTS

# name -> (text_config, vision_config, how it is saved)
CONFIGS = {
    "head-f32": (dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, max_position_embeddings=8),
                 dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      image_size=16, patch_size=4),
                 "single f32"),
    "nohead-f32": (dict(vocab_size=257, hidden_size=48, intermediate_size=80, num_hidden_layers=3,
                        num_attention_heads=3, max_position_embeddings=5),
                   dict(hidden_size=48, intermediate_size=96, num_hidden_layers=1, num_attention_heads=4,
                        image_size=24, patch_size=8, vision_use_head=False),
                   "single f32"),
    "head-sharded": (dict(vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                          num_attention_heads=4, max_position_embeddings=16),
                     dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=2,
                          image_size=20, patch_size=5),
                     "sharded f32"),
    "head-bf16-gray": (dict(vocab_size=64, hidden_size=40, intermediate_size=72, num_hidden_layers=2,
                            num_attention_heads=5, max_position_embeddings=12),
                       dict(hidden_size=40, intermediate_size=56, num_hidden_layers=2, num_attention_heads=5,
                            image_size=32, patch_size=8, num_channels=1),
                       "single bf16"),
}


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        cg.die(f"`{' '.join(cmd)}` failed with status {r.returncode}:\n{r.stderr.strip() or r.stdout.strip()}", 1)
    return r.stdout


def make_folder(torch, tf, name, text, vision, saving, hf_dir, seed):
    torch.manual_seed(seed)
    cfg = tf.SiglipConfig(text_config=dict(text, pad_token_id=0, bos_token_id=0, eos_token_id=0),
                          vision_config=vision)
    model = tf.SiglipModel(cfg)
    with torch.no_grad():  # no zero bias, no identity layer norm: every parameter matters
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    if saving.endswith("bf16"):
        model = model.to(torch.bfloat16)
    # sharded: shards of about 100 kB, so every config spreads over several files
    model.save_pretrained(hf_dir, max_shard_size="100KB" if saving.startswith("sharded") else "10GB")


def reference(torch, tf, hf_dir, pixels, ids, interpolate=False):
    """transformers' SiglipModel read from hf_dir in f32: (outputs, gradients) by name."""
    model = tf.SiglipModel.from_pretrained(hf_dir, dtype=torch.float32)
    model.train()  # attention dropout is 0: train and eval compute the same
    model.zero_grad(set_to_none=True)
    vision = model.vision_model(pixel_values=pixels, interpolate_pos_encoding=interpolate)
    pooled = vision.pooler_output if model.config.vision_config.vision_use_head else vision.last_hidden_state.mean(1)
    text = model.text_model(input_ids=ids).pooler_output
    img = pooled / pooled.norm(p=2, dim=-1, keepdim=True)
    txt = text / text.norm(p=2, dim=-1, keepdim=True)
    logits_per_image = img @ txt.t() * model.logit_scale.exp() + model.logit_bias  # [B_img, B_txt]
    z = 2 * torch.eye(logits_per_image.shape[0]) - 1
    loss = -torch.nn.functional.logsigmoid(z * logits_per_image).sum() / logits_per_image.shape[0]
    if model.config.vision_config.vision_use_head:  # transformers' own forward and loss agree with the above
        out = model(input_ids=ids, pixel_values=pixels, return_loss=True, interpolate_pos_encoding=interpolate)
        for a, b, what in ((out.loss, loss, "loss"), (out.logits_per_image, logits_per_image, "logits")):
            if not torch.allclose(a, b, rtol=1e-6, atol=1e-6):
                cg.die(f"{hf_dir}: transformers' forward {what} differs from the formula", 1)
    loss.backward()
    outputs = {"loss": loss.detach(), "logits_per_image": logits_per_image.detach(), "image_embeds": img.detach(),
               "text_embeds": txt.detach()}
    grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)) for n, p in model.named_parameters()}
    return outputs, grads


def compare(torch, ours, theirs_out, theirs_grad, out_tol, grad_tol, skip=()):
    """(worst output (rel, name), worst gradient (rel, name), failures, missing names); `skip`: names left out."""
    ours = {k: v for k, v in ours.items() if k not in skip}
    theirs_grad = {k: v for k, v in theirs_grad.items() if k not in skip}
    names_ours = set(ours) - set(OUTPUTS)
    missing = sorted((set(theirs_grad) ^ names_ours) | {k for k in OUTPUTS if k not in ours})
    rows = []  # [name, diff, scale, rel, tol]
    for name, ref_t, tol in ([(k, theirs_out[k], out_tol) for k in OUTPUTS if k in ours] +
                             [(k, theirs_grad[k], grad_tol) for k in sorted(theirs_grad) if k in names_ours]):
        if tuple(ours[name].shape) != tuple(ref_t.shape):
            rows.append([name, float("inf"), 0.0, float("inf"), tol])
            continue
        diff, scale, rel = cg.normwise_error(torch, ours[name], ref_t)
        rows.append([name, diff, scale, rel, tol])
    grad_scale = max((r[2] for r in rows if r[0] not in OUTPUTS and r[1] != float("inf")), default=0.0)
    for r in rows:  # zero in exact arithmetic: against the largest gradient
        if r[0] not in OUTPUTS and r[1] != float("inf") and r[2] < cg.ZERO_GRADIENT * grad_scale:
            r[3] = r[1] / grad_scale
    worst_out = max(((r[3], r[0]) for r in rows if r[0] in OUTPUTS), default=(float("inf"), "none"))
    worst_grad = max(((r[3], r[0]) for r in rows if r[0] not in OUTPUTS), default=(float("inf"), "none"))
    failures = [f"{r[0]} {r[3]:.3e} > {r[4]:g}" for r in rows if not r[3] <= r[4]]
    return worst_out, worst_grad, failures, missing, len(rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--siglip", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                      "siglip"), help="our binary (default: build/siglip)")
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated subset of " + ", ".join(CONFIGS))
    p.add_argument("--batch", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-tol", type=float, default=1e-5)
    p.add_argument("--grad-tol", type=float, default=1e-4)
    p.add_argument("--keep", help="write the folders, checkpoints and batches here instead of a temporary directory")
    args = p.parse_args(argv)
    torch, tf, load_file = cg.import_dependencies()
    from safetensors.torch import save_file
    if not os.access(args.siglip, os.X_OK):
        cg.die(f"{args.siglip} is not an executable (build it: make build/siglip)", 2)
    names = [n for n in args.configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        cg.die(f"unknown config(s) {', '.join(unknown)} (known: {', '.join(CONFIGS)})", 2)
    tf.logging.set_verbosity_error()
    tf.utils.logging.disable_progress_bar()
    print(f"reference: transformers {tf.__version__}, torch {torch.__version__}, float32, CPU; batch {args.batch}")

    with tempfile.TemporaryDirectory(prefix="import_parity_") as tmp:
        root = args.keep or tmp
        failed = []
        for i, name in enumerate(names):
            text, vision, saving = CONFIGS[name]
            hf_dir, ckpt = os.path.join(root, name, "hf"), os.path.join(root, name, "ckpt")
            batch_file, grads_file = os.path.join(root, name, "batch.safetensors"), os.path.join(root, name, "g.st")
            make_folder(torch, tf, name, text, vision, saving, hf_dir, args.seed + i)
            shards = sorted(f for f in os.listdir(hf_dir) if f.endswith(".safetensors"))
            run([args.siglip, "import", hf_dir, "--out", ckpt])
            C, S0, P = vision.get("num_channels", 3), vision["image_size"], vision["patch_size"]
            for S in (S0, S0 + 2 * P):  # the checkpoint's size, then a larger one (interpolated positions)
                g = torch.Generator().manual_seed(args.seed + 100 + i)
                pixels = torch.rand(args.batch, C, S, S, generator=g) * 2 - 1
                ids = torch.randint(0, text["vocab_size"], (args.batch, text["max_position_embeddings"]), generator=g)
                save_file({"pixel_values": pixels.contiguous(), "input_ids": ids.contiguous()}, batch_file)
                run([args.siglip, "grad", "--checkpoint", ckpt, "--inputs", batch_file, "--out", grads_file,
                     "--image-size", str(S)])
                theirs_out, theirs_grad = reference(torch, tf, hf_dir, pixels, ids, interpolate=S != S0)
                skip = ("vision_model.embeddings.position_embedding.weight",) if S != S0 else ()
                worst_out, worst_grad, failures, missing, n = compare(torch, load_file(grads_file), theirs_out,
                                                                      theirs_grad, args.out_tol, args.grad_tol, skip)
                ok = not failures and not missing
                print(f"{name:<15} {saving:<11} ({len(shards)} file{'s' if len(shards) > 1 else ''}) {S:>3} px "
                      f"{n} tensors: worst output {worst_out[0]:.2e} ({worst_out[1]}), worst gradient "
                      f"{worst_grad[0]:.2e} ({worst_grad[1]}) {'pass' if ok else 'FAIL'}")
                for f in failures:
                    print(f"  above tolerance: {f}")
                if missing:
                    print(f"  on one side only: {', '.join(missing)}")
                if not ok:
                    failed.append(f"{name} at {S} px")
    if failed:
        print(f"import_parity: FAIL: {', '.join(failed)}")
        return 1
    print(f"import_parity: PASS: {len(names)} configs; tolerances {args.out_tol:g} (outputs), "
          f"{args.grad_tol:g} (gradients)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
