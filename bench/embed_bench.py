"""The query embedder: all-MiniLM-L6-v2 run with numpy and with onnxruntime
(imlgit.minilm, imlgit.bert_onnx) beside the same model through
sentence-transformers (torch).

    python bench/embed_bench.py            # ~1 min

Prints, for each runtime: the import-and-load time in a new process, one-query
latency p50 / p99 at three query lengths (in tokens, [CLS] and [SEP] included),
batch throughput on 1,000 rule-like texts, and the largest difference between each
two runtimes' vectors. Beside each latency, numpy's floor: the encoder's matrix
products alone (6 layers x (4 x 384^2 + 2 x 384 x 1536) multiply-adds per token,
on 42 MB of weights) as numpy's BLAS runs them on this machine (onnxruntime's own
matrix kernels, on weights it packs once, run under it).
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time

import click
import numpy as np

from imlgit.embed import embedder_from
from imlgit.minilm import BertEncoder

LOAD = (
    "import time; t = time.perf_counter(); from imlgit.embed import embedder_from; "
    "e = embedder_from({{'runtime': {runtime!r}}}); e.embed(['warm']); "
    "print(time.perf_counter() - t)"
)


def queries(attributes: int, n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(f"a{i} is {rng.choice(['yes', 'no'])}" for i in rng.sample(range(10),
            attributes)) for _ in range(n)]  # fmt: skip


def latency(embed: object, texts: list[str]) -> tuple[float, float]:
    times = []
    for text in texts:
        t0 = time.perf_counter()
        embed([text])  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]


def gemm_floor_ms(tokens: int) -> float:
    """The encoder's matrix products for one query of ``tokens`` tokens, timed on six
    layers' worth of distinct matrices (42 MB, more than the caches hold, as in the
    model: a short query is bound by reading the weights, a long one by arithmetic)."""
    rng = np.random.default_rng(0)
    x = rng.random((tokens, 384), dtype=np.float32)
    h = rng.random((tokens, 1536), dtype=np.float32)
    layers = [[rng.random(s, dtype=np.float32) for s in ((384, 1152), (384, 384), (384, 1536),
               (1536, 384))] for _ in range(6)]  # fmt: skip
    best = float("inf")
    for _ in range(30):
        t0 = time.perf_counter()
        for qkv, att_out, inter, out in layers:
            x @ qkv
            x @ att_out
            x @ inter
            h @ out
        best = min(best, (time.perf_counter() - t0) * 1000)
    return best


@click.command(help=__doc__.split("\n")[0])
@click.option("--questions", type=int, default=200, show_default=True)
@click.option("--runtimes", default="numpy,onnxruntime,sentence-transformers", show_default=True)
def main(questions: int, runtimes: str) -> None:
    classes = ["KESTREL", "MORROW", "LUMEN", "VESPER"]
    texts = [f"rule {i}\nWhen a{i % 10} is yes and a{(i * 7) % 10} is no, the class is "
             f"{classes[i % 4]}." for i in range(1000)]  # fmt: skip
    vectors = {}
    for runtime in runtimes.split(","):
        out = subprocess.run([sys.executable, "-c", LOAD.format(runtime=runtime)],
                             capture_output=True, text=True, check=True)  # fmt: skip
        print(f"{runtime}: import and load in a new process {float(out.stdout):.2f} s")
        e = embedder_from({"runtime": runtime})
        e.embed(["warm"])
        tok = e._load if isinstance(e, BertEncoder) else None
        for attrs in (1, 3, 10):
            qs = queries(attrs, questions)
            if tok is not None:
                tokens = len(tok()[0].encode(qs[0]).ids)
            else:
                tokens = len(e._model().tokenizer(qs[0])["input_ids"])  # type: ignore[attr-defined]
            p50, p99 = latency(e.embed, qs)
            print(f"  one query, {tokens:>2} tokens: p50 {p50:.2f} ms  p99 {p99:.2f} ms  "
                  f"(numpy's matrix products alone: {gemm_floor_ms(tokens):.2f} ms)")  # fmt: skip
        t0 = time.perf_counter()
        vectors[runtime] = e.embed(texts)
        print(f"  batch: {len(texts) / (time.perf_counter() - t0):,.0f} texts/s")
    names = list(vectors)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = np.abs(vectors[a] - vectors[b]).max()
            print(f"largest difference between {a}'s and {b}'s vectors: {diff:.1e}")


if __name__ == "__main__":
    main()
