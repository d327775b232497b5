"""Writes the `tiny` tokenizer goldens (Tests/Fixtures/tokenizer/goldens.json.zst) as lines the C text
test reads without a JSON parser: hex of the text's UTF-8, a tab, the ids comma-separated, a tab, hex of
the decoded text. Usage: python3 scripts/tokenizer-goldens-tsv.py OUT.tsv (needs the zstd command)."""
import json
import subprocess
import sys
from pathlib import Path

goldens = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "tokenizer" / "goldens.json.zst"
cases = json.loads(subprocess.run(["zstd", "-dc", str(goldens)], check=True, capture_output=True).stdout)["cases"]
with open(sys.argv[1], "w", encoding="ascii") as out:
    for c in cases:
        if "tiny" in c:
            text = c["text"].encode("utf-8").hex()
            decoded = c.get("tiny_text", c["text"]).encode("utf-8").hex()
            out.write(f"{text}\t{','.join(map(str, c['tiny']))}\t{decoded}\n")
