"""Retrieval benchmark: the rule index at scale, and retrieval quality against BM25.

    python bench/retrieval_bench.py                 # 1k, 10k, 100k rules + quality (2-6 min)
    python bench/retrieval_bench.py --million       # adds 1M rules (HNSW; long, ~8 GB)
    python bench/retrieval_bench.py --sizes 1000 --skip-hnsw   # a quick smoke run

Scale: the rules are synthetic sentences from word lists; their vectors are random
unit vectors in 384-d drawn around 1,000 topic centres (embedding 100k texts with
the real model would take ~10 minutes on 2 cores), and the real model's throughput
is measured separately. Each size is built in a child process, so its peak RSS is
its own. Quality: 50 tasks of 10 rules, each task a topic with its own vocabulary;
recall@8 of the task's rules for queries in the task's words, with the packaged
all-MiniLM-L6-v2 and with a BM25 baseline implemented here. Deterministic.
"""

from __future__ import annotations

import json
import math
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path

import click
import numpy as np

from imlgit.embed import SentenceTransformerEmbedder
from imlgit.index import RuleDoc, RuleEntry, RuleIndex, rule_text

DIM = 384
CENTRES = 1000
SCOPES = [f"scope-{i:02d}" for i in range(20)]
NOUNS = (
    "invoice order ticket refund account password report server query customer shipment "
    "payment contract meeting deadline budget release build test schedule warehouse"
).split()
ADJS = "late missing urgent duplicate expired large broken pending flagged partial".split()
VERBS = "escalate check verify archive retry notify reject approve split review".split()
GERUNDS = "closing shipping billing merging answering deploying paying filing".split()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50) * 1e3:7.2f} ms  p99 {percentile(values, 99) * 1e3:7.2f} ms"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- synthetic scale data ------------------------------------------------------


class Synthetic:
    """n rules: id r<n>, a sentence, a scope; vector of version v is deterministic."""

    def __init__(self, n: int, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        centres = rng.standard_normal((CENTRES, DIM)).astype(np.float32)
        self.topic = rng.integers(0, CENTRES, n)
        base = centres[self.topic] + rng.standard_normal((n, DIM)).astype(np.float32)
        self.vectors = base / np.linalg.norm(base, axis=1, keepdims=True)
        self.centres = centres
        self.words = rng.integers(0, 1_000_000, (n, 6))

    def doc(self, i: int, version: int = 0) -> RuleDoc:
        w = self.words[i]
        statement = (
            f"When the {NOUNS[w[0] % 20]} is {ADJS[w[1] % 10]}, {VERBS[w[2] % 10]} the "
            f"{NOUNS[w[3] % 20]} before {GERUNDS[w[4] % 8]}."
        )
        return RuleDoc(f"[r{i}v{version}] {NOUNS[w[5] % 20]} rule", statement, SCOPES[i % 20])

    def vector(self, i: int, version: int) -> np.ndarray:
        if version == 0:
            return self.vectors[i]
        v = self.vectors[i] + np.random.default_rng((i, version)).standard_normal(DIM) * 0.3
        return (v / np.linalg.norm(v)).astype(np.float32)

    def entries(self, versions: Mapping[int, int] | None = None) -> dict[str, RuleEntry]:
        versions = versions or {}
        return {f"r{i}": RuleEntry(f"{i:032x}{versions.get(i, 0):08x}") for i in range(self.n)}

    def loader(self, versions: Mapping[int, int] | None = None) -> Callable[..., dict]:
        versions = versions or {}

        def load(ids: list[str]) -> dict[str, RuleDoc]:
            return {rid: self.doc(int(rid[1:]), versions.get(int(rid[1:]), 0)) for rid in ids}

        return load

    def queries(self, count: int, seed: int = 11) -> np.ndarray:
        """Query vectors near the data: a rule's topic centre plus noise."""
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, self.n, count)
        q = self.centres[self.topic[picks]] + rng.standard_normal((count, DIM)).astype(np.float32)
        return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


