#!/usr/bin/env python3
"""tokenizer_parity.py: `siglip tokenize` against transformers' tokenizers, id for id.

Trains small SentencePiece models (unigram and BPE) on a generated caption corpus, lays them out as Hugging Face
tokenizer folders (SiglipTokenizer: spiece.model; GemmaTokenizer and Siglip2Tokenizer: tokenizer.model, as in
SigLIP 2), then tokenises over a thousand strings (captions, punctuation, digits, accents, CJK, emoji, empty,
whitespace only, very long, mixed case) with transformers, called as SigLIP is:
    tokenizer(texts, padding="max_length", max_length=L, truncation=True)["input_ids"]
and with `siglip tokenize --tokenizer DIR --length L`, and compares the ids; SiglipTokenizer's canonicalize_text
is also compared with `siglip tokenize --canonical`, over the strings and over every Unicode code point.
Prints the counts; exit status 1 on any difference.
Run: .venv/bin/python scripts/tokenizer_parity.py [--siglip build-cpu/siglip] [--keep DIR]
"""
import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore", message="This sequence already has")  # SiglipTokenizer, eos typed in the text
import sentencepiece as spm  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

COLOURS = ["red", "blue", "green", "Yellow", "purple", "orange", "black", "white", "grey", "crimson", "teal"]
THINGS = ["cat", "dog", "T-shirt", "bicycle", "car", "tree", "house", "mountain", "river", "boat", "pizza", "robot",
          "guitar", "umbrella", "horse", "bird", "sandwich", "laptop", "chair", "flower"]
PLACES = ["in Paris", "at the beach", "on a table", "near Zürich", "in São Paulo", "in 東京", "in Москва", "à Montréal",
          "in Αθήνα", "in 서울", "under the sky", "in the snow", "at night", "in Kraków", "in Reykjavík"]
ADJ = ["small", "big", "old", "shiny", "wet", "happy", "naïve", "rusty", "tiny", "huge", "café-style", "Über-cool"]
EXTRA = ["🐱", "🚲", "🌧️", "👍🏽", "👨‍👩‍👧", "猫", "犬", "日本語", "中文", "ΣΟΦΙΑ", "Straße", "İstanbul", "ﬁne", "½",
         "①", "ＡＢＣ", "e\u0301", "ℌ", "Ⅻ", "!!!", "...", "(sic)", "#1", "$9.99", "50%", "3.14159", "2024-05-01"]


def caption(rng):
    words = ["a", rng.choice(ADJ), rng.choice(COLOURS), rng.choice(THINGS), rng.choice(PLACES)]
    if rng.random() < 0.4:
        words.insert(rng.randrange(len(words)), str(rng.randrange(0, 10000)))
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), rng.choice(EXTRA))
    text = " ".join(words) + rng.choice(["", ".", "!", "?", ",", " :)"])
    return text.upper() if rng.random() < 0.1 else text.capitalize() if rng.random() < 0.5 else text


def corpus(n, seed):
    rng = random.Random(seed)
    return [caption(rng) for _ in range(n)]


POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    " \t\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u2009\u2028\u2029\u202f\u3000",
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŸßĞğİıŁłŒœŠšŽž\u0301\u0308",
    "ΑΒΓΔΕΣσςΩαβγδεωΆάЖжЯяЁё",
    "猫犬日本語中文字東京北京한국어서울ひらがなカタカナ",
    "🐱🚲👍🏽👨\u200d👩\u200d👧🌧️🇫🇷😀✨",
    "▁_\u200b\ufeff\u00ad‐–—…“”‘’«»¿¡€£¥©®™°±×÷",
    "ﬁﬂ½①ＡＢＣ１２３ℌⅫ㎏",
]
SPECIAL_LITERALS = ["</s>", "<unk>", "<pad>", "<eos>", "<bos>", "<mask>"]
SPECIAL_VARIANTS = SPECIAL_LITERALS + ["</S>", "<UNK>", "<Pad>", "<EOS>", "</s", "<unk", "<pa", "s>", "unk>", "<eos",
                                       "< /s>", "</ s>", "<</s>>", "<s>", "</s>>", "<<unk>"]


def special_token_strings(n_random=300, seed=11):
    """Texts with special-token strings typed in: at the start, the end, adjacent, repeated, with punctuation,
    spaces and case changed, partial ones."""
    fixed = ["a photo </s> of", "</s>", "</s> a photo", "a photo</s>", "a</s>b", "</s></s>", "</s> </s>", "<unk>",
             "a <unk> b", "<unk></s>", "</s><unk>", " </s> ", "\t</s>\t", "\u3000</s>\xa0", "a photo of </S>",
             "A PHOTO </s> OF", "</s>.", ".</s>", "a, </s>! b", "<pad>", "a <pad> b", "<pad></s><pad>", "<eos>",
             "a <eos> b", "<eos><eos>", "x<eos>y", "<bos>a", "a<mask>b", "<mask> <mask>", "</s", "<unk", "a </s b",
             "</s></s", "<</s>>", "▁</s>", "▁ </s>", "</s>▁", "ΑΣ</s>ΑΣ", "Σ</s>", "a\x1c</s>\x1cb", "ǅ<EOS>ǅ",
             "<UNK> <Unk> <unk>", "🐱</s>🐶", "日本</s>語", "1</s>2</s>3", "</s>" * 40, "word </s> " * 30]
    rng = random.Random(seed)
    parts = SPECIAL_VARIANTS + ["a", "photo", "Cat", " ", "  ", "\t", ".", "!", ",", "-", "_", "▁", "ΑΣ", "猫", "🐱",
                                "\xa0", "x" * 5, "123"]
    return fixed + ["".join(rng.choice(parts) for _ in range(rng.randint(1, 12))) for _ in range(n_random)]


