#!/usr/bin/env python3
"""PyTorch reference for the from-scratch C++ SigLIP in this repository.

Subcommands
-----------
bench        Train-step speed of the same model in plain PyTorch (transformers' SiglipModel when importable,
             else an equivalent hand-written nn.Module with the same parameter names), same loss, same optimiser:

               python3 scripts/torch_reference.py bench --config tiny|micro|small|b16 --batch 256 --steps 20 \
                   --dtype f32|bf16 --device cuda [--compile] [--impl auto|hf|torch] [--tf32]

             --dtype bf16: torch.autocast(bfloat16) around the forward and the loss, f32 master weights and f32
             optimiser (mixed precision, the same model); f32: true f32 (TF32 off unless --tf32).
             Prints a readable line (ms/step, model FLOPs per step, TFLOP/s), then, last, one JSON line:
             {"impl": "pytorch", "config", "batch", "dtype", "compile", "median_ms", "tflops", "flops_per_step",
             "params", "device_name", ...}. On CUDA out-of-memory it prints a message naming the config, batch and
             dtype, a JSON line with "error": "cuda_oom", and exits with status 3.

infer        Image-tower throughput of the same model: L2-normalised get_image_features of --images random images in
             batches of --batch under torch.inference_mode(), f32 (or --dtype bf16: autocast); images/s from the
             median time of the full batches after --warmup batches (random pixels are made outside the timing):

               python3 scripts/torch_reference.py infer --config tiny|small --images 10000 --batch 256 \
                   --device cpu --threads 2

             Prints a readable line, then, last, one JSON line {"bench": "infer", "images_per_s",
             "images_per_s_overall", "median_batch_ms", "peak_rss_mib", "threads", ...}. bench and infer report
             the process's peak RSS ("peak_rss_mib", ru_maxrss: Python, torch and transformers included) and the
             threads used (--threads N sets torch.set_num_threads; 0: as OMP_NUM_THREADS or the cores say).

check        Hugging Face interoperability: loads one of our checkpoints (DIR/config.json in SiglipConfig
             format plus our extra keys, DIR/model.safetensors with HF parameter names) into transformers'
             SiglipModel, strictly, runs it in float32 on the inputs of FILE.safetensors and compares with the
             outputs our C++ binary stored there:

               python3 scripts/torch_reference.py check --checkpoint DIR --inputs FILE.safetensors

             FILE.safetensors holds "pixel_values" f32 [B_img, C, H, W], "input_ids" i64 [B_txt, T] and the
             references "image_embeds" [B_img, D], "text_embeds" [B_txt, D] (L2-normalised) and "logits"
             [B_img, B_txt] = exp(t') x.y^T + b. Prints one JSON line {"check": "hf_interop", "max_abs_image",
             "max_abs_text", "max_abs_logits", "passed", ...}; exit 0 only when every difference is < --tol
             (1e-4).

make-inputs  Builds such a FILE.safetensors with our C++ binary (needs numpy and safetensors, not torch):
             random images written as PPM/PGM files and random texts made of the checkpoint's vocabulary words
             go through `siglip embed`; pixel_values and input_ids are reproduced exactly in Python (images are
             written at the model's size, so no resize happens: to_unit(v) = v / 255 * 2 - 1 in float32;
             texts are canonical vocabulary words, so the ids are the words' ids, then eos (0) padding, as
             Tokenizer::encode does). "logits" is computed here in float64 from the C++ embeddings and the
             checkpoint's logit_scale / logit_bias (the C++ binary has no command that prints the logit matrix).

               python3 scripts/torch_reference.py make-inputs --checkpoint DIR --out FILE.safetensors \
                   [--siglip build/siglip] [--images 4] [--texts 6] [--seed 0]

Model FLOPs per training step (bench)
-------------------------------------
Counted analytically, matmul-like work only (linear layers, the patch-embedding convolution, attention's
QK^T and AV, the logit matrix); layer norms, GELU, softmax, embedding look-ups and the optimiser are not
counted. A multiply-add is 2 FLOPs and a training step is 3x the forward pass (backward = 2x forward), so

    flops = 6 * sum over matmuls (weight params * tokens it is applied to)      -- "6 N D"
          + 12 * B * L * S^2 * D  for each tower's self-attention            -- QK^T and AV, fwd + bwd
          + MAP head attention (1 query over N tokens: 12 * B * N * D) + logits (6 * B^2 * D)

with S = N = (image/patch)^2 image tokens for the vision tower and S = T text tokens for the text tower.
Per encoder layer the matmul weights are 4 D^2 (q, k, v, out) + 2 D F (fc1, fc2); the patch embedding is
C P^2 D applied to N tokens; the MAP head applies q and out to 1 token, k and v to N tokens and its MLP to 1
token; the text head applies D x P to the last token only. The same count is printed as "flops_per_step" so
the C++ benchmark can use the identical number; "tflops" = flops_per_step / median step time.

Exit codes: 0 success (check: passed), 1 check failed / bad checkpoint, 2 missing dependency or bad usage,
3 bench: CUDA out of memory.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

# --------------------------------------------------------------------------------------------------------
# Presets: the same shapes as siglip/config.cpp preset_config()
# --------------------------------------------------------------------------------------------------------


def _preset(name):
    v = dict(hidden_size=192, intermediate_size=768, num_hidden_layers=6, num_attention_heads=3, image_size=32,
             patch_size=4, num_channels=3, layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh", vision_use_head=True)
    t = dict(vocab_size=1000, hidden_size=192, intermediate_size=768, num_hidden_layers=4, num_attention_heads=3,
             max_position_embeddings=16, projection_size=192, layer_norm_eps=1e-6, hidden_act="gelu_pytorch_tanh")
    if name == "tiny":
        pass
    elif name == "micro":
        for c in (v, t):
            c.update(hidden_size=96, intermediate_size=384, num_attention_heads=2)
        t["projection_size"] = 96
        v.update(num_hidden_layers=3, image_size=24, patch_size=4)
        t.update(num_hidden_layers=2, max_position_embeddings=12)
    elif name == "small":  # CPU benchmarks: 64 px, patch 8 (64 tokens), width 384, 6 + 6 layers
        for c in (v, t):
            c.update(hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=6)
        t["projection_size"] = 384
        v.update(image_size=64, patch_size=8)
    elif name == "b16":
        for c in (v, t):
            c.update(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
        t.update(projection_size=768, max_position_embeddings=64, vocab_size=32000)
        v.update(image_size=224, patch_size=16)
    else:
        raise ValueError(name)
    return {"text_config": t, "vision_config": v}


PRESETS = ("tiny", "micro", "small", "b16")
INIT_TEMP = math.log(10.0)  # t' (SiglipConfig::init_temp)
INIT_BIAS = -10.0  # b (SiglipConfig::init_bias)
OUR_EXTRA_KEYS = ("pool", "init_temp", "init_bias")  # in our config.json, not part of HF's SiglipConfig


def die(msg, code):
    print(f"torch_reference.py: {msg}", file=sys.stderr)
    sys.exit(code)


def import_torch():
    try:
        import torch  # noqa: F401
    except ImportError as e:
        die(f"PyTorch is not installed for {sys.executable} ({e}); this command needs it. "
            "Install it (e.g. `pip install torch`) or run it on the GPU machine.", 2)
    return torch


def import_transformers(required):
    try:
        import transformers
        from transformers import SiglipConfig, SiglipModel  # noqa: F401
        return transformers
    except ImportError as e:
        if required:
            die(f"transformers (with SiglipModel) is not importable ({e}); this command needs it "
                "(`pip install transformers`).", 2)
        return None


# --------------------------------------------------------------------------------------------------------
# FLOPs (see the module docstring)
# --------------------------------------------------------------------------------------------------------


def vision_forward_flops(v, B):
    """Returns (forward FLOPs of the image tower for B images, its matmul weight params); v is a vision_config."""
    D, F, L = v["hidden_size"], v["intermediate_size"], v["num_hidden_layers"]
    P, C = v["patch_size"], v["num_channels"]
    N = (v["image_size"] // P) ** 2
    fwd = 0.0
    mm_params = C * P * P * D + L * (4 * D * D + 2 * D * F)
    fwd += 2.0 * B * N * C * P * P * D  # patch embedding
    fwd += L * (2.0 * B * N * (4 * D * D + 2 * D * F) + 4.0 * B * N * N * D)  # vision encoder
    if v.get("vision_use_head", True):
        mm_params += 4 * D * D + 2 * D * F
        fwd += 2.0 * B * D * D + 2.0 * B * N * 2 * D * D + 4.0 * B * N * D + 2.0 * B * D * D + 2.0 * B * 2 * D * F
    return fwd, mm_params


def model_flops(cfg, B):
    """Returns (train FLOPs per step, matmul weight params) for batch B; cfg is {"text_config", "vision_config"}."""
    v, t = cfg["vision_config"], cfg["text_config"]
    fwd, mm_params = vision_forward_flops(v, B)
    Dt, Ft, Lt, T = t["hidden_size"], t["intermediate_size"], t["num_hidden_layers"], t["max_position_embeddings"]
    Pj = t.get("projection_size", Dt)
    mm_params += Lt * (4 * Dt * Dt + 2 * Dt * Ft) + Dt * Pj
    fwd += Lt * (2.0 * B * T * (4 * Dt * Dt + 2 * Dt * Ft) + 4.0 * B * T * T * Dt)  # text encoder
    fwd += 2.0 * B * Dt * Pj  # text head on the last token
    fwd += 2.0 * B * B * Pj  # logits
    return 3.0 * fwd, mm_params


# --------------------------------------------------------------------------------------------------------
# Hand-written model (used when transformers is missing, or with --impl torch). Same module tree and parameter
# names as transformers' SiglipModel, so the same state dict loads into either.
# --------------------------------------------------------------------------------------------------------


def sdpa(torch, q, k, v):
    """softmax(q k^T / sqrt(Dh)) v, q, k, v: [B, H, N, Dh]; PyTorch's fused kernel where it exists (torch >= 2.0)."""
    F = torch.nn.functional
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v)
    scores = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    return scores.softmax(dim=-1) @ v


