"""RuleIndex: incremental sync, the embedding cache, filters, repair, concurrency, HNSW, the past.

Everything runs with the HashEmbedder from fakes; the real model is in test_embed.py.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest
from fakes import HashEmbedder

from imlgit.errors import IndexError_
from imlgit.index import (
    RuleDoc,
    RuleEntry,
    RuleIndex,
    rule_text,
)

WORDS = (
    "apple banana cherry delta echo falcon garnet harbor iris juniper kettle lantern meadow "
    "nickel orchid pepper quartz raven saffron tundra umber violet walnut xenon yarrow zephyr "
    "amber birch cobalt dune ember fjord glacier heron indigo jasper kelp lagoon marble "
    "nectar opal pine quill reef sage thistle"
).split()


def make_doc(n: int, scope: str = "general", status: str = "active", version: int = 0) -> RuleDoc:
    rng = np.random.default_rng(n * 1000 + version)
    words = [WORDS[i] for i in rng.choice(len(WORDS), size=6, replace=False)]
    return RuleDoc(
        title=f"rule {n} about {words[0]}",
        statement=" ".join(words) + f" version {version}",
        scope=scope,
        status=status,
        tags=(f"t{n % 3}",),
    )


def blob(doc: RuleDoc) -> str:
    return hashlib.sha1(repr(doc).encode()).hexdigest()


class Loader:
    """The git layer's parser, recorded: which ids it was asked for."""

    def __init__(self, docs: Mapping[str, RuleDoc]) -> None:
        self.docs = dict(docs)
        self.asked: list[list[str]] = []

    def __call__(self, rule_ids: list[str]) -> dict[str, RuleDoc]:
        self.asked.append(sorted(rule_ids))
        return {rid: self.docs[rid] for rid in rule_ids if rid in self.docs}


def state(docs: Mapping[str, RuleDoc]) -> tuple[dict[str, RuleEntry], Loader]:
    return {rid: RuleEntry(blob(d)) for rid, d in docs.items()}, Loader(docs)


def memory(count: int, **kw: object) -> dict[str, RuleDoc]:
    return {f"r{i:04d}": make_doc(i, **kw) for i in range(count)}  # type: ignore[arg-type]


def text_of(doc: RuleDoc) -> str:
    return rule_text(doc.title, doc.statement, doc.scope, doc.tags)


def ids(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.rule_id for h in hits]


def rebuilt(caplog: pytest.LogCaptureFixture, match: str = "") -> list[str]:
    """The index's repair warnings logged so far (on the "imlgit" logger), then forgotten."""
    found = [
        r.getMessage() for r in caplog.records
        if r.name == "imlgit" and r.levelno == logging.WARNING and match in r.getMessage()
    ]
    caplog.clear()
    return found


@pytest.fixture
def emb() -> HashEmbedder:
    return HashEmbedder()


def test_rule_text_is_title_statement_scope_tags() -> None:
    text = rule_text("  A  title ", "The   statement.\n", "billing", ("x", "y"))
    assert text == "A title\nThe statement.\nscope: billing\ntags: x, y"
    assert rule_text("T", "S", "general") == "T\nS\nscope: general"


def test_sync_adds_changes_and_removes(tmp_path: Path, emb: HashEmbedder) -> None:
    docs = memory(5)
    index = RuleIndex.open(tmp_path / "ix", emb)
    assert index.commit is None and len(index) == 0 and index.search("anything") == []
    entries, load = state(docs)
    stats = index.sync("c1", entries, load)
    assert (stats.added, stats.changed, stats.removed, stats.embedded) == (5, 0, 0, 5)
    assert index.commit == "c1" and len(index) == 5
    assert ids(index.search(text_of(docs["r0002"]), k=1)) == ["r0002"]

    docs2 = dict(docs)
    docs2["r0001"] = make_doc(1, version=1)
    del docs2["r0003"]
    docs2["r0009"] = make_doc(9)
    entries2, load2 = state(docs2)
    stats = index.sync("c2", entries2, load2)
    assert (stats.added, stats.changed, stats.removed, stats.embedded) == (1, 1, 1, 2)
    assert load2.asked == [["r0001", "r0009"]]  # only what changed is parsed
    hits = index.search(text_of(docs2["r0001"]), k=10)
    assert ids(hits)[0] == "r0001" and "r0003" not in ids(hits) and len(hits) == 5
    assert hits == sorted(hits, key=lambda h: -h.score)

    index.close()
    again = RuleIndex.open(tmp_path / "ix", emb)
    assert again.commit == "c2"
    assert {rid: r.blob for rid, r in again.mapping().items()} == {
        rid: e.blob for rid, e in entries2.items()
    }
    assert ids(again.search(text_of(docs2["r0009"]), k=1)) == ["r0009"]
    # Nothing changed: nothing to do.
    assert again.sync("c2", entries2, load2).embedded == 0 and len(load2.asked) == 1


