"""Every script in examples/ runs with ``--quick`` (tiny sizes) and draws its picture.

Each runs in its own subprocess, as a user would run it; the PNGs must be real,
non-blank images of the size the script asks matplotlib for.
"""

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")  # installed by `make` (the README's set-up commands)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# script -> (PNG it writes, (width, height) in pixels, a line its output must contain)
CASES = {
    "basic_self_attention": ("self_attention.png", (800, 360), "rows for the three 'a's are identical: True"),
    "attention_maps": ("attention_map.png", (500, 500), "exact match"),
    "char_gpt": ("gpt_loss.png", (600, 400), "--- sample ---"),
    "tcn_streaming": ("tcn_receptive_field.png", (700, 300), "max |diff| = 0"),
    "rnn_vs_lstm_vs_gru": ("rnn_lstm_gru.png", (700, 400), "gru:"),
    "classifier": ("classifier_pooling.png", (600, 400), "pooling=first"),
    "label2seq": ("label2seq.png", (600, 450), "digits right"),
    "word2vec_neighbours": ("word2vec_pca.png", (800, 600), "(center, context) pairs"),
    "bert_mlm": ("bert_mlm.png", (1000, 400), "fine-tuned from    scratch"),
}


def png_info(path: Path) -> tuple[int, int, bytes]:
    """(width, height, decompressed pixel rows) of a PNG."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, size = 8, b"", None
    while pos < len(raw):
        n, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        body = raw[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    return size[0], size[1], zlib.decompress(idat)


def test_every_example_is_listed():
    scripts = {p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_")}  # _common.py: shared helpers
    assert scripts == set(CASES)
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    for name, (png, _, _) in CASES.items():
        assert f"{name}.py" in readme and png in readme


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_runs_quick(name, tmp_path):
    png, (w, h), expect = CASES[name]
    r = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--quick", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert expect in r.stdout, r.stdout[-2000:]
    assert f"wrote {tmp_path / png}" in r.stdout
    width, height, pixels = png_info(tmp_path / png)
    assert (width, height) == (w, h)
    assert len(set(pixels[:: max(len(pixels) // 20000, 1)])) > 8  # not a blank canvas
