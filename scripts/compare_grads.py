#!/usr/bin/env python3
"""Our engine's gradients against PyTorch + transformers, tensor by tensor.

Loads one of our checkpoints into transformers' SiglipModel (strictly: every name, shape and dtype must match),
runs `siglip grad` on a batch, computes the same loss and its gradients in PyTorch float32 on the CPU, and
compares every tensor of the grad file: loss, logits_per_image, image_embeds, text_embeds and the gradient of
each parameter under its Hugging Face name.

    scripts/compare_grads.py --siglip build/siglip --checkpoint DIR [--inputs BATCH.safetensors | --batch 8]

Without --inputs the batch is the first batch of the built-in shapes data for the checkpoint
(`siglip grad --make-inputs`: --batch pairs of --data, default shapes, with --seed).

The loss is SigLIP's sigmoid loss with diagonal positives, the sum over all B x B pairs divided by B:
    L = -(1/B) sum_ij log sigmoid(z_ij (exp(t') x_i . y_j + b)),   z = 2 I - 1
which is transformers' own SiglipModel(return_loss=True) loss; this script uses that, and checks it against
the formula above.

The error of a tensor is normwise: max |ours - torch| / max |torch|. A gradient fails above --grad-tol (1e-4),
the loss, logits and embeddings above --out-tol (1e-5). A gradient that is zero in exact arithmetic holds only
rounding noise on both sides (the attention key projections' bias: softmax ignores a shift shared by all scores
of a row); a gradient whose max |torch| is below 1e-6 of the model's largest is measured against that largest
gradient instead, and marked "*" in the table. --f64 adds two columns: ours and PyTorch's float32 tensors
against PyTorch in float64 (same scale), to tell whose rounding a difference is.

Prints one row per tensor, then a final line "compare_grads: PASS ..." or "compare_grads: FAIL ...".

Exit status: 0 every tensor passes; 1 a tensor fails, a name is missing on either side, or `siglip grad` fails;
2 torch, transformers or safetensors is missing (the message says which), or bad usage.
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402  (the checkpoint -> transformers loading is shared with it)

OUTPUTS = ("loss", "logits_per_image", "image_embeds", "text_embeds")
ZERO_GRADIENT = 1e-6  # a gradient whose max |torch| is below this fraction of the largest one is zero in exact math


def die(msg, code):
    print(f"compare_grads.py: {msg}", file=sys.stderr)
    sys.exit(code)


def import_dependencies():
    missing = []
    try:
        import torch
    except ImportError as e:
        missing.append(f"torch ({e})")
    try:
        import transformers
        from transformers import SiglipModel  # noqa: F401
    except ImportError as e:
        missing.append(f"transformers with SiglipModel ({e})")
    try:
        from safetensors.torch import load_file
    except ImportError as e:
        missing.append(f"safetensors ({e})")
    if missing:
        die(f"cannot run without {', '.join(missing)} for {sys.executable}; install them "
            "(pip install torch transformers safetensors)", 2)
    return torch, transformers, load_file


def run_siglip(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        die(f"`{' '.join(cmd)}` failed with status {r.returncode}:\n{r.stderr.strip() or r.stdout.strip()}", 1)
    print(r.stdout.strip())


def torch_reference(torch, tf, ckpt, load_file, pixels, ids, dtype):
    """transformers' SiglipModel with our weights: (outputs by name, gradients by name), in `dtype` on the CPU."""
    model = tf.SiglipModel(ref.hf_config(tf, ref.hf_config_dict(ckpt)))
    problems = ref.load_weights_strict(model, ckpt, load_file)
    if problems:
        die(f"{ckpt}: the weights do not load strictly into SiglipModel: {problems}", 1)
    model.to(dtype=dtype).train()  # attention dropout is 0: train and eval compute the same
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, pixel_values=pixels.to(dtype), return_loss=True)
    logits = out.logits_per_image  # [B_img, B_txt] = exp(t') x.y^T + b
    z = 2 * torch.eye(logits.shape[0], dtype=logits.dtype) - 1
    formula = -torch.nn.functional.logsigmoid(z * logits).sum() / logits.shape[0]
    loss = out.loss if out.loss is not None else formula
    if out.loss is not None and not torch.allclose(out.loss, formula, rtol=1e-6, atol=0):
        die(f"transformers' loss {out.loss.item()} is not -(1/B) sum log sigmoid(z logits) = {formula.item()}: "
            "its loss is not the one `siglip grad` computes", 1)
    loss.backward()
    outputs = {"loss": loss.detach(), "logits_per_image": logits.detach(), "image_embeds": out.image_embeds.detach(),
               "text_embeds": out.text_embeds.detach()}
    grads = {}
    for name, p in model.named_parameters():
        grads[name] = p.grad if p.grad is not None else torch.zeros_like(p)
    return outputs, grads, f"transformers {tf.__version__}, torch {torch.__version__}"