def test_rollback_to_old_content_embeds_and_parses_nothing(tmp_path: Path, emb: HashEmbedder):
    docs = memory(4)
    index = RuleIndex.open(tmp_path, emb)
    index.sync("c1", *state(docs))
    changed = dict(docs, r0000=make_doc(0, version=7))
    index.sync("c2", *state(changed))
    before = emb.texts_embedded
    entries, load = state(docs)
    stats = index.sync("c3", entries, load)
    assert (stats.changed, stats.embedded, stats.cache_hits) == (1, 0, 1)
    assert emb.texts_embedded == before and load.asked == []
    assert ids(index.search(text_of(docs["r0000"]), k=1)) == ["r0000"]


def test_scope_and_tag_filters_return_k_when_k_match(tmp_path: Path, emb: HashEmbedder) -> None:
    docs = {**memory(40, scope="alpha"), **{f"b{i}": make_doc(100 + i, "beta") for i in range(5)}}
    index = RuleIndex.open(tmp_path, emb)
    index.sync("c1", *state(docs))
    query = text_of(docs["r0003"])
    beta = index.search(query, k=8, scope="beta")
    assert len(beta) == 5 and all(h.rule_id.startswith("b") for h in beta)
    alpha = index.search(query, k=8, scope="alpha")
    assert len(alpha) == 8 and alpha[0].rule_id == "r0003"
    tagged = index.search(query, k=50, tags=["t1"])
    assert {h.rule_id for h in tagged} == {rid for rid, d in docs.items() if "t1" in d.tags}
    assert index.search(query, scope="alpha", tags="t1")[0].rule_id.startswith("r")
    assert index.search(query, scope="nowhere") == []
    many = index.search_many([query, text_of(docs["b2"])], k=3, scope="beta")
    assert [len(m) for m in many] == [3, 3] and many[1][0].rule_id == "b2"


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [200_000, 100], ids=["flat", "hnsw"])
def test_large_filter_goes_through_a_faiss_selector(
    tmp_path: Path, emb: HashEmbedder, threshold: int
) -> None:
    docs = {f"a{i}": make_doc(i, "big") for i in range(2600)}
    docs.update({f"s{i}": make_doc(5000 + i, "small") for i in range(300)})
    index = RuleIndex.open(tmp_path, emb, hnsw_threshold=threshold)
    index.sync("c1", *state(docs))
    hits = index.search(text_of(docs["a77"]), k=8, scope="big")
    assert len(hits) == 8 and hits[0].rule_id == "a77"
    assert all(h.rule_id.startswith("a") for h in hits)
    small = index.search_many([text_of(docs["a1"]), text_of(docs["s5"])], k=8, scope="small")
    assert all(len(h) == 8 and h[0].rule_id.startswith("s") for h in small)


def test_retired_rules_are_indexed_but_never_returned(tmp_path: Path, emb: HashEmbedder) -> None:
    docs = memory(6)
    docs["r0002"] = make_doc(2, status="retired")
    index = RuleIndex.open(tmp_path, emb)
    stats = index.sync("c1", *state(docs))
    assert stats.embedded == 5  # a retired rule needs no vector
    assert index.mapping()["r0002"].status == "retired" and len(index) == 5
    assert "r0002" not in ids(index.search(text_of(docs["r0002"]), k=10))
    retire = dict(docs, r0004=make_doc(4, status="retired"))
    index.sync("c2", *state(retire))
    assert "r0004" not in ids(index.search(text_of(docs["r0004"]), k=10))
    assert len(index.search("rule", k=10)) == 4