class TableEmbedder:
    """The bulk 'embedder' of the scale runs: returns each synthetic rule's vector."""

    identity = f"bench-random:{DIM}"
    dim = DIM

    def __init__(self, data: Synthetic) -> None:
        self.data = data
        self.texts = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        out = np.zeros((len(texts), DIM), np.float32)
        for row, text in enumerate(texts):
            match = re.match(r"\[r(\d+)v(\d+)\]", text)
            assert match, text
            out[row] = self.data.vector(int(match[1]), int(match[2]))
        return out


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def scale_child(n: int, directory: Path, hnsw: bool) -> dict[str, float]:
    """Build, query and resync one size; runs in its own process."""
    data = Synthetic(n)
    embedder = TableEmbedder(data)
    threshold = 1000 if hnsw else 200_000
    out: dict[str, float] = {"n": n}
    t0 = time.perf_counter()
    index = RuleIndex.open(directory, embedder, hnsw_threshold=threshold)
    stats = index.sync("c0", data.entries(), data.loader())
    out["build_s"] = time.perf_counter() - t0
    out["kind_hnsw"] = float(index._core.kind == "hnsw")  # noqa: SLF001 (reporting only)
    queries = data.queries(300)
    lat = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, k=8)
        lat.append(time.perf_counter() - t)
    out["q_p50"], out["q_p99"] = percentile(lat, 50), percentile(lat, 99)
    scoped = []
    for q in queries:
        t = time.perf_counter()
        hits = index.search(q, k=8, scope="scope-03")
        scoped.append(time.perf_counter() - t)
        assert len(hits) == min(8, n // 20)
    out["scoped_p50"], out["scoped_p99"] = percentile(scoped, 50), percentile(scoped, 99)
    t = time.perf_counter()
    index.search_many(queries, k=8)
    out["batch_per_query"] = (time.perf_counter() - t) / len(queries)
    syncs: list[float] = []
    versions: dict[int, int] = {}
    for step in range(1, 8):  # each commit changes one more rule
        versions[step * 97 % n] = step
        entries, load = data.entries(versions), data.loader(versions)
        t = time.perf_counter()
        one = index.sync(f"c{step}", entries, load)
        syncs.append(time.perf_counter() - t)
        assert (one.changed, one.embedded, one.added, one.removed) == (1, 1, 0, 0), one
    out["sync_one_s"] = statistics.median(syncs)
    out["embedded_in_build"] = stats.embedded
    index.close()
    t = time.perf_counter()
    RuleIndex.open(directory, embedder, hnsw_threshold=threshold).close()
    out["open_s"] = time.perf_counter() - t
    out["disk_mb"] = dir_mb(directory)
    if hnsw:
        final = data.vectors.copy()  # the vectors as of the last sync, for ground truth
        for i, version in versions.items():
            final[i] = data.vector(i, version)
        exact = final @ queries.T
        truth = [set(np.argsort(-exact[:, j])[:8].tolist()) for j in range(len(queries))]
        for ef in (16, 32, 64, 128, 256):
            reopened = RuleIndex.open(directory, embedder, hnsw_threshold=threshold, ef_search=ef)
            lat, recall = [], []
            for j, q in enumerate(queries):
                t = time.perf_counter()
                hits = reopened.search(q, k=8)
                lat.append(time.perf_counter() - t)
                got = {int(h.rule_id[1:]) for h in hits}
                recall.append(len(got & truth[j]) / 8)
            out[f"ef{ef}_recall"] = float(np.mean(recall))
            out[f"ef{ef}_p50"], out[f"ef{ef}_p99"] = percentile(lat, 50), percentile(lat, 99)
            reopened.close()
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def run_child(n: int, directory: Path, hnsw: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(n), "--dir", str(directory)]
    if hnsw:
        cmd.append("--child-hnsw")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child for {n} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- quality: 50 topics, MiniLM vs BM25 -----------------------------------------

TOPICS = """
oven flour dough yeast butter pastry crust batter whisk icing
    | bread cake muffin cookie croissant bakery
soil compost seedling trowel weed mulch fertilizer hose pruner greenhouse
    | tomato rosebush lawn shrub flowerbed vegetable
sail mast rudder keel anchor tide harbor hull mooring jib
    | boat yacht wind sea captain regatta
telescope galaxy nebula orbit comet planet eclipse asteroid lens observatory
    | star moon sky constellation meteor universe
tooth enamel cavity filling gum plaque floss crown molar drill
    | dentist mouth toothache smile braces cleaning
pipe faucet valve drain leak washer sink wrench sewer gasket
    | water toilet plumber bathroom shower clog
ledger invoice receipt audit balance expense revenue payroll tax spreadsheet
    | money budget profit accountant bookkeeping finance
router packet firewall switch cable bandwidth latency subnet gateway modem
    | internet wifi connection network server ethernet
hive honey queen comb smoker nectar pollen swarm frame wax
    | bee apiary colony sting beekeeper insect
camera shutter aperture exposure tripod flash viewfinder sensor focus zoom
    | photo snapshot photographer image selfie album
pawn bishop knight rook checkmate gambit castling opening endgame tournament
    | king board chess grandmaster strategy move
rod reel bait hook lure tackle trout net line bobber
    | fish angler lake river catch salmon
heart artery pulse cholesterol stent arrhythmia cardiologist aorta ventricle bypass
    | chest circulation cardiac heartbeat vein stroke
slope ski binding lift powder piste goggles pole avalanche chalet
    | snow mountain winter resort skier downhill
espresso bean grinder roast crema barista latte filter kettle milk
    | coffee cafe cup caffeine mug brew
grape vineyard barrel cork tannin vintage cellar harvest fermentation decanter
    | wine bottle sommelier glass merlot winery
bicycle chain pedal gear saddle brake tire helmet spoke handlebar
    | bike rider cyclist ride race commute
leash collar kennel puppy vaccine groomer kibble flea bark fetch
    | dog pet animal vet paw tail
wire circuit breaker outlet voltage fuse socket insulation ground switchboard
    | electricity power current electrician shock plug
runway cockpit pilot altitude turbulence wing hangar fuselage autopilot takeoff
    | plane airport flight airline jet landing
string fret chord pick amplifier tuning capo strum riff neck
    | guitar song music melody band guitarist
yarn needle stitch wool pattern scarf sweater loop purl skein
    | knit thread sewing craft blanket mitten
magma lava crater eruption ash basalt fault tremor rock mineral
    | volcano earthquake geology geologist stone quake
contract clause lawsuit judge verdict appeal attorney testimony plaintiff statute
    | law court lawyer trial legal justice
ward syringe bandage stretcher triage infusion chart bedside nurse wound
    | hospital patient doctor care clinic medicine
classroom homework syllabus exam lecture grade chalkboard curriculum semester tutor
    | school student teacher lesson education class
mortgage lease tenant landlord deposit appraisal listing escrow rent deed
    | house apartment property home realtor buyer
engine piston spark radiator transmission clutch oil battery muffler axle
    | car vehicle mechanic garage motor repair
pool freestyle backstroke diving lifeguard chlorine kickboard lap butterfly wetsuit
    | swim swimmer swimming beach ocean splash
forecast humidity barometer thunderstorm rainfall drizzle hail frost breeze cloud
    | weather rain storm sunshine temperature climate
verse rhyme stanza meter sonnet metaphor draft manuscript poet haiku
    | poem writing author literature book novel
goal striker referee penalty offside midfielder goalkeeper corner stadium jersey
    | football soccer team match player ball
racket serve volley baseline deuce backhand forehand ace umpire tiebreak
    | tennis wimbledon grass set rally doubles
password phishing malware encryption vulnerability patch exploit credential ransomware antivirus
    | hacker security attack virus breach account
table query schema transaction column join backup replica cursor index
    | database sql data record storage row
clay kiln glaze wheel vase porcelain slip bisque ceramic throwing
    | potter bowl pot studio jar earthenware
tent backpack trail compass campfire boots map canteen lantern sleeping
    | camping hike forest outdoors hiker wilderness
diaper crib stroller pacifier formula nap toddler lullaby nursery bib
    | baby infant parent child newborn mother
policy premium claim deductible coverage underwriter beneficiary adjuster liability annuity
    | insurance insurer accident risk protection insured
rocket launch astronaut capsule booster payload countdown thruster spacesuit module
    | spacecraft mission space shuttle orbiter cosmonaut
udder barn calf hay silage pasture herd tractor dairy cheese
    | farm cattle farmer ranch livestock cow
scissors shampoo dye conditioner haircut fringe curl blowdryer salon stylist
    | hair hairdresser barber hairstyle trim beauty
train track locomotive carriage platform signal timetable conductor station rail
    | railway railroad passenger ticket journey subway
retina cornea pupil glasses contacts eyesight optician prescription cataract iris
    | eye vision sight optometrist blurry spectacles
detergent stain bleach dryer iron hamper softener lint spin rinse
    | laundry clothes washing shirt wash fabric
ballot vote candidate campaign poll district senator debate parliament referendum
    | election politics voter government democracy politician
canvas brush easel palette pigment acrylic watercolor sketch gallery varnish
    | painting artist art painter mural artwork
feather beak nest wingspan migration binoculars sparrow hawk egg plumage
    | bird birdwatching owl flock songbird ornithologist
printer toner paper cartridge jam scanner stapler tray copier ink
    | print office document page photocopy fax
menu waiter reservation tip chef kitchen dessert appetizer bill entree
    | restaurant dinner meal food eat dining
"""

RULE_TEMPLATES = [
    "Always check the {a} before touching the {b}.",
    "If the {a} looks wrong, compare it with the {b} and the {c}.",
    "The {a} and the {b} must be handled together.",
    "Never change the {a} without updating the {b}.",
    "A damaged {a} usually means the {b} needs attention.",
    "Record the {a} whenever the {b} changes.",
    "Prefer the {a} over the {b} when the {c} is uncertain.",
    "Keep the {a} away from the {b}.",
    "Use the {a} to judge the state of the {b}.",
    "When the {a} fails, inspect the {b} first.",
]
QUERY_TEMPLATES = [
    "What should I keep in mind about the {x}?",
    "Any advice for dealing with a {x} and a {y}?",
    "I have a problem with my {x}.",
]
STOP = set("a an the and or of to with for in on my i is it be any what about should keep mind "
           "when if than over have problem dealing advice usually means needs first must "
           "without whenever changes before touching looks wrong compare away use state "
           "judge always never record prefer uncertain handled together inspect fails "
           "damaged attention".split())


def quality_data() -> tuple[dict[str, RuleDoc], dict[str, list[str]], list[tuple[str, int]]]:
    """Rules per task, and queries (paraphrase: held-out words; overlap: one shared word)."""
    rng = np.random.default_rng(3)
    lines = TOPICS.strip().splitlines()  # a topic: its rule words, then "| " held-out words
    topics = [(a, b.strip(" |")) for a, b in zip(lines[::2], lines[1::2], strict=True)]
    words = [w for part in topics for w in " ".join(part).split()]
    duplicated = [w for w, c in Counter(words).items() if c > 1]
    assert not duplicated, duplicated
    docs, queries = {}, {"paraphrase": [], "overlap": []}
    owner = []
    for t, (rule_part, query_part) in enumerate(topics):
        rule_words, query_words = rule_part.split(), query_part.split()
        for r, template in enumerate(RULE_TEMPLATES):
            a, b, c = rng.choice(rule_words, 3, replace=False)
            docs[f"t{t:02d}-r{r}"] = RuleDoc(
                f"{a.capitalize()} and {b}", template.format(a=a, b=b, c=c), "tasks"
            )
        for template in QUERY_TEMPLATES:
            x, y = rng.choice(query_words, 2, replace=False)
            queries["paraphrase"].append(template.format(x=x, y=y))
            owner.append(("paraphrase", t))
            x2 = rng.choice(rule_words)
            queries["overlap"].append(template.format(x=x2, y=y))
            owner.append(("overlap", t))
    return docs, queries, owner


def tokens(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP]


class BM25:
    """Okapi BM25 (k1=1.5, b=0.75) over the same rule texts."""

    def __init__(self, texts: Mapping[str, str], k1: float = 1.5, b: float = 0.75) -> None:
        self.ids = list(texts)
        self.docs = [Counter(tokens(texts[i])) for i in self.ids]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = sum(self.lengths) / len(self.lengths)
        df = Counter(w for d in self.docs for w in d)
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}
        self.k1, self.b = k1, b

    def search(self, query: str, k: int) -> list[str]:
        scores = []
        terms = tokens(query)
        for doc, length in zip(self.docs, self.lengths, strict=True):
            s = 0.0
            for w in terms:
                f = doc.get(w, 0)
                if f:
                    norm = f + self.k1 * (1 - self.b + self.b * length / self.avg)
                    s += self.idf[w] * f * (self.k1 + 1) / norm
            scores.append(s)
        order = np.argsort(-np.array(scores), kind="stable")[:k]
        return [self.ids[i] for i in order if scores[i] > 0]