def build_handwritten(torch, cfg):
    nn = torch.nn
    F = torch.nn.functional

    class LayerNorm(nn.LayerNorm):
        """nn.LayerNorm on f32 input, f32 output: what CUDA autocast does; CPU autocast in torch 1.x would
        otherwise meet bf16 input with f32 weights and fail. A no-op without autocast."""

        def forward(self, x):
            return super().forward(x.float())

    class MLP(nn.Module):
        def __init__(self, d, f):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(d, f), nn.Linear(f, d)

        def forward(self, x):
            return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))

    class Attention(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.h = h
            self.k_proj, self.v_proj, self.q_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

        def forward(self, x):
            B, N, D = x.shape

            def split(y):
                return y.view(B, N, self.h, D // self.h).transpose(1, 2)

            o = sdpa(torch, split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x)))
            return self.out_proj(o.transpose(1, 2).reshape(B, N, D))

    class Layer(nn.Module):
        def __init__(self, c):
            super().__init__()
            d, eps = c["hidden_size"], c["layer_norm_eps"]
            self.layer_norm1 = LayerNorm(d, eps=eps)
            self.self_attn = Attention(d, c["num_attention_heads"])
            self.layer_norm2 = LayerNorm(d, eps=eps)
            self.mlp = MLP(d, c["intermediate_size"])

        def forward(self, x):
            x = x + self.self_attn(self.layer_norm1(x))
            return x + self.mlp(self.layer_norm2(x))

    class Encoder(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.layers = nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    class VisionEmbeddings(nn.Module):
        def __init__(self, c):
            super().__init__()
            d, p = c["hidden_size"], c["patch_size"]
            self.patch_embedding = nn.Conv2d(c["num_channels"], d, kernel_size=p, stride=p, padding="valid")
            self.position_embedding = nn.Embedding((c["image_size"] // p) ** 2, d)

        def forward(self, x):
            x = self.patch_embedding(x).flatten(2).transpose(1, 2)  # [B, Np, D]
            return x + self.position_embedding.weight

    class MapHead(nn.Module):
        def __init__(self, c):
            super().__init__()
            d = c["hidden_size"]
            self.probe = nn.Parameter(torch.randn(1, 1, d))
            self.attention = nn.MultiheadAttention(d, c["num_attention_heads"], batch_first=True)
            self.layernorm = LayerNorm(d, eps=c["layer_norm_eps"])
            self.mlp = MLP(d, c["intermediate_size"])

        def forward(self, x):
            a = self.attention(self.probe.expand(x.shape[0], -1, -1), x, x, need_weights=False)[0]
            return (a + self.mlp(self.layernorm(a)))[:, 0]

    class Vision(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.embeddings = VisionEmbeddings(c)
            self.encoder = Encoder(c)
            self.post_layernorm = LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
            self.use_head = c.get("vision_use_head", True)
            if self.use_head:
                self.head = MapHead(c)

        def forward(self, x):
            h = self.post_layernorm(self.encoder(self.embeddings(x)))
            return self.head(h) if self.use_head else h.mean(1)  # mean: our "pool": "mean" (HF has none)

    class TextEmbeddings(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.token_embedding = nn.Embedding(c["vocab_size"], c["hidden_size"])
            self.position_embedding = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])

        def forward(self, ids):
            return self.token_embedding(ids) + self.position_embedding.weight[: ids.shape[1]]

    class Text(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.embeddings = TextEmbeddings(c)
            self.encoder = Encoder(c)
            self.final_layer_norm = LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
            self.head = nn.Linear(c["hidden_size"], c.get("projection_size", c["hidden_size"]))

        def forward(self, ids):
            h = self.final_layer_norm(self.encoder(self.embeddings(ids)))
            return self.head(h[:, -1])  # the last token, as HF's SiglipTextModel

    class Siglip(nn.Module):
        def __init__(self):
            super().__init__()
            self.text_model = Text(cfg["text_config"])
            self.vision_model = Vision(cfg["vision_config"])
            self.logit_scale = nn.Parameter(torch.full((1,), INIT_TEMP))
            self.logit_bias = nn.Parameter(torch.full((1,), INIT_BIAS))

    m = Siglip()
    with torch.no_grad():  # roughly SiglipModel.init_weights: keeps the loss sane, irrelevant for speed
        for mod in m.modules():
            if isinstance(mod, nn.Linear):
                nn.init.xavier_uniform_(mod.weight)
                nn.init.zeros_(mod.bias)
            elif isinstance(mod, nn.Embedding):
                nn.init.normal_(mod.weight, std=mod.weight.shape[1] ** -0.5)
    return m


def hf_config(transformers, cfg_dict):
    """A transformers SiglipConfig from a dict in HF format (our extras already removed), sdpa attention."""
    return transformers.SiglipConfig(**cfg_dict, attn_implementation="sdpa")


class Towers:
    """Uniform access to the two towers' pooled (unnormalised) outputs for either implementation."""

    def __init__(self, model, is_hf):
        self.model, self.is_hf = model, is_hf

    def image(self, pixels):
        if self.is_hf:
            return self.model.vision_model(pixel_values=pixels).pooler_output
        return self.model.vision_model(pixels)

    def text(self, ids):
        if self.is_hf:
            return self.model.text_model(input_ids=ids).pooler_output
        return self.model.text_model(ids)


def build_model(torch, cfg, impl):
    """Returns (model, is_hf, description)."""
    tf = None if impl == "torch" else import_transformers(required=(impl == "hf"))
    if tf is None:
        return build_handwritten(torch, cfg), False, "handwritten"
    model = tf.SiglipModel(hf_config(tf, cfg))
    with torch.no_grad():
        model.logit_scale.fill_(INIT_TEMP)
        model.logit_bias.fill_(INIT_BIAS)
    attn = getattr(model.vision_model.config, "_attn_implementation", "?")
    return model, True, f"transformers {tf.__version__} SiglipModel (attn {attn})"


# --------------------------------------------------------------------------------------------------------
# bench
# --------------------------------------------------------------------------------------------------------


def is_cuda_oom(torch, e):
    """True for PyTorch's CUDA out-of-memory error (its own type since torch 1.13; a RuntimeError before)."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(e, oom_type):
        return True
    return isinstance(e, RuntimeError) and "out of memory" in str(e).lower()


def set_threads(torch, n):
    """--threads N: PyTorch's intra-op threads (0: as the environment sets: OMP_NUM_THREADS, else the cores)."""
    if n > 0:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def peak_rss_mib():
    """The peak resident memory of this process so far, in MiB (ru_maxrss is in KiB on Linux): the interpreter,
    torch and transformers included, as our binary's includes its libraries."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_name():
    """The CPU's model name from /proc/cpuinfo, else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def autocast_and_sync(torch, dev, dtype):
    """The context the timed work runs in (bf16: autocast on dev's type, else none) and dev's synchronise."""
    if dtype == "bf16":
        autocast = lambda: torch.autocast(device_type=dev.type, dtype=torch.bfloat16)  # noqa: E731
    else:
        import contextlib
        autocast = contextlib.nullcontext

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    return autocast, sync


def cmd_bench(args):
    torch = import_torch()
    try:
        return run_bench(torch, args)
    except Exception as e:  # noqa: BLE001 (only CUDA OOM is handled; everything else is re-raised)
        if not is_cuda_oom(torch, e):
            raise
        first = (str(e).strip().splitlines() or ["(no message)"])[0][:300]
        print(f"torch_reference.py: bench: CUDA out of memory for config {args.config}, batch {args.batch}, "
              f"dtype {args.dtype}: {first}", file=sys.stderr, flush=True)
        print(json.dumps({"impl": "pytorch", "config": args.config, "batch": args.batch, "dtype": args.dtype,
                          "error": "cuda_oom", "message": first}), flush=True)
        return 3


def run_bench(torch, args):
    F = torch.nn.functional
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        die(f"--device {args.device}: torch {torch.__version__} sees no CUDA device", 2)
    if args.dtype == "bf16" and not args.device.startswith("cuda"):
        print("note: bf16 autocast on a non-CUDA device uses device_type='cpu'", file=sys.stderr)
    dev = torch.device(args.device)
    # f32 means f32: our CUDA GEMMs use CUBLAS_DEFAULT_MATH (no TF32); --tf32 allows it here for comparison.
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.manual_seed(args.seed)
    threads = set_threads(torch, args.threads)

    cfg = _preset(args.config)
    model, is_hf, desc = build_model(torch, cfg, args.impl)
    model.to(dev).train()
    towers = Towers(model, is_hf)
    params = sum(p.numel() for p in model.parameters())

    class TrainLoss(torch.nn.Module):
        """The SigLIP sigmoid loss, -(1/B) sum log sigmoid(z (exp(t') x.y^T + b)), z = 2 I - 1."""

        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, pixels, ids):
            x = F.normalize(towers.image(pixels).float(), dim=-1)
            y = F.normalize(towers.text(ids).float(), dim=-1)
            logits = (x @ y.t()) * model.logit_scale.exp() + model.logit_bias
            z = 2 * torch.eye(logits.shape[0], device=logits.device, dtype=logits.dtype) - 1
            return -F.logsigmoid(z * logits).sum() / logits.shape[0]

    loss_fn = TrainLoss()
    if args.compile:
        loss_fn = torch.compile(loss_fn)

    # The C++ trainer's groups: tensors with dim >= 2 decay; biases, norms, t' and b do not.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    fused = {"fused": True} if dev.type == "cuda" else {}  # the keyword is torch >= 2.0; the CPU runs unfused
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8, **fused)

    v, t = cfg["vision_config"], cfg["text_config"]
    B = args.batch
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    pixels = torch.randn(B, v["num_channels"], v["image_size"], v["image_size"], generator=gen).to(dev)
    ids = torch.randint(0, t["vocab_size"], (B, t["max_position_embeddings"]), generator=gen).to(dev)

    autocast, sync = autocast_and_sync(torch, dev, args.dtype)

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(pixels, ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    losses, times = [], []
    t_warm = time.perf_counter()
    for _ in range(args.warmup):
        losses.append(float(step().detach()))
    sync()
    warmup_s = time.perf_counter() - t_warm
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    for _ in range(args.steps):
        sync()
        t0 = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - t0)
        losses.append(loss.detach())
    losses = [float(x) for x in losses]

    flops, mm_params = model_flops(cfg, B)
    med = statistics.median(times)
    if dev.type == "cuda":
        device_name = torch.cuda.get_device_name(dev)
        peak_gib = torch.cuda.max_memory_allocated(dev) / 2**30
    else:
        device_name = cpu_name()
        peak_gib = None
    out = {
        "impl": "pytorch",
        "config": args.config,
        "batch": B,
        "dtype": args.dtype,
        "compile": bool(args.compile),
        "median_ms": round(med * 1e3, 3),
        "mean_ms": round(statistics.mean(times) * 1e3, 3),
        "min_ms": round(min(times) * 1e3, 3),
        "tflops": round(flops / med / 1e12, 3),
        "flops_per_step": flops,
        "params": params,
        "matmul_params": mm_params,
        "device": str(dev),
        "device_name": device_name,
        "model": desc,
        "tf32": bool(args.tf32),
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "warmup_s": round(warmup_s, 2),
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "peak_mem_gib": round(peak_gib, 2) if peak_gib is not None else None,
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "threads": threads,
        "torch": torch.__version__,
    }
    if not all(math.isfinite(x) for x in losses):
        print("warning: non-finite loss during the benchmark", file=sys.stderr)
    print(f"pytorch {args.config} B={B} {args.dtype}: median {med * 1e3:.2f} ms/step over {args.steps} steps, "
          f"model {flops / 1e12:.3f} TFLOP/step, {flops / med / 1e12:.1f} TFLOP/s ({desc}, {device_name}, "
          f"{threads} threads), peak RSS {out['peak_rss_mib']:.0f} MiB", flush=True)
    print(json.dumps(out), flush=True)
    return 0


# --------------------------------------------------------------------------------------------------------
# infer
# --------------------------------------------------------------------------------------------------------


def cmd_infer(args):
    """Image-tower throughput: L2-normalised get_image_features of --images random images in batches of --batch,
    under inference_mode; images/s from the median time of the full batches after --warmup batches."""
    torch = import_torch()
    F = torch.nn.functional
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        die(f"--device {args.device}: torch {torch.__version__} sees no CUDA device", 2)
    dev = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(args.seed)
    threads = set_threads(torch, args.threads)

    cfg = _preset(args.config)
    model, is_hf, desc = build_model(torch, cfg, args.impl)
    model.to(dev).eval()
    v = cfg["vision_config"]
    B, C, S = args.batch, v["num_channels"], v["image_size"]
    gen = torch.Generator(device="cpu").manual_seed(args.seed)

    autocast, sync = autocast_and_sync(torch, dev, args.dtype)

    def image_embeds(pixels):
        with autocast():
            if is_hf:
                out = model.get_image_features(pixel_values=pixels)
                out = getattr(out, "pooler_output", out)  # transformers >= 5: the model output; before: the tensor
            else:
                out = model.vision_model(pixels)
        return F.normalize(out.float(), dim=-1)

    def pixels(n):  # random images, made outside the timed part
        return torch.randn(n, C, S, S, generator=gen).to(dev)

    times, total_s, done = [], 0.0, 0
    with torch.inference_mode():
        for _ in range(args.warmup):
            image_embeds(pixels(B))
        while done < args.images:
            n = min(B, args.images - done)
            x = pixels(n)
            sync()
            t0 = time.perf_counter()
            y = image_embeds(x)
            sync()
            dt = time.perf_counter() - t0
            if y.shape != (n, v["hidden_size"]) or not bool(torch.isfinite(y).all()):
                die(f"infer: image embeddings of shape {list(y.shape)}, finite {bool(torch.isfinite(y).all())}", 1)
            total_s += dt
            done += n
            if n == B:
                times.append(dt)
    med = statistics.median(times)
    out = {
        "impl": "pytorch",
        "bench": "infer",
        "config": args.config,
        "batch": B,
        "dtype": args.dtype,
        "images": args.images,
        "batches": len(times),
        "warmup_batches": args.warmup,
        "images_per_s": round(B / med, 1),
        "images_per_s_overall": round(args.images / total_s, 1),
        "median_batch_ms": round(med * 1e3, 3),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "threads": threads,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else cpu_name(),
        "model": desc,
        "torch": torch.__version__,
    }
    print(f"pytorch infer {args.config} B={B} {args.dtype}: {B / med:.1f} images/s (median of {len(times)} batches; "
          f"{args.images / total_s:.1f} images/s over all {args.images}), peak RSS {out['peak_rss_mib']:.0f} MiB "
          f"({desc}, {out['device_name']}, {threads} threads)", flush=True)
    print(json.dumps(out), flush=True)
    return 0


# --------------------------------------------------------------------------------------------------------
# checkpoint helpers (shared by check and make-inputs)
# --------------------------------------------------------------------------------------------------------


def resolve_checkpoint(d):
    """As siglip/checkpoint.cpp: DIR with model.safetensors, or DIR/latest naming a step directory."""
    if os.path.isfile(os.path.join(d, "model.safetensors")):
        return d
    latest = os.path.join(d, "latest")
    if not os.path.isfile(latest):
        die(f"checkpoint: {d} has neither model.safetensors nor a 'latest' pointer", 1)
    with open(latest) as f:
        step = os.path.join(d, f.read().strip())
    if not os.path.isfile(os.path.join(step, "model.safetensors")):
        die(f"checkpoint: {latest} names {step}, which has no model.safetensors", 1)
    return step


def read_our_config(ckpt):
    path = os.path.join(ckpt, "config.json")
    try:
        with open(path) as f:
            return json.load(f), path
    except (OSError, ValueError) as e:
        die(f"checkpoint: cannot read {path}: {e}", 1)


def hf_config_dict(ckpt):
    """Our DIR/config.json as the dict of transformers' SiglipConfig: our extra keys removed (they are not
    SiglipConfig fields; transformers would keep them as stray attributes), the MAP head required."""
    raw, cfg_path = read_our_config(ckpt)
    extras = {k: raw.pop(k) for k in OUR_EXTRA_KEYS if k in raw}
    for k in ("text_config", "vision_config"):
        if not isinstance(raw.get(k), dict):
            die(f"{cfg_path}: no '{k}' object; HF's SiglipConfig would silently use its defaults", 1)
    vuh = raw["vision_config"].get("vision_use_head")
    pool = extras.get("pool", "map")
    if vuh is None:
        print(f"note: {cfg_path}: vision_config has no 'vision_use_head'; HF defaults it to True", file=sys.stderr)
        vuh = True
    if pool != "map" or not vuh:
        die(f"{cfg_path}: pool '{pool}' / vision_use_head {vuh}: HF's SiglipVisionModel has no mean pooling "
            "(pooler_output is None without the MAP head), so SiglipModel cannot run this checkpoint", 1)
    print(f"config {cfg_path}: ignored our extra keys {extras}")
    return raw


def load_weights_strict(model, ckpt, load_file):
    """Loads DIR/model.safetensors into `model` with load_state_dict(strict=True), as float32. Returns None, or
    {"missing_keys", "unexpected_keys", "shape_mismatch", "non_float"} (also printed) when the names, shapes or
    dtypes do not match exactly; `load_file` is safetensors.torch.load_file."""
    weights_path = os.path.join(ckpt, "model.safetensors")
    sd = load_file(weights_path)
    bad_dtype = sorted(k for k, v in sd.items() if not v.is_floating_point())
    sd = {k: v.float() for k, v in sd.items()}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    unexpected = sorted(set(sd) - set(expected))
    mismatched = sorted(f"{k}: file {list(sd[k].shape)} vs model {list(expected[k].shape)}"
                        for k in set(sd) & set(expected) if sd[k].shape != expected[k].shape)
    print(f"weights {weights_path}: {len(sd)} tensors; model expects {len(expected)}")
    for name, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched),
                        ("non-float", bad_dtype)):
        if items:
            print(f"  {name} ({len(items)}): " + ", ".join(items))
    if missing or unexpected or mismatched or bad_dtype:
        return {"missing_keys": missing, "unexpected_keys": unexpected, "shape_mismatch": mismatched,
                "non_float": bad_dtype}
    model.load_state_dict(sd, strict=True)
    return None


