"""Cleaning-stage benchmark: cleaning.clean_parquet (the cleaned_pairs stage) at N = 10k, 100k, 1M on pairs built from the real records in
../shared/data, with planted exact duplicates, near-duplicates, PII and junk (see bench/clean_data.py), and
datasketch's MinHashLSH as the near-duplicate peer.

    .venv/bin/python bench/clean_bench.py [--sizes 10000,100000,1000000] [--peer-sizes 10000,100000]
                                          [--out bench/results/clean_bench.json] [--workers 0] [--fresh]

Per N, each step runs in a fresh subprocess so that its peak RSS is its own:
  build   - the synthetic unified frame and its ground truth, written to a temporary parquet (not timed)
  clean   - cleaning.clean_parquet(input, output, CleanRules(), timings) on that file: wall seconds, seconds per operator
            from `timings`, peak RSS (getrusage of the process and of its worker processes, plus a 50 ms
            sampler that sums the RSS of the whole process tree while the stage runs)
  ours    - near_dedup.near_duplicate_clusters alone on the near-dedup input texts (below)
  peer    - datasketch MinHash (num_perm=128, update_batch over the same char 5-gram shingles) + MinHashLSH
            (threshold=0.8, num_perm=128) on the same texts: signatures, insert all, query all, union-find;
            its F1 is reported as datasketch gives it (LSH candidates) and with candidates verified by the
            MinHash estimate >= 0.8 (the verification's time is reported apart)
The texts of the two standalone runs are whole conversations (message contents joined by newlines) of every row
except the planted exact copies and junk (which the earlier operators remove), so the planted near pairs and
hard negatives are all in them and no exact pair. clean_pairs itself runs near-dedup on prompts and responses
apart (a pair is a near-duplicate when both are similar); the standalone runs give both tools the same single
text per row, which is the like-for-like throughput and F1 comparison.

Timing is wall clock, plus CPU seconds (process + workers), which hold steadier when other jobs share the two
cores: run the final sweep on a quiet machine, and compare load_avg_1min in the JSON between sizes.

Scoring is pairwise: a predicted pair is two rows in one cluster (for clean_pairs: a near_duplicate reject and
its kept_pair_id, or rows sharing a cluster_id). Precision counts predicted pairs that are planted pairs;
recall counts planted near pairs found, over those whose two rows both reached the near-dedup operator (rows
rejected earlier, e.g. by a quality filter, cannot be clustered; their number is reported), per variant too
(typos at 1-5% of the characters, a sentence added or removed, one typo in a short prompt). The planted hard
negatives (the same prompt with another answer, the same text with a number or a named value changed) are what
precision is really tested on, counted per variant; every predicted pair that was not planted gets its true
Jaccard computed, which also checks the data's claim that base pairs are far apart. PII is scored per row: a planted row counts as found when its pii_kinds is set (or it was rejected
for PII), per kind when that kind is among them; any other flagged row is a false positive, the planted
decoys (PII-shaped strings that fail the real checks) among them.

The peer is installed only for the benchmark, never as a project dependency: when `import datasketch` fails,
`python -m pip install --no-deps --target /tmp/clean_bench_peers datasketch` runs (its numpy and scipy
dependencies come from the project venv) and only the peer subprocess puts that folder on sys.path.
--no-install skips the install (the peer is then reported as skipped). datasketch at 1M takes long (about
10x its 100k time), so --peer-sizes defaults to 10k and 100k; a skipped size is reported as skipped, with no
extrapolation.

Results: the JSON (--out) and a Markdown table next to it (.md). Sizes already in the JSON from an earlier
invocation are kept unless --fresh, so 1M can be run on its own; every row records when it ran.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
for p in (ROOT, BENCH):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import clean_copies as cc  # noqa: E402
import clean_data as cd  # noqa: E402

PEER_DIR = Path("/tmp/clean_bench_peers")
DEFAULT_OUT = BENCH / "results" / "clean_bench.json"
THRESHOLD, NUM_PERM = 0.8, 128


# ------------------------------------------------------------------------------------------------ helpers
class RssSampler(threading.Thread):
    """Peak of the summed RSS of this process and all its descendants (worker processes included).

    getrusage alone cannot give that: RUSAGE_CHILDREN reports the largest single child, not the sum of
    children alive at the same time. Pages shared between processes are counted once per process.
    """

    def __init__(self, interval: float = 0.05):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.peak = 0
        self.peak_children = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def sample(self) -> None:
        total = children = 0
        try:
            total = self.proc.memory_info().rss
            kids = self.proc.children(recursive=True)
        except Exception:
            return
        for k in kids:
            try:
                children += k.memory_info().rss
            except Exception:  # a worker may exit between listing and reading
                pass
        self.peak = max(self.peak, total + children)
        self.peak_children = max(self.peak_children, children)

    def stop(self) -> None:
        self.sample()
        self._done.set()
        self.join()


def _rusage_mb() -> dict:
    # Linux reports ru_maxrss in KiB.
    return {"self_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "largest_child_maxrss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process and its finished children. Unlike wall time it barely
    moves when other jobs share the CPUs, so it is the steadier figure on a busy machine."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def _conversation_expr():
    import polars as pl

    # One text per row for the standalone runs: the message contents joined by newlines.
    return pl.col("messages").list.eval(pl.element().struct.field("content")).list.join("\n")


def _standalone(work: Path):
    """(pair_ids, texts) for the standalone runs: every row but planted exact copies and junk, in input order."""
    import polars as pl

    truth = pl.read_parquet(work / "truth.parquet", columns=["pair_id", "role"])
    drop = truth.filter(pl.col("role").is_in(["exact_copy", "junk"]))["pair_id"]
    df = (pl.scan_parquet(work / "input.parquet").select("pair_id", _conversation_expr().alias("text"))
          .filter(~pl.col("pair_id").is_in(drop.implode())).collect())
    return df["pair_id"], df["text"].to_list()


# ------------------------------------------------------------------------------------------------ children
def child_build(work: Path, n: int, seed: int) -> None:
    t0 = time.perf_counter()
    unified, truth, info = cd.build_dataset(n, seed=seed, verbose=True)
    # A temporary file: speed over size; row groups of the stage's chunk size, as the pipeline writes them.
    unified.write_parquet(work / "input.parquet", compression="lz4", row_group_size=20_000)
    truth.write_parquet(work / "truth.parquet")
    info.update(seconds=round(time.perf_counter() - t0, 1), **_rusage_mb(),
                mean_text_chars=round(unified["text"].str.len_chars().mean(), 1),
                zh_share=round((unified["lang"] == "zh").mean(), 3))
    _write_json(work / "build.json", info)


def child_clean(work: Path, workers: int | None) -> None:
    import polars as pl
    import pyarrow.parquet as pq

    from instr_assets.core.clean import cleaning

    # The stage streams: clean_parquet reads the input a row group at a time and writes its output file, so
    # this process never holds the whole input (as the cleaned_pairs asset runs it).
    src, out = work / "input.parquet", work / "cleaned_full.parquet"
    rules = cleaning.CleanRules()
    if workers is not None:
        rules = dataclasses.replace(rules, workers=workers)
    loaded = _rusage_mb()["self_maxrss_mb"]
    timings: dict = {}
    sampler = RssSampler()
    sampler.start()
    load0, cpu0 = os.getloadavg()[0], _cpu_s()
    t0 = time.perf_counter()
    report: dict = {}
    rejected = cleaning.clean_parquet(src, out, rules, timings, report=report)
    seconds = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    sampler.stop()
    ru = _rusage_mb()
    cleaned = pl.read_parquet(out, columns=["pair_id", "pii_kinds", "cluster_id"])
    cleaned.write_parquet(work / "cleaned.parquet")
    out.unlink()
    rejected.select("pair_id", "reason", "detail", "kept_pair_id").write_parquet(work / "rejected.parquet")
    _write_json(work / "clean.json", {
        "n": pq.ParquetFile(src).metadata.num_rows, "seconds": seconds, "cpu_s": cpu,
        "load_avg_1min": [load0, os.getloadavg()[0]], "timings": timings, "report": report,
        "rules": {"workers": rules.workers, "chunk_rows": rules.chunk_rows,
                  "near_dup": dataclasses.asdict(rules.near_dup)},
        "kept": cleaned.height, "rejected": rejected.height,
        "rss_after_load_mb": loaded, **ru,
        "tree_peak_rss_mb": round(sampler.peak / 2 ** 20, 1),
        "workers_peak_rss_mb": round(sampler.peak_children / 2 ** 20, 1),
        "cpu_count": os.cpu_count(),
    })


def child_ours(work: Path) -> None:
    import numpy as np

    from instr_assets.core.clean import near_dedup

    ids, texts = _standalone(work)
    rules = near_dedup.NearDupRules(threshold=THRESHOLD, num_perm=NUM_PERM)
    sampler = RssSampler()
    sampler.start()
    cpu0, t0 = _cpu_s(), time.perf_counter()
    cluster, _ = near_dedup.near_duplicate_clusters(texts, rules)
    seconds = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    sampler.stop()
    np.save(work / "ours_labels.npy", np.asarray(cluster, dtype=np.int64))
    ids.to_frame().write_parquet(work / "standalone_ids.parquet")
    lsh = near_dedup.lsh_params(rules) if hasattr(near_dedup, "lsh_params") else None
    _write_json(work / "ours.json", {"n_texts": len(texts), "seconds": seconds, "cpu_s": cpu, "bands_rows": lsh,
                                     "tree_peak_rss_mb": round(sampler.peak / 2 ** 20, 1), **_rusage_mb()})


def child_peer(work: Path) -> None:
    sys.path.insert(0, str(PEER_DIR))
    import datasketch
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    ids, texts = _standalone(work)
    n = len(texts)
    sampler = RssSampler()
    sampler.start()
    cpu0, t0 = _cpu_s(), time.perf_counter()
    sigs = []
    for t in texts:
        m = MinHash(num_perm=NUM_PERM)
        # The same shingles as ours (see clean_data.shingles: lower-cased, whitespace folded, char 5-grams).
        m.update_batch([s.encode("utf-8") for s in cd.shingles(t)])
        sigs.append(m)
    t_sig = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for i, m in enumerate(sigs):
            session.insert(i, m, check_duplication=False)
    t_ins = time.perf_counter()
    edges = []
    for i, m in enumerate(sigs):
        edges.extend((i, j) for j in lsh.query(m) if j > i)  # each unordered pair once
    t_q = time.perf_counter()
    cpu = _cpu_s() - cpu0
    verified = [(i, j) for i, j in edges if sigs[i].jaccard(sigs[j]) >= THRESHOLD]
    t_v = time.perf_counter()
    sampler.stop()
    np.save(work / "peer_labels.npy", _union_find(n, edges))
    np.save(work / "peer_verified_labels.npy", _union_find(n, verified))
    _write_json(work / "peer.json", {
        "n_texts": n, "version": getattr(datasketch, "__version__", "?"), "bands_rows": [lsh.b, lsh.r],
        "signature_s": t_sig - t0, "insert_s": t_ins - t_sig, "query_s": t_q - t_ins, "verify_s": t_v - t_q,
        "seconds": t_q - t0, "cpu_s": cpu, "candidate_pairs": len(edges), "verified_pairs": len(verified),
        "tree_peak_rss_mb": round(sampler.peak / 2 ** 20, 1), **_rusage_mb()})


def _union_find(n: int, edges) -> "np.ndarray":
    import numpy as np

    parent = list(range(n))

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(i) for i in range(n)], dtype=np.int64)


# ------------------------------------------------------------------------------------------------ scoring
def _prf(tp: int, predicted: int, truth: int) -> dict:
    p = tp / predicted if predicted else None
    r = tp / truth if truth else None
    f1 = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "predicted_pairs": predicted, "truth_pairs": truth}


def _texts_of(work: Path, pair_ids: list[str]) -> dict[str, tuple[str, str]]:
    """pair_id -> (prompt, response): the non-assistant and the assistant contents, each joined by newlines."""
    import polars as pl

    role = pl.element().struct.field("role")
    content = pl.element().struct.field("content")
    df = (pl.scan_parquet(work / "input.parquet").filter(pl.col("pair_id").is_in(pair_ids))
          .select("pair_id",
                  pl.col("messages").list.eval(content.filter(role != "assistant")).list.join("\n").alias("p"),
                  pl.col("messages").list.eval(content.filter(role == "assistant")).list.join("\n").alias("r"))
          .collect())
    return {k: (p, r) for k, p, r in df.iter_rows()}


def _true_similarity(a: tuple[str, str], b: tuple[str, str], criterion: str) -> float:
    # 'text': the whole conversation (what the standalone runs compare); 'parts': the smaller of the prompt
    # and response similarities (clean_pairs calls a pair a near-duplicate only when both are similar).
    if criterion == "text":
        return cd.jaccard(cd.conversation_text(a[0], "", a[1]), cd.conversation_text(b[0], "", b[1]))
    return min(cd.jaccard(a[0], b[0]), cd.jaccard(a[1], b[1]))


def pair_scores(labels, truth_pairs, work: Path, criterion: str, negatives=None, audit_limit: int = 2000) -> dict:
    """Pairwise P/R/F1 of a clustering.

    labels: frame (pair_id, label) of the rows that were clustered (label null or absent = not clustered).
    truth_pairs: frame (a, b, kind, jaccard) of planted pairs (kind 'near' or 'exact'); recall is over 'near'.
    criterion: 'parts' or 'text', the similarity the clustering is meant to reflect (see _true_similarity).
    negatives: frame (a, b) of planted hard negatives; clustering one is a false positive, counted apart too.
    """
    import polars as pl

    labels = labels.filter(pl.col("label").is_not_null())
    sizes = labels.group_by("label").len()
    predicted = int((sizes["len"].cast(pl.Int64) * (sizes["len"].cast(pl.Int64) - 1) // 2).sum())
    t = (truth_pairs.join(labels.rename({"pair_id": "a", "label": "la"}), on="a", how="left")
         .join(labels.rename({"pair_id": "b", "label": "lb"}), on="b", how="left"))
    t = t.with_columns(eligible=pl.col("la").is_not_null() & pl.col("lb").is_not_null(),
                       found=(pl.col("la") == pl.col("lb")).fill_null(False))
    near = t.filter(pl.col("kind") == "near")
    tp_all = int(t["found"].sum())  # planted pairs of either kind clustered together are correct
    out = _prf(tp_all, predicted, int(near["eligible"].sum()))
    near_found = int(near["found"].sum())
    out.update(recall=near_found / max(1, int(near["eligible"].sum())), tp_near=near_found,
               planted_near_pairs=near.height, near_pairs_not_reaching_dedup=int((~near["eligible"]).sum()),
               exact_pairs_clustered=tp_all - near_found)
    p, r = out["precision"], out["recall"]
    out["f1"] = 2 * p * r / (p + r) if p and r else 0.0
    eligible = near.filter(pl.col("eligible"))
    out["recall_by_true_jaccard"] = {
        label: round(float(s["found"].mean()), 4) if s.height else None
        for label, lo, hi in (("<0.60", 0.0, 0.60), ("0.60-0.80", 0.60, 0.80), (">=0.80", 0.80, 1.01))
        for s in [eligible.filter((pl.col("jaccard") >= lo) & (pl.col("jaccard") < hi))]}
    out["recall_by_variant"] = {v: {"pairs": g.height, "recall": round(float(g["found"].mean()), 4)}
                                for (v,), g in eligible.sort("variant").group_by("variant", maintain_order=True)}
    missed = near.filter(pl.col("eligible") & ~pl.col("found"))
    out["missed_true_jaccard"] = {"count": missed.height,
                                  "min": missed["jaccard"].min(), "median": missed["jaccard"].median()}
    # Unplanted predicted pairs, from clusters small enough to enumerate, with their true Jaccard.
    small = sizes.filter((pl.col("len") > 1) & (pl.col("len") <= 50))["label"]
    members = labels.filter(pl.col("label").is_in(small.implode()))
    pairs = (members.join(members, on="label", suffix="_b").filter(pl.col("pair_id") < pl.col("pair_id_b"))
             .select(pl.col("pair_id").alias("a"), pl.col("pair_id_b").alias("b")))
    known = pl.concat([truth_pairs.select("a", "b"),
                       truth_pairs.select(pl.col("b").alias("a"), pl.col("a").alias("b"))])
    fp = pairs.join(known, on=["a", "b"], how="anti")
    out["unplanted_pairs"] = predicted - tp_all
    if negatives is not None:
        neg = (negatives.join(labels.rename({"pair_id": "a", "label": "la"}), on="a", how="inner")
               .join(labels.rename({"pair_id": "b", "label": "lb"}), on="b", how="inner"))
        neg = neg.with_columns(flagged=pl.col("la") == pl.col("lb"))
        flagged = int(neg["flagged"].sum())
        out["hard_negatives"] = {"pairs": neg.height, "flagged": flagged,
                                 "rate": round(flagged / neg.height, 5) if neg.height else None,
                                 "by_variant": {v: {"pairs": g.height, "flagged": int(g["flagged"].sum())}
                                                for (v,), g in neg.sort("variant").group_by("variant",
                                                                                            maintain_order=True)}}
    out["largest_cluster"] = int(sizes["len"].max() or 0)
    sample = fp.head(audit_limit)
    if sample.height:
        texts = _texts_of(work, sorted(set(sample["a"].to_list()) | set(sample["b"].to_list())))
        js = [_true_similarity(texts[a], texts[b], criterion) for a, b in sample.iter_rows()]
        out["unplanted_audit"] = {"criterion": criterion, "checked": len(js),
                                  "true_jaccard_ge_threshold": sum(j >= THRESHOLD for j in js),
                                  "max": round(max(js), 4), "median": round(sorted(js)[len(js) // 2], 4)}
    else:
        out["unplanted_audit"] = {"checked": 0}
    return out


def _negatives(truth):
    import polars as pl

    return truth.filter(pl.col("role") == "far_copy").select(pl.col("pair_id").alias("a"),
                                                             pl.col("partner_pair_id").alias("b"), "variant")


def evaluate(work: Path) -> dict:
    import polars as pl

    truth = pl.read_parquet(work / "truth.parquet")
    cleaned = pl.read_parquet(work / "cleaned.parquet")
    rejected = pl.read_parquet(work / "rejected.parquet")
    copies = truth.filter(pl.col("role").is_in(["near_copy", "exact_copy"]))
    # 'jaccard' is the binding similarity of a planted near pair: min over prompt, response and whole text.
    truth_pairs = copies.select(pl.col("pair_id").alias("a"), pl.col("partner_pair_id").alias("b"),
                                pl.when(pl.col("role") == "near_copy").then(pl.lit("near")).otherwise(pl.lit("exact"))
                                .alias("kind"), "jaccard", "variant")
    res: dict = {}

    # Near duplicates as clean_pairs resolved them.
    cluster_col = pl.col("cluster_id") if "cluster_id" in cleaned.columns else pl.col("pair_id")
    labels = pl.concat([
        cleaned.select("pair_id", cluster_col.alias("label")),
        rejected.filter(pl.col("reason") == "near_duplicate").select("pair_id", pl.col("kept_pair_id").alias("label")),
    ])
    res["near_dup"] = pair_scores(labels, truth_pairs, work, "parts", _negatives(truth))

    # Exact duplicates: a planted exact pair is found when one of its rows is rejected as exact_duplicate. Pairs
    # with a row rejected earlier (a quality filter) never reach exact dedup and are left out of recall.
    exact_rej = rejected.filter(pl.col("reason") == "exact_duplicate").select("pair_id")
    earlier = rejected.filter(~pl.col("reason").is_in(["exact_duplicate", "near_duplicate"]))["pair_id"].implode()
    ex_all = truth_pairs.filter(pl.col("kind") == "exact").with_columns(
        found=pl.col("a").is_in(exact_rej["pair_id"].implode()) | pl.col("b").is_in(exact_rej["pair_id"].implode()),
        eligible=~(pl.col("a").is_in(earlier) | pl.col("b").is_in(earlier)))
    ex = ex_all.filter(pl.col("eligible"))
    planted_exact_rows = set(ex_all["a"].to_list()) | set(ex_all["b"].to_list())
    tp_rows = int(exact_rej["pair_id"].is_in(list(planted_exact_rows)).sum())
    res["exact_dup"] = {
        "planted_pairs": ex_all.height, "pairs_not_reaching_dedup": ex_all.height - ex.height,
        "found": int(ex["found"].sum()),
        "recall": float(ex["found"].mean()) if ex.height else None,
        "precision": tp_rows / exact_rej.height if exact_rej.height else None,
        "rejects": exact_rej.height,
        "recall_by_variant": {v: round(float(g["found"].mean()), 4)
                              for (v,), g in ex.group_by("variant", maintain_order=True)},
        "pairs_clustered_by_near_dedup_instead": res["near_dup"]["exact_pairs_clustered"],
    }

    # PII per row.
    pii_rej = rejected.filter(pl.col("reason") == "pii")["pair_id"]
    kinds_col = pl.col("pii_kinds") if "pii_kinds" in cleaned.columns else pl.lit(None, pl.Utf8)
    flagged = pl.concat([cleaned.select("pair_id", kinds_col.alias("found")).filter(pl.col("found").is_not_null()),
                         pii_rej.to_frame().with_columns(found=pl.lit("(dropped)"))])
    planted = truth.filter(pl.col("role") == "pii").select("pair_id", "planted_pii")
    p = planted.join(flagged, on="pair_id", how="left").with_columns(
        in_cleaned=pl.col("pair_id").is_in(cleaned["pair_id"].implode()) | pl.col("pair_id").is_in(pii_rej.implode()))
    reach = p.filter(pl.col("in_cleaned"))
    by_kind = {}
    for kind in ("EMAIL", "PHONE", "BANK_CARD", "CN_ID"):
        k = reach.filter(pl.col("planted_pii").str.contains(kind))
        hit = k.filter(pl.col("found").str.contains(kind) | (pl.col("found") == "(dropped)"))
        by_kind[kind] = {"planted_rows": k.height, "recall": round(hit.height / k.height, 4) if k.height else None}
    fp = flagged.join(planted, on="pair_id", how="anti")
    decoys = truth.filter(pl.col("role") == "pii_decoy").select("pair_id", "variant").join(
        flagged, on="pair_id", how="left")
    res["pii"] = {
        "planted_rows": planted.height, "rows_reaching_output": reach.height,
        "planted_rows_rejected_for_other_reasons": planted.height - reach.height,
        "recall": reach["found"].is_not_null().mean() if reach.height else None,
        "precision": (flagged.height - fp.height) / flagged.height if flagged.height else None,
        "flagged_rows": flagged.height, "false_positive_rows": fp.height,
        "false_positive_kinds": fp.group_by("found").len().sort("len", descending=True).head(10).to_dicts(),
        "decoys": {"rows": decoys.height, "flagged": int(decoys["found"].is_not_null().sum()),
                   "flagged_by_kind": {k: int(g["found"].is_not_null().sum())
                                       for (k,), g in decoys.group_by("variant", maintain_order=True)}},
        "recall_by_kind": by_kind,
    }

    # Junk: every planted junk row should be rejected, ideally for the planted reason.
    j = truth.filter(pl.col("role") == "junk").select("pair_id", "planted_junk").join(
        rejected.select("pair_id", "reason"), on="pair_id", how="left")
    res["junk"] = {
        "planted_rows": j.height,
        "recall": float(j["reason"].is_not_null().mean()) if j.height else None,
        "expected_reason": float((j["reason"] == j["planted_junk"]).fill_null(False).mean()) if j.height else None,
        "by_kind": {k: {"rows": g.height, "rejected": round(float(g["reason"].is_not_null().mean()), 4),
                        "reasons": dict(g.group_by("reason").len().sort("len", descending=True).iter_rows())}
                    for (k,), g in j.group_by("planted_junk", maintain_order=True)},
    }

    # Rejects of rows that carry no planted defect: the cleaner's verdicts on real text.
    clean_rows = truth.filter(~pl.col("role").is_in(["junk"]))
    other = rejected.filter(~pl.col("reason").is_in(["near_duplicate", "exact_duplicate"])).join(
        clean_rows.select("pair_id"), on="pair_id", how="semi")
    res["unplanted_rejects"] = {
        "rows": other.height, "share": round(other.height / max(1, clean_rows.height), 5),
        "by_reason": dict(other.group_by("reason").len().sort("len", descending=True).iter_rows()),
        "examples": other.group_by("reason").head(2).select("reason", "detail").to_dicts(),
    }
    return res


def evaluate_standalone(work: Path, name: str) -> dict:
    import numpy as np
    import polars as pl

    truth = pl.read_parquet(work / "truth.parquet")
    ids = pl.read_parquet(work / "standalone_ids.parquet")["pair_id"] if (work / "standalone_ids.parquet").exists() \
        else _standalone(work)[0]
    lab = np.load(work / f"{name}_labels.npy")
    labels = pl.DataFrame({"pair_id": ids, "label": lab})
    # The standalone runs compare whole conversations, so their recall is bucketed by the whole-text Jaccard.
    near = truth.filter(pl.col("role") == "near_copy").select(
        pl.col("pair_id").alias("a"), pl.col("partner_pair_id").alias("b"), pl.lit("near").alias("kind"),
        pl.col("jaccard_text").alias("jaccard"), "variant")
    s = pair_scores(labels, near, work, "text", _negatives(truth), audit_limit=500)
    return {k: s[k] for k in ("precision", "recall", "f1", "tp", "predicted_pairs", "truth_pairs",
                              "recall_by_true_jaccard", "recall_by_variant", "hard_negatives", "unplanted_pairs",
                              "unplanted_audit", "largest_cluster")}


# ------------------------------------------------------------------------------------------------ driver
def _run_child(args: list[str], timeout: float, log: Path) -> float:
    t0 = time.perf_counter()
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(args)}\n")
        fh.flush()
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], stdout=fh,
                              stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if proc.returncode:
        raise RuntimeError(f"child {args[0]} failed (exit {proc.returncode}); see {log}:\n"
                           + "\n".join(log.read_text(encoding="utf-8").splitlines()[-25:]))
    return time.perf_counter() - t0


def ensure_peer(install: bool) -> str | None:
    """None when datasketch imports (from PEER_DIR or the environment), else why not."""
    check = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(PEER_DIR)!r}); import datasketch"]
    if subprocess.run(check, capture_output=True).returncode == 0:
        return None
    if not install:
        return "datasketch not installed and --no-install given"
    print(f"installing datasketch into {PEER_DIR} (benchmark only)", flush=True)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(PEER_DIR),
                        "datasketch"], capture_output=True, text=True)
    if r.returncode or subprocess.run(check, capture_output=True).returncode:
        return f"datasketch install failed: {(r.stderr or r.stdout).strip()[-300:]}"
    return None


def run_size(n: int, args, work_root: Path, peer_problem: str | None) -> dict:
    work = work_root / f"n{n}"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "log.txt"
    row: dict = {"n": n, "ran_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    print(f"[N={n:,}] building data...", flush=True)
    _run_child(["_build", str(work), str(n), str(args.seed)], args.timeout, log)
    row["build"] = json.loads((work / "build.json").read_text())
    print(f"[N={n:,}] built in {row['build']['seconds']}s; running clean_pairs...", flush=True)
    _run_child(["_clean", str(work), "" if args.workers is None else str(args.workers)], args.timeout, log)
    c = json.loads((work / "clean.json").read_text())
    row["clean"] = c
    row["pairs_per_s"] = n / c["seconds"]
    row["operator_pairs_per_s"] = {k: (n / v if v else None) for k, v in c["timings"].items()}
    row["peak_rss_mb"] = max(c["tree_peak_rss_mb"], c["self_maxrss_mb"])
    row["pairs_per_cpu_s"] = n / c["cpu_s"]
    print(f"[N={n:,}] clean_pairs {c['seconds']:.1f}s ({row['pairs_per_s']:,.0f} pairs/s), "
          f"peak RSS {row['peak_rss_mb']:,.0f} MB; scoring...", flush=True)
    row.update(evaluate(work))

    nd: dict = {}
    try:
        import importlib.util
        if importlib.util.find_spec("instr_assets.core.clean.near_dedup") is None:
            raise RuntimeError("instr_assets/core/near_dedup.py does not exist yet")
        _run_child(["_ours", str(work)], args.timeout, log)
        o = json.loads((work / "ours.json").read_text())
        o["texts_per_s"] = o["n_texts"] / o["seconds"]
        o.update(evaluate_standalone(work, "ours"))
        nd["ours"] = o
        print(f"[N={n:,}] near_duplicate_clusters alone: {o['seconds']:.2f}s, F1 {o['f1']:.4f}", flush=True)
    except Exception as e:  # reported, not fatal: the rest of the row stands
        nd["ours"] = {"skipped": str(e)[:500]}
    if peer_problem:
        nd["datasketch"] = {"skipped": peer_problem}
    elif n not in args.peer_sizes:
        nd["datasketch"] = {"skipped": f"N={n:,} not in --peer-sizes (datasketch would take too long); "
                                       "not extrapolated"}
    else:
        print(f"[N={n:,}] datasketch MinHashLSH...", flush=True)
        try:
            _run_child(["_peer", str(work)], args.peer_timeout, log)
            p = json.loads((work / "peer.json").read_text())
            p["texts_per_s"] = p["n_texts"] / p["seconds"]
            p["as_returned"] = evaluate_standalone(work, "peer")
            p["verified"] = evaluate_standalone(work, "peer_verified")
            nd["datasketch"] = p
            print(f"[N={n:,}] datasketch {p['seconds']:.1f}s (+{p['verify_s']:.1f}s verify), "
                  f"F1 {p['as_returned']['f1']:.4f} / verified {p['verified']['f1']:.4f}", flush=True)
        except subprocess.TimeoutExpired:
            nd["datasketch"] = {"skipped": f"ran over --peer-timeout {args.peer_timeout}s; not extrapolated"}
    if "seconds" in nd.get("ours", {}) and "seconds" in nd.get("datasketch", {}):
        nd["throughput_ratio"] = nd["ours"]["texts_per_s"] / nd["datasketch"]["texts_per_s"]
        # Per CPU second: ours hashes with two threads, datasketch with one.
        nd["cpu_ratio"] = nd["datasketch"]["cpu_s"] / nd["ours"]["cpu_s"]
        nd["throughput_ratio_vs_verified"] = nd["ours"]["texts_per_s"] / (
            nd["datasketch"]["n_texts"] / (nd["datasketch"]["seconds"] + nd["datasketch"]["verify_s"]))
    row["near_dup_standalone"] = nd
    if not args.keep_data:
        shutil.rmtree(work, ignore_errors=True)
    return row


def scaling(rows: dict[int, dict]) -> dict:
    """time(N2) / time(N1) / (N2/N1) for consecutive sizes: 1.0 is linear."""
    out = {}
    sizes = sorted(rows)
    for a, b in zip(sizes, sizes[1:]):
        ra, rb = rows[a], rows[b]
        f = b / a
        key = f"{a}->{b}"
        out[key] = {"overall": rb["clean"]["seconds"] / ra["clean"]["seconds"] / f}
        for op, s in rb["clean"]["timings"].items():
            s0 = ra["clean"]["timings"].get(op)
            if s0 and s:
                out[key][op] = s / s0 / f
        so, sa = rb["near_dup_standalone"].get("ours", {}), ra["near_dup_standalone"].get("ours", {})
        if "seconds" in so and "seconds" in sa:
            out[key]["near_duplicate_clusters_alone"] = so["seconds"] / sa["seconds"] / (so["n_texts"] / sa["n_texts"])
    return out


def _f(v, d=3, pct=False):
    if v is None:
        return "–"
    if pct:
        return f"{100 * v:.{d}f}%"
    if isinstance(v, float):
        return f"{v:,.{d}f}"
    return f"{v:,}"


def _by_variant(rows: list[dict]) -> list[str]:
    """The clean_pairs near-dup recall per planted variant, and hard negatives flagged per variant."""
    near, far = list(cc.NEAR_VARIANTS), list(cc.FAR_VARIANTS)
    L = ["## Near-duplicates by variant (clean_pairs)", "",
         "| N | " + " | ".join(f"recall: {v}" for v in near) + " | "
         + " | ".join(f"hard negatives flagged: {v}" for v in far) + " |",
         "|---|" + "---|" * (len(near) + len(far))]
    for r in rows:
        nd = r["near_dup"]
        rec = nd.get("recall_by_variant", {})
        neg = (nd.get("hard_negatives") or {}).get("by_variant", {})
        cells = [f"{_f(rec[v]['recall'], 4)} ({rec[v]['pairs']:,})" if v in rec else "–" for v in near]
        cells += [f"{neg[v]['flagged']:,} of {neg[v]['pairs']:,}" if v in neg else "–" for v in far]
        L.append(f"| {r['n']:,} | " + " | ".join(cells) + " |")
    return L + ["", "Recall per variant over the planted pairs whose two rows reached near-dedup (their number in "
                "brackets). A run from before these variants existed shows '–'.", ""]


def markdown(result: dict) -> str:
    rows = [result["runs"][k] for k in sorted(result["runs"], key=int)]
    meta = result["meta"]
    ops = []
    for r in rows:
        for k in r["clean"]["timings"]:
            if k not in ops:
                ops.append(k)
    L = ["# Cleaning benchmark", "",
         f"`bench/clean_bench.py` — {meta['machine']}; polars {meta['polars']}, Python {meta['python']}. "
         "Data: synthetic pairs from the real records in ../shared/data with planted exact duplicates "
         f"({meta['rates']['exact']:.0%}), near-duplicates ({meta['rates']['near']:.0%}: typos at "
         f"{cc.TYPO_RATE[0]:.0%}-{cc.TYPO_RATE[1]:.0%} of the characters, a sentence added or removed, one typo in "
         f"a {cc.SHORT_PROMPT[0]}-{cc.SHORT_PROMPT[1]} character prompt; numbers and names intact), hard negatives "
         f"({meta['rates']['far']:.0%}: the same prompt with another answer, one number changed, a named value "
         "changed), PII rows "
         f"({meta['rates']['pii']:.0%}), PII decoys ({meta['rates']['pii_decoy']:.0%}) and junk rows "
         f"({meta['rates']['junk']:.0%}); see bench/clean_data.py. Each stage ran in a fresh subprocess; "
         "sizes may come from separate invocations (`ran_at` in the JSON).", "",
         "## The cleaned_pairs stage (cleaning.clean_parquet)", "",
         "| N | seconds | pairs/s | CPU s | peak RSS MB | near-dup P / R / F1 | hard negatives flagged | "
         "exact-dup P / R | PII P / R | PII decoys flagged | junk rejected | other rejects |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        nd, ex, pii = r["near_dup"], r["exact_dup"], r["pii"]
        hn = nd.get("hard_negatives") or {}
        L.append(f"| {r['n']:,} | {r['clean']['seconds']:.1f} | {r['pairs_per_s']:,.0f} | {r['clean']['cpu_s']:.1f} | "
                 f"{r['peak_rss_mb']:,.0f} | {_f(nd['precision'], 4)} / {_f(nd['recall'], 4)} / {_f(nd['f1'], 4)} | "
                 f"{hn.get('flagged', '–')} of {hn.get('pairs', '–')} | "
                 f"{_f(ex['precision'], 4)} / {_f(ex['recall'], 4)} | "
                 f"{_f(pii['precision'], 4)} / {_f(pii['recall'], 4)} | "
                 f"{pii['decoys']['flagged']} of {pii['decoys']['rows']} | "
                 f"{_f(r['junk']['recall'], 4)} | {r['unplanted_rejects']['rows']:,} "
                 f"({_f(r['unplanted_rejects']['share'], 2, True)}) |")
    L += ["", "Peak RSS is the larger of the process's own ru_maxrss and the sampled sum over the process and its "
          "worker processes. CPU s is user + system time of the process and its workers (steadier than wall "
          "time when other jobs share the machine; the 1-minute load average at start and end is in the JSON). "
          "Hard negatives share most of their text with a row and are still other pairs (issue 9): flagging one is "
          "a false positive, already counted in P. 'other rejects' are rows with no planted defect rejected by a "
          "per-row operator (details in the JSON).", ""]
    L += _by_variant(rows)
    L += ["## pairs/s per operator", "",
          "| N | " + " | ".join(ops) + " |", "|---|" + "---|" * len(ops)]
    for r in rows:
        L.append(f"| {r['n']:,} | " + " | ".join(_f(r["operator_pairs_per_s"].get(k), 0) for k in ops) + " |")
    L += ["", "N divided by the operator's seconds from `timings`. The per-row operators' seconds are summed over "
          "worker processes (CPU-side time), so with 2 workers their wall-clock rate is up to 2x these; "
          "'total' is wall clock.", "",
          "## Near-duplicates: ours vs datasketch on the same texts", "",
          "| N | texts | ours s | ours texts/s | ours P / R / F1 | datasketch s | datasketch texts/s | "
          "datasketch P / R / F1 | + verify: P / R / F1 | ratio | CPU ratio |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        nd = r["near_dup_standalone"]
        o, p = nd.get("ours", {}), nd.get("datasketch", {})
        ours = (f"{o['n_texts']:,} | {o['seconds']:.2f} | {o['texts_per_s']:,.0f} | "
                f"{_f(o['precision'], 4)} / {_f(o['recall'], 4)} / {_f(o['f1'], 4)}") if "seconds" in o \
            else f"– | – | – | skipped: {o.get('skipped', '')[:60]}"
        if "seconds" in p:
            a, v = p["as_returned"], p["verified"]
            peer = (f"{p['seconds']:.1f} | {p['texts_per_s']:,.0f} | {_f(a['precision'], 4)} / {_f(a['recall'], 4)} / "
                    f"{_f(a['f1'], 4)} | {_f(v['precision'], 4)} / {_f(v['recall'], 4)} / {_f(v['f1'], 4)} "
                    f"(+{p['verify_s']:.1f} s) | {nd['throughput_ratio']:.1f}x | {nd['cpu_ratio']:.1f}x |")
        else:
            peer = f"skipped | – | – | – | – | – |"
        L.append(f"| {r['n']:,} | {ours} | {peer}")
    L += ["", "Texts: every row except the planted exact copies and junk (what reaches near-dedup), one text per "
          "row: the message contents joined by newlines (clean_pairs compares prompt and response apart; here "
          "both tools get the same whole text). Both use threshold 0.8 and 128 permutations on "
          "character 5-grams. Ratio = our texts/s over datasketch's texts/s (signatures + insert + query); CPU ratio = "
          "datasketch's CPU seconds over ours. "
          "datasketch's 'P / R / F1' scores its LSH candidates as it returns them; '+ verify' keeps only "
          "candidates whose MinHash estimate is >= 0.8. Ours uses 2 threads for signatures; datasketch is "
          "single-threaded. Against the planted truth, a Jaccard cut at 0.8 finds the copies above it (recall by true "
          "Jaccard in the JSON) but misses most typo copies (a 5% edit rate leaves a Jaccard near 0.6) and flags "
          "every copy with a number or a name changed: the comparison is of throughput and of LSH itself, not of "
          "the cleaner's near-duplicate verdicts (those are the clean_pairs rows above).", ""]
    sc = result.get("scaling", {})
    if sc:
        keys = sorted({k for v in sc.values() for k in v}, key=lambda k: (k != "overall", k))
        L += ["## Scaling (time ratio / size ratio; 1.00 = linear)", "",
              "| sizes | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        for pair, v in sc.items():
            a, b = pair.split("->")
            L.append(f"| {int(a):,} -> {int(b):,} | " + " | ".join(_f(v.get(k), 2) for k in keys) + " |")
        L.append("")
    L += ["## Targets", ""]
    big = result["runs"].get("1000000")
    if big:
        L.append(f"- 1M pairs in at most 90 s (issue 9): {big['clean']['seconds']:.1f} s "
                 f"({'met' if big['clean']['seconds'] <= 90 else 'NOT met'}); peak RSS under 4 GB: "
                 f"{big['peak_rss_mb']:,.0f} MB ({'met' if big['peak_rss_mb'] < 4096 else 'NOT met'}).")
    else:
        L.append("- 1M: not run in this results file.")
    for r in rows:
        nd = r["near_dup_standalone"]
        if "throughput_ratio" in nd:
            f_o, f_p = nd["ours"]["f1"], nd["datasketch"]["as_returned"]["f1"]
            f_v = nd["datasketch"]["verified"]["f1"]
            L.append(f"- N={r['n']:,}: near-dup throughput {nd['throughput_ratio']:.1f}x datasketch's (target >= 5x: "
                     f"{'met' if nd['throughput_ratio'] >= 5 else 'NOT met'}); F1 {f_o:.4f} vs {f_p:.4f} "
                     f"(verified {f_v:.4f}): {'equal or better' if f_o >= max(f_p, f_v) - 1e-12 else 'WORSE'}.")
    if "100000->1000000" in sc:
        v = sc["100000->1000000"]["overall"]
        L.append(f"- Scaling 100k -> 1M: time(1M)/time(100k)/10 = {v:.2f} (1.00 = linear).")
    L.append("")
    return "\n".join(L)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--peer-sizes", default="10000,100000")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help="CleanRules.workers (default: the rules' default)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per build/clean subprocess")
    ap.add_argument("--peer-timeout", type=float, default=900, help="seconds for the datasketch subprocess")
    ap.add_argument("--no-install", action="store_true", help="do not pip-install datasketch into /tmp")
    ap.add_argument("--fresh", action="store_true", help="drop sizes from an earlier run instead of keeping them")
    ap.add_argument("--keep-data", type=Path, default=None, help="keep the generated data and outputs here")
    args = ap.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.peer_sizes = {int(s) for s in args.peer_sizes.split(",") if s}

    cd.require_shared()
    peer_problem = ensure_peer(not args.no_install) if args.peer_sizes & set(args.sizes) else None

    import polars as pl

    result = {"runs": {}}
    if args.out.exists() and not args.fresh:
        result = json.loads(args.out.read_text(encoding="utf-8"))
    result["meta"] = {
        "machine": f"{platform.machine()} {os.cpu_count()}-CPU, {platform.system()} {platform.release()}",
        "python": platform.python_version(), "polars": pl.__version__, "rates": cd.RATES,
        "near_variants": cc.NEAR_VARIANTS, "far_variants": cc.FAR_VARIANTS, "typo_rate": cc.TYPO_RATE,
        "seed": args.seed,
        "threshold": THRESHOLD, "num_perm": NUM_PERM, "ngram": cd.NGRAM,
        "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    work_root = args.keep_data or Path(tempfile.mkdtemp(prefix="clean_bench_"))
    work_root.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    try:
        for n in args.sizes:
            result["runs"][str(n)] = run_size(n, args, work_root, peer_problem)
            result["scaling"] = scaling({int(k): v for k, v in result["runs"].items()})
            _write_json(args.out, result)
            args.out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    finally:
        if not args.keep_data:
            shutil.rmtree(work_root, ignore_errors=True)
    print(markdown(result))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        mode, rest = sys.argv[1], sys.argv[2:]
        if mode == "_build":
            child_build(Path(rest[0]), int(rest[1]), int(rest[2]))
        elif mode == "_clean":
            child_clean(Path(rest[0]), int(rest[1]) if len(rest) > 1 and rest[1] else None)
        elif mode == "_ours":
            child_ours(Path(rest[0]))
        elif mode == "_peer":
            child_peer(Path(rest[0]))
        else:
            sys.exit(f"unknown mode {mode}")
    else:
        main()