def quality(minilm: SentenceTransformerEmbedder, workdir: Path) -> None:
    docs, queries, _ = quality_data()
    index = RuleIndex.open(workdir / "quality", minilm)
    t = time.perf_counter()
    index.sync("q", {rid: RuleEntry(f"{i:040x}") for i, rid in enumerate(docs)},
               lambda ids: {rid: docs[rid] for rid in ids})
    build = time.perf_counter() - t
    bm25 = BM25({rid: rule_text(d.title, d.statement, d.scope) for rid, d in docs.items()})
    print(f"\nQuality: {len(docs)} rules in 50 tasks, recall@8 of the task's 10 rules "
          f"(MiniLM index built in {build:.1f} s)")
    for kind, texts in queries.items():
        truth = [f"t{i // len(QUERY_TEMPLATES):02d}-" for i in range(len(texts))]
        dense = index.search_many(texts, k=8)
        r_dense = np.mean([sum(h.rule_id.startswith(p) for h in hits) / 8
                           for hits, p in zip(dense, truth, strict=True)])
        r_bm25 = np.mean([sum(rid.startswith(p) for rid in bm25.search(q, 8)) / 8
                          for q, p in zip(texts, truth, strict=True)])
        label = ("paraphrase (only held-out task words)" if kind == "paraphrase"
                 else "overlap (one rule word + one held-out word)")
        print(f"  {label:45s} {len(texts)} queries: MiniLM {r_dense:.3f}   BM25 {r_bm25:.3f}")
    print("  e.g.", repr(queries["paraphrase"][0]), "->",
          [h.rule_id for h in index.search(queries["paraphrase"][0], k=3)])