def test_strings(n_captions=400, n_random=300, seed=7, special_tokens=True):
    """The corpus; special_tokens=False leaves out every string with a special-token literal in it."""
    rng = random.Random(seed)
    fixed = ["", " ", "   ", "\t", " \t \r ", "\u3000", "\xa0\xa0", ".", "?!", "...", "___", "▁", "▁▁ ▁",
             "Hello, World!", "  A photo of a T-Shirt. ", "snake_case\tand\x0bvertical", "it's (really) \"quoted\" - ok?",
             "café ÜBER", "ΣΟΦΙΑ ΟΔΟΣ", "Σ", "aΣ", "ΑΣ.", "ΑΣ'Α", "İstanbul", "STRASSE Straße", "ǅemal ǈ", "ﬁne ﬂow",
             "日本語のテキスト", "东京 北京", "emoji 🐱🐶 only", "👨‍👩‍👧", "🇫🇷🇩🇪", "100", "3.14159", "1,000,000",
             "2024-05-01T12:00", "$9.99 + 50%", "a" * 300, "word " * 120, "MiXeD CaSe TeXt", "ALL CAPS",
             "x" * 64, " ".join(["supercalifragilistic"] * 30), "e\u0301 vs é", "Ⅻ ① ＡＢＣ ㎏"]
    strings = fixed + corpus(n_captions, seed + 1)
    for _ in range(n_random):
        length = rng.choice([1, 2, 5, 10, 30, 80, 400])
        pools = rng.sample(POOLS, rng.randint(1, 4))
        strings.append("".join(rng.choice(rng.choice(pools)) for _ in range(length)))
    if special_tokens:
        strings += special_token_strings()
    else:
        strings = [s for s in strings if not any(t in s for t in SPECIAL_LITERALS)]
    return [s for s in strings if "\n" not in s]


def train(kind, gemma, sentences, vocab_size):
    model = io.BytesIO()
    opts = dict(sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size, model_type=kind,
                hard_vocab_limit=False, character_coverage=0.995, num_threads=1, minloglevel=2)
    if gemma:  # as Gemma's tokenizer.model: no normalisation, no dummy prefix, byte fallback, split digits
        opts.update(pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
                    unk_piece="<unk>", user_defined_symbols=["<mask>"], byte_fallback=True,
                    normalization_rule_name="identity", add_dummy_prefix=False, remove_extra_whitespaces=False,
                    split_digits=True, allow_whitespace_only_pieces=True)
    else:  # as SigLIP's spiece.model (T5-like): nmt_nfkc, dummy prefix, pad 0, eos 1, unk 2
        opts.update(pad_id=0, eos_id=1, unk_id=2, bos_id=-1, pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>")
    spm.SentencePieceTrainer.train(**opts)
    return model.getvalue()


def write_folder(root, name, model_file, model, config):
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, model_file), "wb") as f:
        f.write(model)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return d


def gemma_decoder(model):
    """added_tokens_decoder of a Gemma folder: whitespace stripping around <mask> and <bos>, and "▁cat" as a
    normalised added token (matched after ' ' -> '▁', so on " cat")."""
    cat = spm.SentencePieceProcessor(model_proto=model).piece_to_id("▁cat")
    flags = dict(normalized=False, single_word=False, special=True, lstrip=False, rstrip=False)
    return {"0": dict(flags, content="<pad>"), "1": dict(flags, content="<eos>"),
            "2": dict(flags, content="<bos>", rstrip=True), "3": dict(flags, content="<unk>"),
            "4": dict(flags, content="<mask>", lstrip=True, rstrip=True),
            str(cat): dict(flags, content="▁cat", normalized=True, special=False)}


