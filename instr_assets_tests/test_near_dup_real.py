"""Near-duplicates on real text: copies planted into real English and Chinese instruction pairs from
../shared/data (bench/near_dup_cases.py) must be found, and hard negatives (same long prompt with another
answer, another number or named value, a conversation branch with another final answer) must stay apart."""
import json
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import near_dup_cases as cases_mod  # noqa: E402

from instr_assets.core.clean.cleaning import clean_pairs  # noqa: E402
from test_clean_augment_split import unify_yaml  # noqa: E402


@pytest.fixture(scope="module")
def planted(data_dir):
    bases, cases = cases_mod.make_cases(cases_mod.load_pairs(data_dir), per_kind=80, seed=0)
    rep, table = cases_mod.run(cases, bases)
    return bases, cases, rep, table


def test_recall_per_edit_kind_and_language_is_at_least_95_percent(planted):
    _, cases, _, table = planted
    copies = {c.kind for c in cases if c.duplicate}
    assert {"typos_5pct", "sentence_added", "sentence_removed", "short_prompt_typo"} <= copies
    low = {k: f"{hit}/{total}" for k, (hit, total) in table.items() if k[0] in copies and hit < 0.95 * total}
    assert not low, low
    assert {lang for _, lang in table} == {"en", "zh"}


def test_at_most_1_percent_of_hard_negatives_merged(planted):
    _, cases, _, table = planted
    negatives = {k: v for k, v in table.items() if not any(c.duplicate for c in cases if c.kind == k[0])}
    assert {k[0] for k in negatives} == {"long_prompt_other_answer", "number_changed", "named_value_changed",
                                         "branch_other_final_answer"}
    merged, total = sum(v[0] for v in negatives.values()), sum(v[1] for v in negatives.values())
    assert total >= 400 and merged <= 0.01 * total, negatives


def test_the_cleaning_stage_drops_planted_copies_and_keeps_hard_negatives(planted, tmp_path):
    # Through clean_pairs (part files, candidates, texts read back): the first 20 cases of each kind and
    # language, written as one alpaca file.
    _, cases, _, _ = planted
    picked, seen = [], {}
    for c in cases:
        if c.kind != "branch_other_final_answer" and seen.get((c.kind, c.lang), 0) < 20:
            seen[(c.kind, c.lang)] = seen.get((c.kind, c.lang), 0) + 1
            picked.append(c)
    records = [{"instruction": conv[0][1], "input": "", "output": conv[1][1]}
               for c in picked for conv in (c.base, c.variant)]
    path = tmp_path / "planted.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "planted.yaml").write_text(f"sources:\n  - {{name: planted, format: alpaca, path: '{path}'}}\n",
                                           encoding="utf-8")
    _, unified, _ = unify_yaml(tmp_path / "planted.yaml")
    cleaned, rejected = clean_pairs(unified)
    raw_of = {int(loc.strip("[]")): rid for loc, rid in unified.select("locator", "raw_id").iter_rows()}
    dup = {r["raw_id"] for r in rejected.filter(pl.col("reason").is_in(["near_duplicate", "exact_duplicate"]))
           .iter_rows(named=True)}
    survivors = set(cleaned["raw_id"]) | dup  # rows the per-row filters let through to dedup
    found = missed = merged = negatives = 0
    for i, c in enumerate(picked):
        a, b = raw_of[2 * i], raw_of[2 * i + 1]
        if not {a, b} <= survivors:
            continue
        together = a in dup or b in dup
        if c.duplicate:
            found, missed = found + together, missed + (not together)
        else:
            merged, negatives = merged + together, negatives + 1
    assert found >= 0.95 * (found + missed) and found + missed >= 200
    assert merged <= 0.01 * negatives and negatives >= 100
