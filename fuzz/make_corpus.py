#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus (fuzz/corpus/<target>/) and fuzz/data/spiece.model.

Run from the repository root with the oracle venv: .venv/bin/python fuzz/make_corpus.py [CHECKPOINT_DIR ...]
Each CHECKPOINT_DIR (a `siglip train` checkpoint) adds its config.json (our config form) and tokenizer.json.
Valid files come from the Hugging Face libraries (safetensors, transformers, sentencepiece); the broken ones are
derived from them by hand. The files are small: the whole corpus stays under 1 MB.
"""
import io
import json
import os
import random
import shutil
import struct
import sys
import tempfile

import numpy as np
import sentencepiece as spm
import torch
from safetensors.numpy import save as save_numpy
from safetensors.torch import save as save_torch
from transformers import SiglipConfig, SiglipModel, SiglipTokenizer

ROOT = "fuzz/corpus"


def put(target, name, data):
    os.makedirs(f"{ROOT}/{target}", exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(f"{ROOT}/{target}/{name}", "wb") as f:
        f.write(data)


def header_of(st):  # (header length, header json, data bytes)
    n = struct.unpack("<Q", st[:8])[0]
    return n, json.loads(st[8:8 + n]), st[8 + n:]


def with_header(header, data, pad=True):
    text = json.dumps(header).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def safetensors_corpus():
    t = "fuzz_safetensors"
    rng = np.random.default_rng(0)
    put(t, "f32_2x3", save_numpy({"w": rng.standard_normal((2, 3)).astype(np.float32)}))
    put(t, "f64_scalar", save_numpy({"x": np.array(3.5, dtype=np.float64)}))
    put(t, "i64_ids", save_numpy({"ids": np.arange(7, dtype=np.int64)}))
    put(t, "i32_ids", save_numpy({"ids": np.arange(5, dtype=np.int32).reshape(1, 5)}))
    put(t, "bf16_3x2", save_torch({"b": torch.randn(3, 2, dtype=torch.bfloat16)}))
    put(t, "f16_4", save_torch({"h": torch.tensor([1.0, -2.0, 6e-8, 65504.0], dtype=torch.float16)}))
    put(t, "empty_0x4", save_numpy({"e": np.zeros((0, 4), dtype=np.float32)}))
    several = {"a.weight": rng.standard_normal((4, 2)).astype(np.float32),
               "a.bias": np.zeros(4, dtype=np.float32), "z": np.ones((2, 1, 2), dtype=np.float64)}
    put(t, "several_metadata", save_numpy(several, metadata={"format": "pt", "note": "seed"}))
    good = save_numpy({"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    n, h, data = header_of(good)
    # Broken files.
    put(t, "bad_truncated", good[:-5])
    put(t, "bad_short", good[:6])
    put(t, "bad_header_length", struct.pack("<Q", 1 << 40) + good[8:])
    put(t, "bad_json", good[:8] + b"{\"w\": [" + good[15:])
    h2 = json.loads(json.dumps(h)); h2["w"]["dtype"] = "F8_E4M3"
    put(t, "bad_dtype", with_header(h2, data))
    h2 = json.loads(json.dumps(h)); h2["w"]["shape"] = [3, 3]
    put(t, "bad_shape_size", with_header(h2, data))
    h2 = json.loads(json.dumps(h)); h2["v"] = dict(h2["w"])
    put(t, "bad_overlap", with_header(h2, data))
    h2 = json.loads(json.dumps(h)); h2["w"]["shape"] = [0, 4611686018427387904, 4611686018427387904]
    h2["w"]["data_offsets"] = [0, 0]
    put(t, "bad_huge_empty_shape", with_header(h2, data))
    h2 = json.loads(json.dumps(h)); h2["w"]["data_offsets"] = [24, 0]
    put(t, "bad_offsets_reversed", with_header(h2, data))
    h2 = json.loads(json.dumps(h)); h2["__metadata__"] = {"k": 1}
    put(t, "bad_metadata", with_header(h2, data))


def tiny_config(**vision):
    v = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=16,
             patch_size=8)
    v.update(vision)
    return SiglipConfig(text_config=dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, max_position_embeddings=8), vision_config=v)


def config_corpus(checkpoints):
    t = "fuzz_config"
    put(t, "hf_default", SiglipConfig().to_json_string())
    put(t, "hf_tiny", tiny_config().to_json_string())
    put(t, "hf_no_head", tiny_config(vision_use_head=False).to_json_string())
    so400m = SiglipConfig(
        text_config=dict(vocab_size=32000, hidden_size=1152, intermediate_size=4304, num_hidden_layers=27,
                         num_attention_heads=16, max_position_embeddings=64),
        vision_config=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                           image_size=384, patch_size=14))
    put(t, "hf_so400m_shapes", so400m.to_json_string())
    d = json.loads(tiny_config().to_json_string())
    d["vision_config"]["patch_size"] = [8, 8]
    put(t, "hf_square_pair", json.dumps(d))
    d2 = json.loads(json.dumps(d)); d2["vision_config"]["image_size"] = [16, 32]
    put(t, "bad_non_square", json.dumps(d2))
    d2 = json.loads(json.dumps(d)); d2["text_config"]["hidden_act"] = "relu"
    put(t, "bad_hidden_act", json.dumps(d2))
    d2 = json.loads(json.dumps(d)); del d2["text_config"]
    put(t, "bad_no_text_config", json.dumps(d2))
    d2 = json.loads(json.dumps(d)); d2["text_config"]["num_attention_heads"] = 3
    put(t, "bad_heads", json.dumps(d2))
    put(t, "bad_truncated", tiny_config().to_json_string()[:100])
    for i, ck in enumerate(checkpoints):
        with open(f"{ck}/config.json") as f:
            put(t, f"ours_{i}", f.read())


def shard_index_corpus():
    t = "fuzz_shard_index"
    model = SiglipModel(tiny_config())
    with tempfile.TemporaryDirectory() as d:
        model.save_pretrained(d, max_shard_size="40KB")
        with open(f"{d}/model.safetensors.index.json") as f:
            index = f.read()
    put(t, "hf_sharded", index)
    j = json.loads(index)
    names = sorted(j["weight_map"])[:3]
    small = {"metadata": {"total_size": 1024}, "weight_map": {n: f"model-0000{i % 2 + 1}-of-00002.safetensors"
                                                              for i, n in enumerate(names)}}
    put(t, "small", json.dumps(small, indent=2))
    bad = json.loads(json.dumps(small)); bad["weight_map"][names[0]] = "../outside.safetensors"
    put(t, "bad_path", json.dumps(bad))
    bad = json.loads(json.dumps(small)); bad["weight_map"][names[0]] = 7
    put(t, "bad_not_string", json.dumps(bad))
    put(t, "bad_no_weight_map", json.dumps({"metadata": {}}))


def captions(n, seed=0):
    rng = random.Random(seed)
    colours = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "grey", "pink"]
    things = ["cat", "dog", "car", "bird", "tree", "house", "boat", "horse", "flower", "bicycle", "chair", "cup"]
    places = ["on the grass", "in the city", "by the sea", "under a tree", "in a room", "on a table", "at night"]
    forms = ["a photo of a {} {} {}", "A {} {} {}.", "two {} {}s {}", "the {} {}, {}!", "an image of a {} {} {}"]
    return [rng.choice(forms).format(rng.choice(colours), rng.choice(things), rng.choice(places)) for _ in range(n)]


def train(model_prefix, vocab, extra):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(captions(300)) + "\n")
        path = f.name
    spm.SentencePieceTrainer.train(input=path, model_prefix=model_prefix, vocab_size=vocab, hard_vocab_limit=False,
                                   minloglevel=2, num_threads=1, **extra)
    os.unlink(path)
    with open(model_prefix + ".model", "rb") as f:
        return f.read()


def tokenizer_corpus(checkpoints):
    t = "fuzz_tokenizer"
    with tempfile.TemporaryDirectory() as d:
        siglip = train(f"{d}/siglip", 120, dict(model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                                 pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>"))
        gemma = train(f"{d}/gemma", 300, dict(model_type="bpe", pad_id=0, eos_id=1, bos_id=2, unk_id=3,
                                              pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
                                              unk_piece="<unk>", byte_fallback=True,
                                              normalization_rule_name="identity", add_dummy_prefix=False,
                                              remove_extra_whitespaces=False))
        os.makedirs("fuzz/data", exist_ok=True)
        with open("fuzz/data/spiece.model", "wb") as f:
            f.write(siglip)
        shutil.copy("fuzz/data/spiece.model", f"{d}/spiece.model")
        tok = SiglipTokenizer(vocab_file=f"{d}/spiece.model")
        out = f"{d}/saved"
        tok.save_pretrained(out)
        with open(f"{out}/tokenizer_config.json") as f:
            tokenizer_config = json.load(f)
        special = None
        if os.path.exists(f"{out}/special_tokens_map.json"):
            with open(f"{out}/special_tokens_map.json") as f:
                special = f.read()
    # Mode byte (fuzz_tokenizer.cpp): % 4 = what follows; bit 2 = variant.
    for i, ck in enumerate(checkpoints):
        with open(f"{ck}/tokenizer.json", "rb") as f:
            put(t, f"word_{i}", b"\x00" + f.read())
    put(t, "word_minimal", b"\x00" + json.dumps({"type": "word", "vocab": ["</s>", "<unk>", "cat"]}).encode())
    put(t, "bad_word_duplicate", b"\x00" + json.dumps({"type": "word", "vocab": ["</s>", "<unk>", "a", "a"]}).encode())
    put(t, "bad_word_specials", b"\x00" + json.dumps({"type": "word", "vocab": ["<unk>", "</s>"]}).encode())
    put(t, "sp_siglip", b"\x01" + siglip)
    put(t, "sp_gemma", b"\x05" + gemma)
    put(t, "bad_sp_truncated", b"\x01" + siglip[: len(siglip) // 3])
    # HF's tokenizer_config.json carries an added_tokens_decoder; only the fields the loader reads matter.
    cfg = {k: v for k, v in tokenizer_config.items() if k != "added_tokens_decoder"}
    put(t, "config_siglip", b"\x02" + json.dumps(cfg, indent=2).encode())
    put(t, "config_siglip2", b"\x02" + json.dumps({"tokenizer_class": "Siglip2Tokenizer", "add_bos_token": False,
                                                    "add_eos_token": True, "eos_token": "</s>",
                                                    "pad_token": {"content": "<pad>"}}).encode())
    put(t, "bad_config_class", b"\x02" + json.dumps({"tokenizer_class": "BertTokenizer"}).encode())
    put(t, "bad_config_eos", b"\x02" + json.dumps({"eos_token": "<nope>"}).encode())
    if special:
        put(t, "special_tokens_map", b"\x06" + special.encode())
    texts = ["A photo of a Cat_on the MAT!!", "ΣΑΣ ΟΔΟΣ σοφΣ", "İstanbul ﬁ Straße", "tabs\tand\u3000spaces\u001f",
             "▁already▁marked", "</s> <unk> <pad>", "emoji 🐈‍⬛ cat"]
    for i, s in enumerate(texts):
        put(t, f"text_{i}", b"\x03" + s.encode())
    put(t, "bad_text_utf8", b"\x03caf\xc3 \xed\xa0\x80 \xf8\x88")


def dictionaries():
    os.makedirs("fuzz/dict", exist_ok=True)
    common = ['"{"', '"}"', '"["', '"]"', '":"', '","', '"\\""', '"null"', '"true"', '"false"', '"-1"', '"0"',
              '"1e308"', '"18446744073709551615"', '"9223372036854775808"', '"\\\\u0000"']
    sets = {
        "fuzz_safetensors": ['"dtype"', '"shape"', '"data_offsets"', '"__metadata__"', '"F32"', '"F64"', '"F16"',
                             '"BF16"', '"I64"', '"I32"', '"U8"', '"\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00"'],
        "fuzz_shard_index": ['"weight_map"', '"metadata"', '"total_size"', '"model-00001-of-00002.safetensors"',
                             '"/"', '".."', '"."'],
        "fuzz_config": ['"model_type"', '"siglip"', '"text_config"', '"vision_config"', '"vocab_size"',
                        '"hidden_size"', '"intermediate_size"', '"num_hidden_layers"', '"num_attention_heads"',
                        '"max_position_embeddings"', '"projection_size"', '"layer_norm_eps"', '"image_size"',
                        '"patch_size"', '"num_channels"', '"vision_use_head"', '"hidden_act"',
                        '"gelu_pytorch_tanh"', '"attention_dropout"', '"pool"', '"map"', '"mean"', '"init_temp"',
                        '"init_bias"'],
        "fuzz_tokenizer": ['"type"', '"word"', '"vocab"', '"</s>"', '"<unk>"', '"<pad>"', '"<eos>"', '"<bos>"',
                           '"tokenizer_class"', '"SiglipTokenizer"', '"GemmaTokenizer"', '"Siglip2Tokenizer"',
                           '"do_lower_case"', '"legacy"', '"add_bos_token"', '"add_eos_token"', '"padding_side"',
                           '"left"', '"right"', '"eos_token"', '"pad_token"', '"unk_token"', '"bos_token"',
                           '"content"', '"\\xe2\\x96\\x81"', '"\\xce\\xa3"', '"\\xc4\\xb0"'],
    }
    for target, words in sets.items():
        with open(f"fuzz/dict/{target}.dict", "w") as f:
            f.write(f"# {target}: keys and values its inputs use (libFuzzer -dict=)\n")
            f.write("\n".join(words + common) + "\n")


if __name__ == "__main__":
    checkpoints = sys.argv[1:]
    shutil.rmtree(ROOT, ignore_errors=True)
    torch.manual_seed(0)
    safetensors_corpus()
    config_corpus(checkpoints)
    shard_index_corpus()
    tokenizer_corpus(checkpoints)
    dictionaries()