def normwise_error(torch, ours, theirs):
    """(max |ours - theirs|, max |theirs|, their ratio; 0 when both are zero, inf when only theirs is)."""
    ours, theirs = ours.double().reshape(-1), theirs.double().reshape(-1)
    if ours.numel() == 0:
        return 0.0, 0.0, 0.0
    diff = float((ours - theirs).abs().max())
    scale = float(theirs.abs().max())
    if scale == 0:
        return diff, scale, 0.0 if diff == 0 else float("inf")
    return diff, scale, diff / scale


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--siglip", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                      "siglip"), help="our binary (default: build/siglip)")
    p.add_argument("--checkpoint", required=True, help="a checkpoint, or a run directory (its latest)")
    p.add_argument("--inputs", help="a batch file (pixel_values, input_ids); default: siglip grad --make-inputs")
    p.add_argument("--batch", type=int, default=8, help="pairs in the batch made without --inputs")
    p.add_argument("--seed", type=int, default=0, help="seed of the batch made without --inputs")
    p.add_argument("--data", default="shapes", help="data of the batch made without --inputs (train's --data)")
    p.add_argument("--grad-tol", type=float, default=1e-4)
    p.add_argument("--out-tol", type=float, default=1e-5)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--f64", action="store_true",
                   help="also compute the reference in float64 and show each side's error against it")
    args = p.parse_args(argv)
    torch, tf, load_file = import_dependencies()
    if not os.access(args.siglip, os.X_OK):
        die(f"{args.siglip} is not an executable (build it: make build/siglip)", 2)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ckpt = ref.resolve_checkpoint(args.checkpoint)

    with tempfile.TemporaryDirectory(prefix="compare_grads_") as tmp:
        grads_path = os.path.join(tmp, "grads.safetensors")
        cmd = [args.siglip, "grad", "--checkpoint", ckpt, "--out", grads_path]
        if args.inputs:
            inputs_path = args.inputs
            cmd += ["--inputs", inputs_path]
        else:
            inputs_path = os.path.join(tmp, "batch.safetensors")
            cmd += ["--make-inputs", inputs_path, "--batch", str(args.batch), "--seed", str(args.seed), "--data",
                    args.data]
        run_siglip(cmd)
        ours = load_file(grads_path)
        batch = load_file(inputs_path)
    pixels = batch["pixel_values"].float()
    ids = batch["input_ids"].long()
    theirs_out, theirs_grad, impl = torch_reference(torch, tf, ckpt, load_file, pixels, ids, torch.float32)
    exact = None  # --f64: float64 gradients, to tell whose rounding a difference is
    if args.f64:
        exact_out, exact_grad, _ = torch_reference(torch, tf, ckpt, load_file, pixels, ids, torch.float64)
        exact = {**exact_out, **exact_grad}
    print(f"batch: pixel_values {list(pixels.shape)}, input_ids {list(ids.shape)}; reference: {impl}, float32, CPU")

    ours_names = set(ours) - set(OUTPUTS)
    missing_ours = sorted(set(theirs_grad) - ours_names)
    missing_theirs = sorted(ours_names - set(theirs_grad))
    absent_outputs = [k for k in OUTPUTS if k not in ours]
    rows = []  # (name, shape, max abs diff, max abs ref, rel, tol, ok)
    for name, ref_t, tol in ([(k, theirs_out[k], args.out_tol) for k in OUTPUTS if k in ours] +
                             [(k, theirs_grad[k], args.grad_tol) for k in theirs_grad if k in ours_names]):
        mine = ours[name]
        if tuple(mine.shape) != tuple(ref_t.shape):
            rows.append((name, f"{list(mine.shape)} vs {list(ref_t.shape)}", float("inf"), 0.0, float("inf"), tol,
                         False))
            continue
        diff, scale, rel = normwise_error(torch, mine, ref_t)
        rows.append([name, str(list(mine.shape)), diff, scale, rel, tol, rel <= tol])
    # A gradient that is zero in exact arithmetic holds only rounding noise on both sides: the key projection's
    # bias (softmax ignores a shift shared by all scores of a row, and q . b_k is one). Its own scale is noise, so
    # it is measured against the largest gradient of the model instead.
    grad_scale = max((r[3] for r in rows if r[0] not in OUTPUTS and r[2] != float("inf")), default=0.0)
    vanishing = []
    for r in rows:
        if r[0] not in OUTPUTS and r[2] != float("inf") and r[3] < ZERO_GRADIENT * grad_scale:
            r[3], r[4] = grad_scale, r[2] / grad_scale if grad_scale > 0 else 0.0
            r[6] = r[4] <= r[5]
            r[1] += " *"
            vanishing.append(r[0])

    width = max(len(r[0]) for r in rows) if rows else 10
    f64_head = f" {'ours~f64':>9} {'torch~f64':>9}" if exact else ""
    print(f"{'tensor':<{width}}  {'shape':<16} {'max|ours-torch|':>15} {'max|torch|':>11} {'rel err':>10} "
          f"{'tol':>7}  result{f64_head}")
    for name, shape, diff, scale, rel, tol, ok in rows:
        f64_cols = ""
        if exact and name in exact and tuple(exact[name].shape) == tuple(ours[name].shape):
            # both sides' error against float64, over the same scale as the rel err column
            f64_cols = "".join(f" {float((t.double() - exact[name]).abs().max()) / scale if scale else 0.0:>9.2e}"
                               for t in (ours[name], (theirs_out | theirs_grad)[name]))
        print(f"{name:<{width}}  {shape:<16} {diff:>15.3e} {scale:>11.3e} {rel:>10.3e} {tol:>7.0e}  "
              f"{'pass' if ok else 'FAIL':<6}{f64_cols}".rstrip())
    if vanishing:
        print(f"* zero in exact arithmetic (max |torch| < {ZERO_GRADIENT:g} x the largest gradient, {grad_scale:.3e}): "
              f"rel err against the largest gradient ({len(vanishing)} tensors)")
    for label, names in (("missing from siglip grad's file", missing_ours + absent_outputs),
                         ("not parameters of transformers' SiglipModel", missing_theirs)):
        if names:
            print(f"{label} ({len(names)}): {', '.join(names)}")

    failed = [r for r in rows if not r[6]]
    grad_rows = [r for r in rows if r[0] not in OUTPUTS]
    out_rows = [r for r in rows if r[0] in OUTPUTS]
    worst_grad = max(grad_rows, key=lambda r: r[4]) if grad_rows else None
    worst_out = max(out_rows, key=lambda r: r[4]) if out_rows else None
    ok = not failed and not missing_ours and not missing_theirs and not absent_outputs and grad_rows
    summary = (f"{len(rows)} tensors ({len(grad_rows)} gradients), worst gradient rel err "
               f"{worst_grad[4]:.3e} ({worst_grad[0]}), worst output rel err {worst_out[4]:.3e} ({worst_out[0]})"
               if worst_grad and worst_out else f"{len(rows)} tensors compared")
    if ok:
        print(f"compare_grads: PASS: {summary}; tolerances {args.grad_tol:g} (gradients), {args.out_tol:g} (outputs)")
        return 0
    print(f"compare_grads: FAIL: {len(failed)} tensors above tolerance, {len(missing_ours) + len(absent_outputs)} "
          f"missing, {len(missing_theirs)} unknown; {summary}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