# --------------------------------------------------------------------------------------------------------
# check
# --------------------------------------------------------------------------------------------------------


def cmd_check(args):
    torch = import_torch()
    try:
        from safetensors.torch import load_file
    except ImportError as e:
        die(f"safetensors is not importable ({e}); `pip install safetensors`", 2)
    tf = None if args.impl == "torch" else import_transformers(required=(args.impl == "hf"))

    ckpt = resolve_checkpoint(args.checkpoint)
    raw = hf_config_dict(ckpt)

    dev = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    if tf is not None:
        model = tf.SiglipModel(hf_config(tf, raw))
        impl = f"transformers {tf.__version__} SiglipModel"
    else:
        if args.impl != "torch":
            print("note: transformers is not importable: checking the hand-written module", file=sys.stderr)
        model = build_handwritten(torch, raw)
        impl = "handwritten"
    model.eval()

    problems = load_weights_strict(model, ckpt, load_file)
    if problems:
        print(json.dumps({"check": "hf_interop", "passed": False, **problems}))
        return 1
    model.to(dev, dtype=torch.float32)

    inputs = load_file(args.inputs)
    need = ("pixel_values", "input_ids", "image_embeds", "text_embeds", "logits")
    absent = [k for k in need if k not in inputs]
    if absent:
        die(f"{args.inputs}: missing tensors {absent} (has {sorted(inputs)})", 1)
    pixels = inputs["pixel_values"].float().to(dev)
    ids = inputs["input_ids"].long().to(dev)
    print(f"inputs {args.inputs}: pixel_values {list(pixels.shape)}, input_ids {list(ids.shape)}")

    towers = Towers(model, tf is not None)
    F = torch.nn.functional
    with torch.no_grad():
        if tf is not None:
            out = model(input_ids=ids, pixel_values=pixels)
            img, txt, logits = out.image_embeds, out.text_embeds, out.logits_per_image  # [B_img, B_txt]
        else:
            img = F.normalize(towers.image(pixels), dim=-1)
            txt = F.normalize(towers.text(ids), dim=-1)
            logits = img @ txt.t() * model.logit_scale.exp() + model.logit_bias

    def maxdiff(a, ref_name):
        ref = inputs[ref_name].float()
        a = a.float().cpu()
        if a.shape != ref.shape:
            die(f"{ref_name}: ours {list(ref.shape)} vs PyTorch {list(a.shape)}", 1)
        return float((a - ref).abs().max()) if a.numel() else 0.0

    d_img, d_txt, d_log = maxdiff(img, "image_embeds"), maxdiff(txt, "text_embeds"), maxdiff(logits, "logits")
    passed = all(math.isfinite(d) and d < args.tol for d in (d_img, d_txt, d_log))
    print(f"max |diff| image_embeds {d_img:.3e}, text_embeds {d_txt:.3e}, logits {d_log:.3e} "
          f"(tolerance {args.tol:g}, {impl}, {dev}): {'PASSED' if passed else 'FAILED'}")
    print(json.dumps({"check": "hf_interop", "max_abs_image": d_img, "max_abs_text": d_txt, "max_abs_logits": d_log,
                      "passed": passed, "tolerance": args.tol, "impl": impl, "device": str(dev),
                      "checkpoint": ckpt}))
    return 0 if passed else 1


