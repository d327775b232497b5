"""Makes the tokenizer goldens: two byte-level BPE tokenizers trained with Hugging Face `tokenizers`
on the Python standard library's source, and the ids and text that package gives for ~2,500 strings.

    /opt/bench-venv/bin/python Tests/Fixtures/tokenizer/make.py   # needs: pip install tokenizers

Not run by CI; the outputs are committed. `gpt2-style.json` is GPT-2's pipeline (no normalizer, no
prefix space); `neox-style.json` is GPT-NeoX/Pythia's (NFC, added whitespace tokens, two specials);
`prefix-space.json` adds a prefix space (checked on the first strings only; its decoded text keeps
the space, as the package's ByteLevel decoder does). Swiftlet must give identical ids and text (Tests/SwiftletTests/TokenizerTests.swift).
"""
import json
import os
import random
import sysconfig
import unicodedata
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = Path(__file__).resolve().parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])
files = sorted(p for p in STDLIB.glob("*.py"))
train_files = [str(p) for i, p in enumerate(files) if i % 4 != 0]
held_out = [p for i, p in enumerate(files) if i % 4 == 0]


def train(vocab_size: int, nfc: bool, prefix_space: bool) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=prefix_space)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"], show_progress=False)
    tok.train(train_files, trainer)
    return tok


gpt2 = train(1024, nfc=False, prefix_space=False)
neox = train(768, nfc=True, prefix_space=False)
prefixed = train(300, nfc=False, prefix_space=True)
# A 100-token tokenizer for the test LoopFormer (vocabulary 101; the MemoryFormer's 97 is too few): no full byte
# alphabet, so bytes it never saw are dropped, as the package drops them.
tiny = Tokenizer(models.BPE())
tiny.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tiny.decoder = decoders.ByteLevel()
tiny.train(train_files[:20], trainers.BpeTrainer(vocab_size=100, special_tokens=["<|endoftext|>"], show_progress=False))
neox.add_special_tokens([AddedToken("<|padding|>", normalized=False)])
neox.add_tokens([AddedToken(" " * n, normalized=True) for n in (2, 4, 8)] +
                [AddedToken("\t\t", normalized=True), AddedToken("Å", normalized=True)])
gpt2.save(str(HERE / "gpt2-style.json"))
# ignore_merges (Llama-3 style): a word the vocabulary holds whole is one token. The last 200 merges
# are dropped so that it matters (their tokens stay in the vocabulary, reachable only whole); the
# goldens store its ids only where they differ from gpt2-style's.
whole_json = json.loads(gpt2.to_str())
whole_json["model"]["ignore_merges"] = True
whole_json["model"]["merges"] = whole_json["model"]["merges"][:-200]
whole = Tokenizer.from_str(json.dumps(whole_json))
whole.save(str(HERE / "ignore-merges.json"))
neox.save(str(HERE / "neox-style.json"))
prefixed.save(str(HERE / "prefix-space.json"))
tiny.save(str(HERE / "tiny.json"))

rng = random.Random(20261202)
strings: list[str] = []
# Lines and short blocks of held-out source (code, comments, docstrings, whitespace runs).
for path in held_out:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    for _ in range(8):
        if not lines:
            break
        i = rng.randrange(len(lines))
        strings.append("".join(lines[i:i + rng.choice([1, 1, 2])])[:200])