def siglip_lines(binary, folder, args, strings):
    data = ("\n".join(strings) + "\n").encode("utf-8")
    r = subprocess.run([binary, "tokenize", "--tokenizer", folder, *args], input=data, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"tokenizer_parity: siglip tokenize failed: {r.stderr.decode(errors='replace')}")
    lines = r.stdout.decode("utf-8").split("\n")[:-1]
    assert len(lines) == len(strings), (len(lines), len(strings))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--siglip", default="build-cpu/siglip")
    ap.add_argument("--keep", default="", help="write the tokenizer folders here (default: a temporary folder)")
    a = ap.parse_args()
    sentences = corpus(4000, seed=1)
    strings = test_strings()
    root = a.keep or tempfile.mkdtemp(prefix="tokenizer_parity_")
    siglip_config = {"tokenizer_class": "SiglipTokenizer", "do_lower_case": True, "model_max_length": 64,
                     "eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>"}
    gemma_config = {"tokenizer_class": "GemmaTokenizer", "add_bos_token": False, "add_eos_token": True,
                    "padding_side": "right", "pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>",
                    "unk_token": "<unk>", "mask_token": "<mask>", "model_max_length": 64}
    # SigLIP checkpoints on the Hub: eos and unk in added_tokens_decoder with lstrip / rstrip, as saved by
    # transformers; here also "<pad>" as an additional special token and "legacy": false.
    hub_decoder = {str(i): {"content": c, "lstrip": True, "rstrip": True, "normalized": False, "single_word": False,
                            "special": True} for i, c in ((1, "</s>"), (2, "<unk>"))}
    siglip_hub = dict(siglip_config, added_tokens_decoder=hub_decoder, additional_special_tokens=["<pad>"],
                      legacy=False)
    siglip_unigram = train("unigram", False, sentences, 1000)
    gemma_bpe = train("bpe", True, sentences, 1200)
    folders = [
        write_folder(root, "siglip-unigram", "spiece.model", siglip_unigram, dict(siglip_config, legacy=True)),
        write_folder(root, "siglip-hub-nonlegacy", "spiece.model", siglip_unigram, siglip_hub),
        write_folder(root, "siglip-bpe", "spiece.model", train("bpe", False, sentences, 1000), siglip_config),
        write_folder(root, "siglip-cased", "spiece.model", train("unigram", False, sentences, 800),
                     dict(siglip_config, do_lower_case=False)),
        write_folder(root, "gemma-bpe", "tokenizer.model", gemma_bpe, gemma_config),
        write_folder(root, "gemma-bpe-bos-left", "tokenizer.model", gemma_bpe,
                     dict(gemma_config, add_bos_token=True, padding_side="left")),
        write_folder(root, "gemma-added", "tokenizer.model", gemma_bpe,
                     dict(gemma_config, added_tokens_decoder=gemma_decoder(gemma_bpe), extra_special_tokens=["<unk>"])),
        write_folder(root, "siglip2-bpe", "tokenizer.model", gemma_bpe, dict(gemma_config, tokenizer_class="Siglip2Tokenizer")),
    ]
    # SigLIP 2 checkpoints on the Hub: tokenizer.json (its post-processor adds eos) next to tokenizer.model, and
    # config.json: model_type "siglip" loads GemmaTokenizer, "siglip2" Siglip2Tokenizer.
    for name, model_type in (("gemma-hub-siglip", "siglip"), ("gemma-hub-siglip2", "siglip2")):
        d = os.path.join(root, name)
        AutoTokenizer.from_pretrained(folders[4]).save_pretrained(d)
        with open(os.path.join(d, "tokenizer.model"), "wb") as f:
            f.write(gemma_bpe)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"model_type": model_type}, f)
        folders.append(d)
    print(f"tokenizer_parity: {len(strings)} strings, folders in {root}")
    failures = 0
    lower_cases_checked, classes_seen = set(), set()
    for folder in folders:
        tok = AutoTokenizer.from_pretrained(folder)
        first_of_class = type(tok).__name__ not in classes_seen
        classes_seen.add(type(tok).__name__)
        for length in (1, 16, 64):  # L=1 (everything truncated away) once per class
            if length < 2 and (getattr(tok, "add_bos_token", False) or not first_of_class):
                continue
            want = tok(strings, padding="max_length", max_length=length, truncation=True)["input_ids"]
            got = siglip_lines(a.siglip, folder, ["--length", str(length)], strings)
            same = sum(" ".join(map(str, w)) == g for w, g in zip(want, got))
            print(f"  {os.path.basename(folder):20s} {type(tok).__name__:17s} L={length:<3d} {same}/{len(strings)} identical")
            for s, w, g in [(s, w, g) for s, w, g in zip(strings, want, got) if " ".join(map(str, w)) != g][:3]:
                print(f"    {s!r}\n      transformers {w}\n      siglip       {g}")
            failures += len(strings) - same
        if hasattr(tok, "canonicalize_text"):
            # every code point once for each do_lower_case value; the strings for every folder
            points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and c != 10]
            every_point = tok.do_lower_case not in lower_cases_checked
            lower_cases_checked.add(tok.do_lower_case)
            texts = strings + (["".join(points[i:i + 64]) for i in range(0, len(points), 64)] if every_point else [])
            got = siglip_lines(a.siglip, folder, ["--canonical"], texts)
            same = sum(tok.canonicalize_text(s) == g for s, g in zip(texts, got))
            print(f"  {os.path.basename(folder):20s} canonicalize_text     {same}/{len(texts)} identical "
                  f"({len(strings)} strings{' + every code point' if every_point else ''})")
            for s, g in [(s, g) for s, g in zip(texts, got) if tok.canonicalize_text(s) != g][:3]:
                print(f"    {s!r}\n      transformers {tok.canonicalize_text(s)!r}\n      siglip       {g!r}")
            failures += len(texts) - same
    print(f"tokenizer_parity: {'OK' if failures == 0 else f'{failures} differences'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