# --------------------------------------------------------------------------------------------------------
# make-inputs (numpy + safetensors + our binary; no torch)
# --------------------------------------------------------------------------------------------------------


def cmd_make_inputs(args):
    try:
        import numpy as np
        from safetensors.numpy import load_file, save_file
    except ImportError as e:
        die(f"make-inputs needs numpy and safetensors ({e})", 2)
    if not os.access(args.siglip, os.X_OK):
        die(f"{args.siglip} is not an executable (build it: make build/siglip)", 2)
    ckpt = resolve_checkpoint(args.checkpoint)
    raw, _ = read_our_config(ckpt)
    v, t = raw["vision_config"], raw["text_config"]
    S, C, T = v["image_size"], v.get("num_channels", 3), t["max_position_embeddings"]
    with open(os.path.join(ckpt, "tokenizer.json")) as f:
        vocab = json.load(f)["vocab"]
    weights = load_file(os.path.join(ckpt, "model.safetensors"))
    rng = np.random.default_rng(args.seed)

    with tempfile.TemporaryDirectory() as tmp:
        # Images: random bytes at the model's size (no resize), so pixel_values = to_unit(byte) exactly.
        files, pix = [], []
        for i in range(args.images):
            if C == 3:
                u8 = rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
                path, head = os.path.join(tmp, f"img{i}.ppm"), b"P6\n%d %d\n255\n" % (S, S)
                chw = u8.transpose(2, 0, 1)
            else:
                u8 = rng.integers(0, 256, (S, S), dtype=np.uint8)
                path, head = os.path.join(tmp, f"img{i}.pgm"), b"P5\n%d %d\n255\n" % (S, S)
                chw = u8[None]
            with open(path, "wb") as f:
                f.write(head + u8.tobytes())
            files.append(path)
            pix.append(chw.astype(np.float32) / np.float32(255.0) * np.float32(2.0) - np.float32(1.0))
        # Texts: canonical vocabulary words (id i = vocab[i]); Tokenizer::encode keeps the first T-1 words,
        # then eos (0) and eos padding. One text is longer than T words (truncation), one has an unknown word.
        words = [w for w in vocab[2:] if w and w.isascii() and w.isalnum() and w == w.lower()]
        if not words:
            die(f"{ckpt}/tokenizer.json has no plain words to build texts from", 1)
        texts = []
        for j in range(args.texts):
            n = T + 2 if j == 1 else int(rng.integers(1, max(2, T)))
            texts.append([words[int(k)] for k in rng.integers(0, len(words), n)])
        unk = "zzqxunknownword"
        if args.texts >= 3 and unk not in vocab:
            texts[2] = [words[0], unk]
        index = {w: i for i, w in enumerate(vocab)}
        ids = np.zeros((len(texts), T), dtype=np.int64)
        for j, ws in enumerate(texts):
            for k, w in enumerate(ws[: T - 1]):
                ids[j, k] = index.get(w, 1)
        outs = {}
        for kind, items in (("images", files), ("texts", [" ".join(ws) for ws in texts])):
            dst = os.path.join(tmp, f"{kind}.safetensors")
            cmd = [args.siglip, "embed", "--checkpoint", ckpt, "--out", dst, f"--{kind}", *items]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                die(f"`{' '.join(cmd[:6])} ...` failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}", 1)
            outs[kind] = load_file(dst)["embeddings"].astype(np.float32)
    x, y = outs["images"], outs["texts"]
    scale = float(np.exp(weights["logit_scale"].astype(np.float64)[0]))
    bias = float(weights["logit_bias"].astype(np.float64)[0])
    logits = (x.astype(np.float64) @ y.astype(np.float64).T * scale + bias).astype(np.float32)
    save_file({"pixel_values": np.ascontiguousarray(np.stack(pix)), "input_ids": ids, "image_embeds": x,
               "text_embeds": y, "logits": logits}, args.out,
              metadata={"checkpoint": ckpt, "texts": json.dumps([" ".join(ws) for ws in texts])})
    print(f"wrote {args.out}: pixel_values {list(np.stack(pix).shape)}, input_ids {list(ids.shape)}, "
          f"image_embeds {list(x.shape)}, text_embeds {list(y.shape)}, logits {list(logits.shape)}")
    return 0