# Written by hand: contractions, numbers, whitespace of every kind, scripts, marks, emoji, specials.
strings += [
    "", " ", "  ", "\n", "\n\n\n", "\t", " \t\n ", "a", "Hello world", " Hello  world ", "Hello world\n",
    "I'm sure they'll say it's theirs, we'd've known; YOU'LL SEE'S", "'s'S 't 're 've 'm 'll 'd '", "f'rounds={r}' 'ro 'va 'vex 'li 'lo 'r 'v 'l 're'll've",
    "x = 1_000_000 + 3.14159e-10 - 0x1F", "2026-12-02 17:16:37 UTC", "٣٤٥ ๑๒๓ ⅣⅫ ½ ² ①",
    "def f(a, *args, **kw):\n    return a  # comment\n", "\u00a0nbsp\u00a0 \u2003em\u3000ideo\u0085nel\u2028ls",
    "zero\u200bwidth joiner\u200d", "e\u0301 \u212b A\u030a \u1100\u1161\u11a8 ﬁ ℌ", "Ünïcödé façade naïve",
    "日本語のテキストと漢字", "한국어 텍스트", "Русский текст, ещё", "Ελληνικά", "עברית טקסט", "العربية نص",
    "हिन्दी पाठ", "ไทย ข้อความ", "🙂🙃 👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇫🇷", "emoji🙂inside", "<|endoftext|>",
    "text<|endoftext|>more", " <|endoftext|> ", "<|padding|><|endoftext|><|endoftext|>", "<|endoftext",
    "Å and Å and Å", "a\t\tb\t\t\tc", "a  b    c        d", "        indented\n    less", "\r\n\r\n",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛", "\U0001F600" * 5, "ℝ⊂ℂ ∀x∃y", "<<>> ==!= ->", "....,,,;;;", "$$$ 100% #1 @me",
]
# Random strings from a mix of alphabets and whitespace.
pools = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789", " ", "  \t\n", ".,;:!?'\"()[]{}<>-_=+*/\\|@#$%^&~`",
    "éèêëàâäôöûüçñÅåß", "αβγδεζηθλμπσω", "абвгдежзийклмн", "的一是不了人我在有他这", "ぁあいうえおかきくけこ",
    "\u0301\u0308\u0327", "🙂🙃👍🏽👩‍💻🚀", "\u00a0\u2003\u3000\u200b\u0085", "<|endoftext|>",
]
hand_written = len(strings)
while len(strings) < 2100:
    n = rng.randint(1, 40)
    strings.append("".join(rng.choice(rng.choice(pools)) for _ in range(n)))

cases = []
for s in strings:
    a = gpt2.encode(s, add_special_tokens=False).ids
    b = neox.encode(s, add_special_tokens=False).ids
    case = {"text": s, "gpt2": a, "neox": b}
    w = whole.encode(s, add_special_tokens=False).ids
    if w != a:
        case["whole"] = w
    # Decoded text, written only where it is not the input (`_text`) or not `_text` (`_skip`: special
    # tokens skipped), to keep the file small.
    for name, tok, ids in (("gpt2", gpt2, a), ("neox", neox, b)):
        text = tok.decode(ids, skip_special_tokens=False)
        skip = tok.decode(ids, skip_special_tokens=True)
        if text != s:
            case[name + "_text"] = text
        if skip != text:
            case[name + "_skip"] = skip
    if len(cases) < hand_written + 200:  # the prefix-space and tiny tokenizers on a few hundred strings
        # GPT-2's split into words (in the byte-level alphabet), checked before any merge.
        case["words"] = [w for w, _ in gpt2.pre_tokenizer.pre_tokenize_str(s)]
        case["tiny"] = tiny.encode(s, add_special_tokens=False).ids
        tiny_text = tiny.decode(case["tiny"], skip_special_tokens=False)
        if tiny_text != s:
            case["tiny_text"] = tiny_text
        if tiny.decode(case["tiny"], skip_special_tokens=True) != tiny_text:
            case["tiny_skip"] = tiny.decode(case["tiny"], skip_special_tokens=True)
        c = prefixed.encode(s, add_special_tokens=False).ids
        case["prefix"] = c
        text = prefixed.decode(c, skip_special_tokens=False)
        skip = prefixed.decode(c, skip_special_tokens=True)
        if text != " " + s:
            case["prefix_text"] = text
        if skip != text:
            case["prefix_skip"] = skip
    cases.append(case)
# Random id sequences: tokens that split UTF-8 characters, decoded as the package does (U+FFFD).
random_ids = []
for _ in range(300):
    a = [rng.randrange(gpt2.get_vocab_size()) for _ in range(rng.randint(1, 12))]
    b = [rng.randrange(neox.get_vocab_size()) for _ in range(rng.randint(1, 12))]
    random_ids.append({"gpt2": a, "gpt2_text": gpt2.decode(a, skip_special_tokens=False),
                       "neox": b, "neox_text": neox.decode(b, skip_special_tokens=False)})

import tokenizers
with open(HERE / "goldens.json", "w", encoding="utf-8") as f:  # compressed below
    json.dump({"tokenizers_version": tokenizers.__version__, "cases": cases, "random_ids": random_ids},
              f, ensure_ascii=False, separators=(",", ":"))
print(len(cases), "strings,", len(random_ids), "id sequences;", os.path.getsize(HERE / "goldens.json"), "bytes")
import subprocess
subprocess.run(["zstd", "-19", "-q", "-f", "--rm", str(HERE / "goldens.json")], check=True)
