"""The near-duplicate check spread over worker processes (dedup.verify_candidates: shards of whole candidate
components, each read back from the part files and clustered in a worker) decides exactly as one process does:
the same representatives and edit counts, hence the same kept rows, clusters and rejects. Real English and
Chinese pairs from ../shared/data with planted near-copies and hard negatives (bench/near_dup_cases.py)."""
import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import near_dup_cases as cases_mod  # noqa: E402

from instr_assets.core.clean.cleaning import CleanRules, clean_pairs  # noqa: E402
from instr_assets.core.clean.dedup import component_shards, verify_candidates  # noqa: E402
from instr_assets.core.clean.dup_verify import (conversation_text, near_duplicate_representatives,  # noqa: E402
                                                shared_part_keys)
from instr_assets.core.clean.near_dedup import candidate_pairs, minhash_signatures  # noqa: E402
from test_clean_augment_split import unify_yaml  # noqa: E402

RULES = CleanRules()


@pytest.fixture(scope="module")
def planted(data_dir):
    """Conversations (bases, then their planted copies and hard negatives) and their candidate pairs."""
    bases, cases = cases_mod.make_cases(cases_mod.load_pairs(data_dir), per_kind=40, seed=3)
    convs = bases + [c.variant for c in cases]
    sig = minhash_signatures([conversation_text(c) for c in convs], RULES.near_dup)
    shared = shared_part_keys(*(pl.Series(["\n".join(t for r, t in c if (r == "assistant") == answer) for c in convs],
                                          dtype=pl.Utf8) for answer in (False, True)))
    first, second = candidate_pairs(sig, RULES.near_dup, shared)
    return convs, first, second


def _write_parts(convs, folder: Path, parts: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The conversations shuffled into `parts` Parquet files as the cleaning stage writes them; (paths,
    offsets, order), order[i] being the row (over all files) that holds conversation i."""
    rows = np.random.default_rng(seed).permutation(len(convs))  # file row j holds conversation rows[j]
    messages = [[{"role": r, "content": t} for r, t in convs[i]] for i in rows.tolist()]
    paths, offsets = [], [0]
    for k, chunk in enumerate(np.array_split(np.arange(len(convs)), parts)):
        path = folder / f"part-{k}.parquet"
        pl.DataFrame({"messages": [messages[j] for j in chunk.tolist()]}).write_parquet(path)
        paths.append(str(path))
        offsets.append(offsets[-1] + chunk.size)
    order = np.empty(len(convs), dtype=np.intp)
    order[rows] = np.arange(len(convs))
    return paths, np.array(offsets), order


def test_components_stay_whole_in_one_shard(planted):
    convs, first, second = planted
    cost = np.array([len(conversation_text(c)) for c in convs])
    shards = component_shards(first, second, cost, 3)
    assert len(shards) == 3
    together = np.concatenate(shards)
    assert np.array_equal(np.sort(together), np.arange(first.size))  # every pair in exactly one shard
    shard_of_row = {}
    for s, pairs in enumerate(shards):
        for row in np.concatenate([first[pairs], second[pairs]]).tolist():
            assert shard_of_row.setdefault(row, s) == s, f"row {row} in shards {shard_of_row[row]} and {s}"
    # Balanced to within the largest component's cost.
    loads = [(cost[first[p]] + cost[second[p]]).sum() for p in shards]
    assert max(loads) < 2 * min(loads)


def test_sharded_check_in_worker_processes_matches_one_process(planted, tmp_path):
    convs, first, second = planted
    expected_rep, expected_edits = near_duplicate_representatives(convs, RULES.near_dup, RULES.near_dup_verify)
    paths, offsets, order = _write_parts(convs, tmp_path, parts=4, seed=0)
    cost = np.array([len(conversation_text(c)) for c in convs])
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        rep, edits = verify_candidates(paths, offsets, order, first, second, cost, RULES.near_dup_verify,
                                       pool.map, 3)
    assert (expected_rep != np.arange(len(convs))).sum() >= 300  # the planted copies were clustered
    np.testing.assert_array_equal(rep, expected_rep)
    np.testing.assert_array_equal(edits, expected_edits)
    # And in this process, one shard and three.
    for shards in (1, 3):
        rep, edits = verify_candidates(paths, offsets, order, first, second, cost, RULES.near_dup_verify,
                                       map, shards)
        np.testing.assert_array_equal(rep, expected_rep)
        np.testing.assert_array_equal(edits, expected_edits)


def test_cleaning_stage_with_two_workers_matches_one(planted, tmp_path):
    # Through clean_pairs: a pool of two workers (per-row operators and the check in two shards) against
    # everything in this process.
    convs, _, _ = planted
    picked = convs[:300] + convs[-900:]  # bases, and copies and negatives of some of them
    records = [{"instruction": c[0][1], "input": "", "output": c[1][1]} for c in picked if len(c) == 2]
    path = tmp_path / "planted.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "planted.yaml").write_text(f"sources:\n  - {{name: planted, format: alpaca, path: '{path}'}}\n",
                                           encoding="utf-8")
    _, unified, _ = unify_yaml(tmp_path / "planted.yaml")
    one_cleaned, one_rejected = clean_pairs(unified, replace(RULES, workers=1, chunk_rows=250))
    two_cleaned, two_rejected = clean_pairs(unified, replace(RULES, workers=2, chunk_rows=250))
    assert one_rejected.filter(pl.col("reason") == "near_duplicate").height >= 50
    assert one_cleaned.equals(two_cleaned)
    by_row = ["raw_id", "reason"]
    assert one_rejected.sort(by_row).equals(two_rejected.sort(by_row))