# --------------------------------------------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="train-step speed of the PyTorch reference")
    b.add_argument("--config", choices=PRESETS, default="tiny")
    b.add_argument("--batch", type=int, default=256)
    b.add_argument("--steps", type=int, default=20)
    b.add_argument("--warmup", type=int, default=3)
    b.add_argument("--dtype", choices=("f32", "bf16"), default="f32")
    b.add_argument("--device", default="cuda")
    b.add_argument("--compile", action="store_true", help="torch.compile the forward + loss")
    b.add_argument("--impl", choices=("auto", "hf", "torch"), default="auto",
                   help="auto: transformers' SiglipModel if importable, else the hand-written module")
    b.add_argument("--tf32", action="store_true", help="allow TF32 for f32 matmuls/convs (off: true f32)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--threads", type=int, default=0, help="CPU threads (0: as the environment sets)")
    i = sub.add_parser("infer", help="image-tower throughput (images/s) of the PyTorch reference")
    i.add_argument("--config", choices=PRESETS, default="tiny")
    i.add_argument("--images", type=int, default=10000)
    i.add_argument("--batch", type=int, default=256)
    i.add_argument("--warmup", type=int, default=2, help="batches run before the timed ones")
    i.add_argument("--dtype", choices=("f32", "bf16"), default="f32")
    i.add_argument("--device", default="cpu")
    i.add_argument("--impl", choices=("auto", "hf", "torch"), default="auto",
                   help="auto: transformers' SiglipModel if importable, else the hand-written module")
    i.add_argument("--threads", type=int, default=0, help="CPU threads (0: as the environment sets)")
    i.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("check", help="load our checkpoint into transformers' SiglipModel and compare outputs")
    c.add_argument("--checkpoint", required=True)
    c.add_argument("--inputs", required=True)
    c.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    c.add_argument("--tol", type=float, default=1e-4)
    c.add_argument("--impl", choices=("hf", "auto", "torch"), default="hf",
                   help="hf (default): transformers required; auto/torch: allow the hand-written module")
    m = sub.add_parser("make-inputs", help="build a check --inputs file with our C++ binary")
    m.add_argument("--checkpoint", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--siglip", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                      "siglip"))
    m.add_argument("--images", type=int, default=4)
    m.add_argument("--texts", type=int, default=6)
    m.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.cmd == "bench":
        if args.batch < 1 or args.steps < 1 or args.warmup < 0:
            die("bench: --batch and --steps must be >= 1, --warmup >= 0", 2)
        return cmd_bench(args)
    if args.cmd == "infer":
        if args.batch < 1 or args.images < args.batch or args.warmup < 0:
            die("infer: --batch must be >= 1, --images >= --batch (the median is over full batches), --warmup >= 0", 2)
        return cmd_infer(args)
    if args.cmd == "check":
        return cmd_check(args)
    if args.images < 1 or args.texts < 1:
        die("make-inputs: --images and --texts must be >= 1", 2)
    return cmd_make_inputs(args)


if __name__ == "__main__":
    sys.exit(main())
