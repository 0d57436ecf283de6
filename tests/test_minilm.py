"""all-MiniLM-L6-v2 run with numpy (issue 17): the vectors sentence-transformers gives,
without importing torch. Both run the real packaged model here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import PERSON

from imlgit.embed import SentenceTransformerEmbedder, embedder_from, packaged_model_path
from imlgit.errors import EmbedderError
from imlgit.minilm import BertEncoder, _erf

TEXTS = [
    "",
    "a",
    "Wet roads double the braking distance.",
    "When glimmer is yes and tansy is no, the class is HALCYON.",
    "café naïve Straße 東京 😀 — quotes “like this”",
    "word " * 400,  # past the 256-token limit: truncated as sentence-transformers does
    "x" * 3000,
    "  spaced   out \n\t text  ",
    "The parcel arrived cracked; the customer wants a refund (order #4411).",
]


@pytest.mark.slow
def test_numpy_gives_the_vectors_sentence_transformers_gives() -> None:
    numpy_run = BertEncoder(packaged_model_path(), "all-MiniLM-L6-v2", batch_size=3)
    torch_run = SentenceTransformerEmbedder()
    a, b = numpy_run.embed(TEXTS), torch_run.embed(TEXTS)
    assert a.shape == b.shape == (len(TEXTS), 384) and a.dtype == np.float32
    assert np.abs(a - b).max() < 1e-4
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert numpy_run.identity == torch_run.identity  # an index built by one serves the other
    # one text alone is embedded as in a batch (padding changes nothing)
    assert np.abs(numpy_run.embed([TEXTS[3]])[0] - a[3]).max() < 1e-5


def test_erf_is_close_to_the_exact_one() -> None:
    import math

    xs = np.linspace(-6, 6, 2001, dtype=np.float32)
    exact = np.array([math.erf(float(x)) for x in xs])
    assert np.abs(_erf(xs.copy()) - exact).max() < 5e-7  # float32: 1.5e-7 plus rounding


@pytest.mark.slow
def test_recall_never_imports_torch(tmp_path: Path) -> None:
    """The cold start: retrieval with the default embedder loads numpy, tokenizers and
    safetensors, never torch, transformers or sentence-transformers."""
    from imlgit.store import Store

    Store.init(tmp_path / "m", author=PERSON)
    code = (
        "import sys\n"
        "from imlgit.cli import main\n"
        "try:\n"
        f"    main(['--repo', {str(tmp_path / 'm')!r}, 'recall', 'a rationale', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('torch', 'transformers', 'sentence_transformers', 'scipy', 'onnxruntime')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "[]", out.stdout + out.stderr
    hits = json.loads("\n".join(lines[:-1]))
    assert hits and hits[0]["id"] == "r-example-rationale"


def test_a_model_numpy_cannot_run_is_refused_or_left_to_torch(tmp_path: Path) -> None:
    import shutil

    model = tmp_path / "model"
    shutil.copytree(packaged_model_path(), model, ignore=shutil.ignore_patterns("*.safetensors"))
    pooling = model / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config["pooling_mode_mean_tokens"], config["pooling_mode_cls_token"] = False, True
    pooling.write_text(json.dumps(config))
    with pytest.raises(EmbedderError, match="not mean pooling"):
        embedder_from({"model": str(model), "runtime": "numpy"})
    assert isinstance(embedder_from({"model": str(model)}), SentenceTransformerEmbedder)