# -- main -------------------------------------------------------------------------


@click.command(help=__doc__.splitlines()[0])
@click.option("--sizes", "sizes_arg", default="1000,10000,100000", show_default=True)
@click.option("--million", is_flag=True, help="also 1,000,000 rules")
@click.option("--skip-hnsw", is_flag=True)
@click.option("--skip-quality", is_flag=True)
@click.option("--keep", is_flag=True, help="keep the index directories")
@click.option("--child", type=int, hidden=True)
@click.option("--child-hnsw", is_flag=True, hidden=True)
@click.option("--dir", type=Path, hidden=True)
def main(
    sizes_arg: str,
    million: bool,
    skip_hnsw: bool,
    skip_quality: bool,
    keep: bool,
    child: int | None,
    child_hnsw: bool,
    dir: Path | None,
) -> None:
    if child:
        print(json.dumps(scale_child(child, dir, child_hnsw)))
        return
    sizes = [int(s) for s in sizes_arg.split(",") if s]
    if million:
        sizes.append(1_000_000)
    workdir = Path(tempfile.mkdtemp(prefix="imlgit-bench-"))
    started = time.perf_counter()
    try:
        print(f"imlgit retrieval bench; 2 cores assumed; work dir {workdir}")
        print("Scale: bulk vectors are random 384-d unit vectors around 1,000 centres, NOT "
              "model embeddings;\n       query latency 'with embedding' adds a real MiniLM "
              "embedding of a text query.")
        results = []
        for n in sizes:
            res = run_child(n, workdir / f"flat-{n}", hnsw=n >= 1_000_000)
            results.append(res)
            print(f"\n{n:>9,} rules ({'HNSW' if res['kind_hnsw'] else 'exact flat'}):")
            print(f"  build (sync from empty, embedding excluded) {res['build_s']:8.2f} s")
            print(f"  query, vector given      p50 {res['q_p50'] * 1e3:7.2f} ms  "
                  f"p99 {res['q_p99'] * 1e3:7.2f} ms")
            print(f"  query, scope filter      p50 {res['scoped_p50'] * 1e3:7.2f} ms  "
                  f"p99 {res['scoped_p99'] * 1e3:7.2f} ms")
            print(f"  batched search_many      {res['batch_per_query'] * 1e3:7.3f} ms/query")
            print(f"  sync after ONE changed rule {res['sync_one_s'] * 1e3:8.1f} ms   "
                  f"full rebuild / one-rule sync = {res['build_s'] / res['sync_one_s']:,.0f}x")
            print(f"  open from disk {res['open_s']:.2f} s   disk {res['disk_mb']:.0f} MB   "
                  f"peak RSS {res['peak_rss_mb']:.0f} MB")
        hnsw_n = max(n for n in sizes if n < 1_000_000) if not skip_hnsw else 0
        if hnsw_n >= 10_000:
            res = run_child(hnsw_n, workdir / f"hnsw-{hnsw_n}", hnsw=True)
            print(f"\nHNSW (M=32, efConstruction=40) at {hnsw_n:,} rules: build "
                  f"{res['build_s']:.1f} s, peak RSS {res['peak_rss_mb']:.0f} MB; "
                  "recall@8 vs exact:")
            for ef in (16, 32, 64, 128, 256):
                p50, p99 = res[f"ef{ef}_p50"] * 1e3, res[f"ef{ef}_p99"] * 1e3
                print(f"  efSearch {ef:3d}: recall@8 {res[f'ef{ef}_recall']:.3f}   "
                      f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms")

        minilm = SentenceTransformerEmbedder()
        t = time.perf_counter()
        minilm.embed(["warm up"])
        load = time.perf_counter() - t
        data = Synthetic(1000)
        texts = [rule_text(d.title, d.statement, d.scope)
                 for d in (data.doc(i) for i in range(1000))]
        t = time.perf_counter()
        minilm.embed(texts)
        per_1k = time.perf_counter() - t
        print(f"\nReal model (all-MiniLM-L6-v2, CPU): load {load:.1f} s; "
              f"{per_1k:.1f} s per 1,000 rule texts ({1000 / per_1k:.0f} texts/s)")
        for res in results:
            est = res["build_s"] + res["n"] / 1000 * per_1k
            print(f"  {res['n']:>9,} rules: full rebuild with real embedding ~{est:,.0f} s "
                  f"(estimated) = {est / res['sync_one_s']:,.0f}x a one-rule sync")
        questions = [f"What do we do when the {NOUNS[i % 20]} is {ADJS[i % 10]}?"
                     for i in range(100)]
        for res in results:
            n = int(res["n"])
            index = RuleIndex.open(workdir / f"flat-{n}", TableEmbedder(Synthetic(1)),
                                   hnsw_threshold=1000 if n >= 1_000_000 else 200_000)
            lat = []
            for q in questions:
                t = time.perf_counter()
                index.search(minilm.embed([q])[0], k=8)
                lat.append(time.perf_counter() - t)
            print(f"  query WITH embedding at {n:>9,} rules: {ms(lat)}")
            index.close()
        if not skip_quality:
            quality(minilm, workdir)
        print(f"\nTotal bench time {time.perf_counter() - started:.0f} s")
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
