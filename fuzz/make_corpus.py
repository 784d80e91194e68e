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
import tarfile
import tempfile
import zlib

import numpy as np
import sentencepiece as spm
import torch
from PIL import Image
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


# ---- The data readers: shards, images, caption files ------------------------------------------------------------

def picture(size=(16, 16), mode="RGB"):
    """A small deterministic picture: gradients, so that every block has detail."""
    w, h = size
    x = np.arange(w)[None, :].repeat(h, 0)
    y = np.arange(h)[:, None].repeat(w, 1)
    rgb = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x ^ y) * 16 % 256], -1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB").convert(mode) if mode != "RGB" else Image.fromarray(rgb, "RGB")


def encoded(image, fmt, **options):
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def tar_bytes(members, fmt=tarfile.USTAR_FORMAT, compression=""):
    """A tar file of (name, bytes) members (None: a directory), mode 0644, time 0, as webdataset writes them."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:" + compression, format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    data = out.getvalue()
    if compression == "":  # tarfile pads to 10 KiB: keep the members and the two zero blocks that end the archive
        end = len(data.rstrip(b"\0"))
        data = data[:(end + 511) // 512 * 512 + 1024]
    return data


def tar_corpus():
    t = "fuzz_tar"
    jpg = encoded(picture((8, 8)), "JPEG", quality=50)
    png = encoded(picture((4, 4), "RGBA"), "PNG")
    good = [("0001.jpg", jpg), ("0001.txt", b"a photo of a cat\n"),
            ("0002.png", png), ("0002.json", json.dumps({"caption": " a red square ", "label": "square"}).encode()),
            ("0003.jpeg", jpg), ("0003.txt", b"two dogs"), ("0003.cls", b"3\n")]
    good_tar = tar_bytes(good)
    put(t, "good", good_tar)
    put(t, "good_gnu", tar_bytes(good, tarfile.GNU_FORMAT))
    put(t, "good_gz", tar_bytes(good, compression="gz"))
    put(t, "good_bz2", tar_bytes(good, compression="bz2"))
    put(t, "good_xz", tar_bytes(good, compression="xz"))
    long_dir = "images/" + "d" * 120 + "/"
    put(t, "pax_long_names", tar_bytes([(long_dir, None), (long_dir + "0001.jpg", jpg),
                                        (long_dir + "0001.txt", "a café in Zürich".encode())], tarfile.PAX_FORMAT))
    put(t, "json_fields", tar_bytes([("a/1.png", png), ("a/1.json", b'{"text": "from text", "label": 7}'),
                                     ("a/2.png", png), ("a/2.json", b'{"caption": "x", "label": 1.5}'),
                                     ("a/3.png", png), ("a/3.json", b'["not", "an", "object"]'),
                                     ("a/4.png", png), ("a/4.json", b'{"caption": "", "text": "fallback"}')]))
    put(t, "no_caption", tar_bytes([("k1.jpg", jpg), ("k2.jpg", jpg), ("k2.txt", b"   ")]))
    put(t, "no_image", tar_bytes([("k1.txt", b"caption only"), ("k2.webp", b"RIFF\0\0\0\0WEBP"),
                                  ("k2.txt", b"webp")]))
    put(t, "other_members", tar_bytes([("dir", None), ("dir/README", b"no extension"), ("dir/s.1.mp4", b"\0" * 10),
                                       ("dir/s.1.jpg", jpg), ("dir/s.1.txt", b"nested key"), ("dir/.txt", b"empty key"),
                                       ("x.npy", b"\x93NUMPY")]))
    put(t, "duplicate_member", tar_bytes([("d.jpg", jpg), ("d.txt", b"one"), ("d.txt", b"two"), ("d.cls", b"")]))
    put(t, "bad_truncated_member", good_tar[:512 + 300])
    put(t, "bad_truncated_header", good_tar[:512 * 3 + 100])
    put(t, "bad_checksum", good_tar[:148] + b"0000000\0" + good_tar[156:])
    put(t, "bad_huge_size", good_tar[:124] + b"77777777777\0" + good_tar[136:])
    put(t, "empty_archive", b"\0" * 1024)


def jpeg_corpus():
    t = "fuzz_jpeg"
    img = picture((19, 13))
    put(t, "rgb_444", encoded(img, "JPEG", quality=90, subsampling=0))
    put(t, "rgb_422", encoded(img, "JPEG", quality=75, subsampling=1))
    put(t, "rgb_420", encoded(img, "JPEG", quality=60, subsampling=2))
    put(t, "rgb_420_large", encoded(picture((67, 45)), "JPEG", quality=40))
    put(t, "progressive", encoded(img, "JPEG", quality=80, progressive=True))
    put(t, "optimized", encoded(img, "JPEG", quality=80, optimize=True))
    put(t, "grey", encoded(picture((17, 9), "L"), "JPEG", quality=85))
    put(t, "grey_progressive", encoded(picture((9, 17), "L"), "JPEG", progressive=True))
    put(t, "cmyk", encoded(picture((11, 7), "CMYK"), "JPEG", quality=85))
    put(t, "one_pixel", encoded(picture((1, 1)), "JPEG"))
    put(t, "exif_dpi", encoded(img, "JPEG", dpi=(300, 300), exif=b"Exif\0\0MM\0*\0\0\0\x08\0\0"))
    put(t, "restart_markers", encoded(img, "JPEG", quality=70, restart_marker_blocks=1))
    good = encoded(img, "JPEG", quality=75)
    put(t, "bad_truncated", good[: len(good) * 2 // 3])
    put(t, "bad_header_only", good[:200])
    scan = good.index(b"\xff\xda")
    put(t, "bad_corrupt_scan", good[: scan + 40] + bytes(b ^ 0x5A for b in good[scan + 40: scan + 80]) + good[scan + 80:])
    sof = good.index(b"\xff\xc0")
    put(t, "bad_huge_size", good[: sof + 5] + b"\xff\xf0\xff\xf0" + good[sof + 9:])


def png_corpus():
    t = "fuzz_png"
    put(t, "rgb", encoded(picture((7, 5)), "PNG"))
    put(t, "rgba", encoded(picture((5, 7), "RGBA"), "PNG"))
    put(t, "grey", encoded(picture((6, 6), "L"), "PNG"))
    put(t, "grey_alpha", encoded(picture((6, 3), "LA"), "PNG"))
    put(t, "bilevel", encoded(picture((9, 4), "1"), "PNG"))
    put(t, "palette", encoded(picture((8, 8), "P"), "PNG"))
    pal = picture((8, 8), "P")
    pal.info["transparency"] = 0
    put(t, "palette_trns", encoded(pal, "PNG", transparency=0))
    put(t, "grey16", encoded(Image.fromarray((np.arange(30, dtype=np.uint16) * 2000).reshape(5, 6)), "PNG"))
    put(t, "rgb48", rgb48_png())
    put(t, "bmp", encoded(picture((5, 3)), "BMP"))
    put(t, "gif", encoded(picture((6, 4), "P"), "GIF"))
    put(t, "tga", encoded(picture((4, 4)), "TGA"))
    put(t, "ppm", encoded(picture((3, 2)), "PPM"))
    put(t, "pgm", encoded(picture((3, 2), "L"), "PPM"))
    good = encoded(picture((7, 5)), "PNG")
    put(t, "bad_truncated", good[: len(good) // 2])
    put(t, "bad_crc", good[:29] + b"\0\0\0\0" + good[33:])
    put(t, "bad_huge_size", good[:16] + struct.pack(">II", 30000, 30000) + good[24:])
    put(t, "hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n" + bytes([128, 64, 32, 129] * 4))
    put(t, "psd_header", b"8BPS\0\x01" + b"\0" * 6 + b"\0\x03\0\0\0\x02\0\0\0\x02\0\x08\0\x03"
        + b"\0" * 12 + b"\0\0" + bytes(12))


def rgb48_png():
    """A 16-bit RGB PNG written by hand (Pillow writes 16-bit only for grey)."""
    w, h = 3, 2
    rows = b"".join(b"\0" + b"".join(struct.pack(">HHH", 20000 * x, 30000 * y, 1000) for x in range(w)) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def captions_corpus():
    t = "fuzz_captions"  # first byte: 0 .tsv, 1 .jsonl
    put(t, "tsv_header_labels", b"\0" + "image\tcaption\tlabel\nimg/0001.jpg\ta photo of a cat\tcat\n"
        "img/0002.png\ta dog on grass\tdog\n/abs/0003.jpg\t  spaced caption  \t\n".encode())
    put(t, "tsv_comments_crlf", b"\0" + "\ufeff# made by hand\r\n\r\na.jpg\tüber café\r\n  # indented comment\r\n"
        "b.jpg\tline two\r\n".encode())
    put(t, "tsv_no_header", b"\0x.png\tImage\ny.png\tcaption\tlabel\n")
    put(t, "bad_tsv_fields", b"\0a.jpg\tone\nb.jpg only\n")
    put(t, "bad_tsv_four_fields", b"\0a.jpg\tcap\tlab\textra\n")
    put(t, "bad_tsv_empty", b"\0\t caption\n")
    put(t, "jsonl_labels", b"\x01" + "\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"image": "img/1.jpg", "caption": "a cat", "label": "cat"},
        {"image": "img/2.jpg", "caption": "a dog\twith\ttabs", "label": 3},
        {"image": "/data/3.png", "caption": "línea\nnueva", "label": None},
        {"image": "4.png", "caption": "no label", "extra": [1, {"x": 2}]}]).encode() + b"\n")
    put(t, "jsonl_crlf_bom", b"\x01\xef\xbb\xbf" + b'{"image": "a.jpg", "caption": "x"}\r\n\r\n{"caption": "y", "image": "b"}')
    put(t, "bad_jsonl_syntax", b'\x01{"image": "a.jpg", "caption": "x"\n')
    put(t, "bad_jsonl_types", b'\x01{"image": 5, "caption": "x"}\n')
    put(t, "bad_jsonl_label", b'\x01{"image": "a", "caption": "x", "label": 1.5}\n')
    put(t, "bad_jsonl_array", b"\x01[1, 2]\n")


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
    sets["fuzz_captions"] = ['"\\x00"', '"\\x01"', '"\\x09"', '"\\x0d\\x0a"', '"#"', '"image"', '"caption"',
                             '"label"', '"image\\x09caption\\x09label"', '"\\xef\\xbb\\xbf"', '"/"', '".jpg"']
    # Binary formats: their magic numbers and markers, without the JSON tokens.
    binary = {
        "fuzz_tar": ['"ustar\\x0000"', '"ustar  \\x00"', '"././@LongLink"', '"path="', '"size="', '"linkpath="',
                     '"00000000000"', '"0000644\\x00"', '"77777777777"', '"\\x80\\x00\\x00\\x00"',
                     '".jpg"', '".jpeg"', '".png"', '".webp"', '".txt"', '".json"', '".cls"', '".mp4"', '"/"',
                     '"\\"caption\\""', '"\\"text\\""', '"\\"label\\""', '"\\x1f\\x8b\\x08"', '"BZh9"',
                     '"\\xfd7zXZ\\x00"', '"\\x28\\xb5\\x2f\\xfd"'],
        "fuzz_jpeg": ['"\\xff\\xd8\\xff"', '"\\xff\\xd9"', '"\\xff\\xc0"', '"\\xff\\xc1"', '"\\xff\\xc2"',
                      '"\\xff\\xc4"', '"\\xff\\xc9"', '"\\xff\\xcc"', '"\\xff\\xda"', '"\\xff\\xdb"',
                      '"\\xff\\xdd"', '"\\xff\\xd0"', '"\\xff\\xe0"', '"\\xff\\xe1"', '"\\xff\\xe2"',
                      '"\\xff\\xee"', '"\\xff\\xfe"', '"JFIF\\x00"', '"Adobe"', '"Exif\\x00\\x00"',
                      '"ICC_PROFILE\\x00"', '"\\x01\\x11\\x00"', '"\\x02\\x11\\x01"', '"\\x03\\x11\\x01"',
                      '"\\x04"', '"\\xff\\xff"'],
        "fuzz_png": ['"\\x89PNG\\x0d\\x0a\\x1a\\x0a"', '"IHDR"', '"PLTE"', '"tRNS"', '"IDAT"', '"IEND"', '"CgBI"',
                     '"\\x08\\x06"', '"\\x10\\x02"', '"\\x01\\x03"', '"\\x78\\x9c"', '"BM"', '"GIF89a"',
                     '"GIF87a"', '"NETSCAPE2.0"', '"8BPS"', '"P6\\x0a"', '"P5\\x0a"', '"255\\x0a"', '"65535"',
                     '"#?RADIANCE\\x0a"', '"FORMAT=32-bit_rle_rgbe"', '"-Y "', '" +X "',
                     '"\\x53\\x80\\xf6\\x34"', '"PICT"', '"\\xff\\xff\\xff\\x7f"'],
    }
    for target, words in list(sets.items()) + list(binary.items()):
        with open(f"fuzz/dict/{target}.dict", "w") as f:
            f.write(f"# {target}: {'magic numbers and markers' if target in binary else 'keys and values'} its inputs use"
                    " (libFuzzer -dict=)\n")
            f.write("\n".join(words + ([] if target in binary else common)) + "\n")


GENERATORS = {
    "fuzz_safetensors": lambda checkpoints: safetensors_corpus(),
    "fuzz_config": config_corpus,
    "fuzz_shard_index": lambda checkpoints: shard_index_corpus(),
    "fuzz_tokenizer": tokenizer_corpus,
    "fuzz_tar": lambda checkpoints: tar_corpus(),
    "fuzz_jpeg": lambda checkpoints: jpeg_corpus(),
    "fuzz_png": lambda checkpoints: png_corpus(),
    "fuzz_captions": lambda checkpoints: captions_corpus(),
}


def clear(target):
    """Removes a target's seeds, keeping the inputs that once crashed a reader (crash_*: hand-copied findings)."""
    folder = f"{ROOT}/{target}"
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if not name.startswith("crash_"):
                os.remove(f"{folder}/{name}")


if __name__ == "__main__":
    args = sys.argv[1:]
    only = None
    if args and args[0].startswith("--only="):  # --only=fuzz_tar,fuzz_png: regenerate these targets' seeds only
        only = args.pop(0)[len("--only="):].split(",")
    checkpoints = args
    torch.manual_seed(0)
    for target, generate in GENERATORS.items():
        if only is None or target in only:
            clear(target)
            generate(checkpoints)
    dictionaries()