def test_loader_leaving_a_rule_out_raises_and_changes_nothing(tmp_path: Path, emb: HashEmbedder):
    docs = memory(3)
    index = RuleIndex.open(tmp_path, emb)
    index.sync("c1", *state(docs))
    entries, _ = state({**docs, "r0099": make_doc(99)})
    with pytest.raises(IndexError_, match="r0099"):
        index.sync("c2", entries, Loader(docs))
    assert index.commit == "c1" and RuleIndex.open(tmp_path, emb).commit == "c1"


def test_query_vectors_and_batches(tmp_path: Path, emb: HashEmbedder) -> None:
    docs = memory(20)
    index = RuleIndex.open(tmp_path, emb)
    index.sync("c1", *state(docs))
    vectors = emb.embed([text_of(docs["r0005"]), text_of(docs["r0011"])])
    assert ids(index.search(vectors[0], k=1)) == ["r0005"]
    batch = index.search_many(vectors, k=4)
    assert [b[0].rule_id for b in batch] == ["r0005", "r0011"] and all(len(b) == 4 for b in batch)
    assert index.search_many([], k=4) == [] and index.search("x", k=0) == []


def test_corrupt_snapshot_is_rebuilt_from_the_cache(
    tmp_path: Path, emb: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    docs = memory(10)
    RuleIndex.open(tmp_path, emb).sync("c1", *state(docs))
    (snapshot,) = tmp_path.glob("faiss-*.index")
    snapshot.write_bytes(b"not a faiss index at all")
    fresh = HashEmbedder()
    index = RuleIndex.open(tmp_path, fresh)
    assert rebuilt(caplog, "unreadable")
    assert fresh.calls == [] and index.commit == "c1"
    assert ids(index.search(text_of(docs["r0007"]), k=1)) == ["r0007"]
    assert len(RuleIndex.open(tmp_path, fresh)) == 10
    assert rebuilt(caplog) == []  # repaired on the spot: the next open is silent


def test_missing_snapshot_is_rebuilt(
    tmp_path: Path, emb: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    docs = memory(4)
    RuleIndex.open(tmp_path, emb).sync("c1", *state(docs))
    for path in tmp_path.glob("faiss-*.index"):
        path.unlink()
    index = RuleIndex.open(tmp_path, emb)
    assert rebuilt(caplog, "missing") and len(index) == 4


def test_corrupt_database_is_rebuilt_from_the_rules(
    tmp_path: Path, emb: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    docs = memory(6)
    RuleIndex.open(tmp_path, emb).sync("c1", *state(docs))
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"index.sqlite{suffix}").unlink(missing_ok=True)
    (tmp_path / "index.sqlite").write_bytes(b"\x00garbage" * 4096)
    index = RuleIndex.open(tmp_path, emb)
    assert rebuilt(caplog, "unreadable")
    assert index.commit is None and len(index) == 0
    stats = index.sync("c1", *state(docs))
    assert stats.added == 6 and stats.embedded == 6
    assert ids(index.search(text_of(docs["r0001"]), k=1)) == ["r0001"]


def test_other_embedder_makes_the_index_stale(
    tmp_path: Path, emb: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    docs = memory(5)
    RuleIndex.open(tmp_path, emb).sync("c1", *state(docs))
    other = HashEmbedder(dim=32)
    index = RuleIndex.open(tmp_path, other)
    assert rebuilt(caplog, "hash:64") and len(index) == 0
    assert index.sync("c1", *state(docs)).embedded == 5
    assert ids(index.search(text_of(docs["r0004"]), k=1)) == ["r0004"]
    # Switching back finds the first embedder's vectors still cached.
    back = RuleIndex.open(tmp_path, HashEmbedder())
    assert rebuilt(caplog)
    assert back.sync("c1", *state(docs)).embedded == 0


def test_search_at_an_old_commit(tmp_path: Path, emb: HashEmbedder) -> None:
    old = memory(8)
    new = {rid: make_doc(int(rid[1:]), version=2) for rid in old if rid != "r0003"}
    index = RuleIndex.open(tmp_path, emb)
    index.sync("c1", *state(old))
    index.sync("c2", *state(new))
    calls = len(emb.calls)
    entries, load = state(old)
    view = index.at("c1", entries, load)
    assert view.commit == "c1" and len(view) == 8 and load.asked == []
    assert len(emb.calls) == calls  # every blob was seen before: nothing embedded
    assert ids(view.search(text_of(old["r0003"]), k=1)) == ["r0003"]
    assert index.commit == "c2" and "r0003" not in index.mapping()
    assert RuleIndex.open(tmp_path, emb).commit == "c2"
    # A commit with content never indexed is parsed and embedded once.
    unseen = dict(new, r0050=make_doc(50))
    entries, load = state(unseen)
    assert ids(index.at("c9", entries, load).search(text_of(unseen["r0050"]), k=1)) == ["r0050"]
    assert load.asked == [["r0050"]]


@pytest.mark.slow
def test_hnsw_agrees_with_exact_search(tmp_path: Path, emb: HashEmbedder) -> None:
    docs = memory(400)
    exact = RuleIndex.open(tmp_path / "flat", emb)
    exact.sync("c1", *state(docs))
    approx = RuleIndex.open(tmp_path / "hnsw", emb, hnsw_threshold=100)
    assert approx.sync("c1", *state(docs)).rebuilt
    queries = [text_of(docs[f"r{i:04d}"]) for i in range(0, 400, 20)]
    for a, b in zip(approx.search_many(queries, k=8), exact.search_many(queries, k=8), strict=True):
        assert a[0].rule_id == b[0].rule_id
        assert len(set(ids(a)) & set(ids(b))) >= 7
    # HNSW cannot delete: removed rules are hidden, then rebuilt away past 20%.
    fewer = {rid: d for rid, d in docs.items() if int(rid[1:]) % 10}
    stats = approx.sync("c2", *state(fewer))
    assert not stats.rebuilt and len(approx) == 360
    assert "r0010" not in ids(approx.search(text_of(docs["r0010"]), k=8))
    assert len(approx.search(text_of(docs["r0010"]), k=8, scope="general")) == 8
    reopened = RuleIndex.open(tmp_path / "hnsw", emb, hnsw_threshold=100)
    assert "r0020" not in ids(reopened.search(text_of(docs["r0020"]), k=8))
    fewest = {rid: d for rid, d in fewer.items() if int(rid[1:]) % 3}
    assert approx.sync("c3", *state(fewest)).rebuilt
    # Falling below the threshold goes back to exact search.
    small = dict(list(fewest.items())[:50])
    assert approx.sync("c4", *state(small)).rebuilt and len(approx) == 50


def test_an_index_of_the_other_kind_is_switched_when_it_is_opened(tmp_path: Path,
                                                                   emb: HashEmbedder) -> None:
    """A flat index written under another threshold (or by imlgit before HNSW) became
    HNSW only on the next change of rules: a memory that was only read searched 100,000
    rules exactly forever."""
    docs = memory(400)
    RuleIndex.open(tmp_path, emb).sync("c1", *state(docs))  # 400 < 20,000: flat
    query = text_of(docs["r0040"])
    approx = RuleIndex.open(tmp_path, emb, hnsw_threshold=100)
    assert ids(approx.search(query, k=1)) == ["r0040"]
    assert approx._core.kind == "hnsw"  # switched on load, with nothing to sync
    again = RuleIndex.open(tmp_path, emb, hnsw_threshold=100)
    again.search(query, k=1)
    assert again._core.kind == "hnsw" and not again._snapshot_stale  # the snapshot was written
    exact = RuleIndex.open(tmp_path, emb)
    assert ids(exact.search(query, k=1)) == ["r0040"] and exact._core.kind == "flat"


class _Raise(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        raise AssertionError(record.getMessage())


def _writer(directory: str, rounds: int, offset: int) -> None:
    """A writer process: alternately syncs two commits; any warning fails it."""
    logging.getLogger("imlgit").addHandler(_Raise())
    index = RuleIndex.open(Path(directory), HashEmbedder())
    for i in range(rounds):
        name = "cA" if (i + offset) % 2 == 0 else "cB"
        index.sync(name, *state(COMMITS[name]))


COMMITS = {
    "cA": memory(60),
    "cB": {**memory(40), **{f"x{i}": make_doc(300 + i, "other") for i in range(30)}},
}


def _check_consistent(index: RuleIndex) -> None:
    if index.commit is None:
        return
    docs = COMMITS[index.commit]
    assert {rid: r.blob for rid, r in index.mapping().items()} == {
        rid: blob(d) for rid, d in docs.items()
    }
    hits = index.search("rule apple banana", k=8)
    assert len(hits) == 8 and {h.rule_id for h in hits} <= docs.keys()


@pytest.mark.slow
def test_concurrent_writer_processes_and_readers(tmp_path: Path) -> None:
    RuleIndex.open(tmp_path, HashEmbedder()).sync("cA", *state(COMMITS["cA"]))
    ctx = multiprocessing.get_context("spawn")  # no fork of a process running OpenMP
    writers = [ctx.Process(target=_writer, args=(str(tmp_path), 12, n)) for n in range(2)]
    for w in writers:
        w.start()
    reader = RuleIndex.open(tmp_path, HashEmbedder())
    while any(w.is_alive() for w in writers):
        reader.refresh()
        _check_consistent(reader)
        fresh = RuleIndex.open(tmp_path, HashEmbedder())
        _check_consistent(fresh)
        fresh.close()
    for w in writers:
        w.join()
        assert w.exitcode == 0
    final = RuleIndex.open(tmp_path, HashEmbedder())
    _check_consistent(final)
    assert final.commit in COMMITS and len(list(tmp_path.glob("faiss-*.index"))) <= 2


def test_concurrent_threads_share_and_split_instances(tmp_path: Path) -> None:
    shared = RuleIndex.open(tmp_path, HashEmbedder())
    errors: list[BaseException] = []
    union = COMMITS["cA"].keys() | COMMITS["cB"].keys()

    def work(n: int) -> None:
        try:
            own = RuleIndex.open(tmp_path, HashEmbedder())
            for i in range(8):
                target = own if i % 2 else shared
                name = "cA" if (i + n) % 2 else "cB"
                target.sync(name, *state(COMMITS[name]))
                assert {h.rule_id for h in shared.search("rule apple", k=8)} <= union
                _check_consistent(RuleIndex.open(tmp_path, HashEmbedder()))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    shared.refresh()
    _check_consistent(shared)
    _check_consistent(RuleIndex.open(tmp_path, HashEmbedder()))


def test_importing_the_modules_loads_neither_torch_nor_faiss() -> None:
    code = (
        "import sys, imlgit.embed, imlgit.index; "
        "bad = {'torch', 'faiss', 'sentence_transformers'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- derived data that lies (issue 14): garbled on disk, still loading ---------------------


def _garble(path: Path, vector: np.ndarray) -> None:
    """Overwrite one stored float32 vector in ``path`` with bytes that still load."""
    data = path.read_bytes()
    at = data.find(vector.astype(np.float32).tobytes())
    assert at >= 0, f"vector not found in {path.name}"
    junk = np.full(vector.shape, 3.0e17, np.float32).tobytes()  # scores ~1e34 against a unit query
    path.write_bytes(data[:at] + junk + data[at + len(junk) :])


def test_garbled_snapshot_vectors_are_caught_and_rebuilt(
    tmp_path: Path, emb: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    docs = memory(12)
    index = RuleIndex.open(tmp_path, emb)
    index.sync("c1", *state(docs))
    (snapshot,) = tmp_path.glob("faiss-*.index")
    _garble(snapshot, index.vectors(["r0003"])[0])
    index.close()
    reopened = RuleIndex.open(tmp_path, HashEmbedder())
    assert rebuilt(caplog, "not unit length")
    best = reopened.search(text_of(docs["r0008"]), k=3)
    assert best[0].rule_id == "r0008" and all(h.score <= 1.0001 for h in best)
    assert ids(reopened.search(text_of(docs["r0003"]), k=1)) == ["r0003"]
    assert rebuilt(caplog) == []
    assert rebuilt(caplog) == [] and len(RuleIndex.open(tmp_path, emb)) == 12  # rewritten
    assert rebuilt(caplog) == []


def test_garbled_cached_vectors_are_embedded_again(
    tmp_path: Path, emb: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    docs = memory(8)
    index = RuleIndex.open(tmp_path, emb)
    index.sync("c1", *state(docs))
    vector = index.vectors(["r0005"])[0]
    index.close()  # the last connection checkpoints the WAL into index.sqlite
    _garble(tmp_path / "index.sqlite", vector)
    for path in tmp_path.glob("faiss-*.index"):
        path.unlink()  # so the vectors come from the cache
    fresh = HashEmbedder()
    reopened = RuleIndex.open(tmp_path, fresh)
    assert rebuilt(caplog, "garbled")
    stats = reopened.sync("c1", *state(docs))
    assert stats.embedded == 1 and fresh.texts_embedded == 1
    best = reopened.search(text_of(docs["r0002"]), k=8)
    assert best[0].rule_id == "r0002" and all(h.score <= 1.0001 for h in best)
    assert ids(reopened.search(text_of(docs["r0005"]), k=1)) == ["r0005"]
    # The cache holds the good vector again: a rebuild from it embeds nothing.
    for path in tmp_path.glob("faiss-*.index"):
        path.unlink()
    again = HashEmbedder()
    RuleIndex.open(tmp_path, again).sync("c1", *state(docs))
    assert again.calls == []


def _edit_db(directory: Path, *statements: str) -> None:
    import sqlite3

    conn = sqlite3.connect(directory / "index.sqlite")
    with conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()


@pytest.mark.parametrize(
    "edit, why",
    [
        # two rules swap FAISS ids: a search for one answers with the other
        (("UPDATE rules SET fid = -1 WHERE rule_id = 'r0001'",
          "UPDATE rules SET fid = 1 WHERE rule_id = 'r0002'",
          "UPDATE rules SET fid = 2 WHERE rule_id = 'r0001'"), "not what was synced"),
        (("DELETE FROM rules WHERE rule_id = 'r0004'",), "claims 6 rules"),
        (("UPDATE meta SET value = '2' WHERE key = 'rows'",), "claims 2 rules"),
    ],
)
def test_a_rules_table_that_lies_is_rebuilt_from_the_rules(
    tmp_path: Path, emb: HashEmbedder, caplog: pytest.LogCaptureFixture,
    edit: tuple[str, ...], why: str,
) -> None:
    docs = memory(6)
    index = RuleIndex.open(tmp_path, emb)
    index.sync("c1", *state(docs))
    assert [index.mapping()[r].fid for r in ("r0001", "r0002")] == [1, 2]
    index.close()
    _edit_db(tmp_path, *edit)
    reopened = RuleIndex.open(tmp_path, emb)
    assert rebuilt(caplog, why) and len(reopened) == 0
    stats = reopened.sync("c1", *state(docs))
    assert stats.added == 6 and stats.embedded == 0  # the cache survives
    for rid in ("r0001", "r0002", "r0004"):
        assert ids(reopened.search(text_of(docs[rid]), k=1)) == [rid]
    assert rebuilt(caplog) == [] and len(RuleIndex.open(tmp_path, emb)) == 6
    assert rebuilt(caplog) == []


def test_an_index_claiming_a_commit_it_does_not_hold_is_repaired(
    tmp_path: Path, emb: HashEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    old, new = memory(5), {**memory(4), "r0009": make_doc(9)}
    index = RuleIndex.open(tmp_path, emb)
    index.sync("c1", *state(old))
    index.close()
    _edit_db(tmp_path, "UPDATE meta SET value = 'c2' WHERE key = 'commit'")
    reopened = RuleIndex.open(tmp_path, emb)
    assert reopened.commit == "c2"
    stats = reopened.sync("c2", *state(new))
    assert rebuilt(caplog, "claimed commit c2") and (stats.added, stats.removed) == (1, 1)
    assert ids(reopened.search(text_of(new["r0009"]), k=1)) == ["r0009"]


def test_one_rule_entry_for_the_store_and_the_index() -> None:
    """The store's rule entries go to the index as they are (there were two classes,
    and every sync copied each entry into the index's own)."""
    from imlgit.store import RuleEntry as StoreEntry

    assert RuleEntry is StoreEntry
    assert RuleEntry("ab" * 20) == RuleEntry(blob="ab" * 20, path="")
