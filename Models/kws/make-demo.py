"""Writes the spoken-command demo (Models/kws/demo/commands.wav and commands.json) that `make demo` streams.

    /opt/bench-venv/bin/python Models/kws/make-demo.py

A sentence of keywords and other words, spoken word by word by espeak-ng in the voice variant m4, which
training never used (train-kws.py holds it out), joined by pauses over low noise — the same
composition as the held-out sentences train-kws.py evaluates on. Needs espeak-ng and sox.
"""

import importlib.util
import json
import os

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("train_kws", os.path.join(here, "train-kws.py"))
kws = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kws)

WORDS = ["go", "left", "please", "right", "up", "and", "stop"]
GAPS = [0.5, 0.6, 0.5, 0.6, 0.6, 0.5, 0.6]
x, spans = kws.sentence(WORDS, "en-gb-x-rp+m4", 160, 45, GAPS, seed=5)
out = os.path.join(here, "demo")
os.makedirs(out, exist_ok=True)
kws.write_wav(os.path.join(out, "commands.wav"), x)
with open(os.path.join(out, "commands.json"), "w") as f:
    json.dump({"voice": "en-gb-x-rp+m4", "speed": 160, "pitch": 45,
               "words": [{"word": w, "start": round(a, 3), "end": round(b, 3)} for w, a, b in spans]}, f, indent=1)
print(f"{len(x) / kws.RATE:.2f} s:", ", ".join(f"{w} {a:.2f}-{b:.2f}" for w, a, b in spans))
