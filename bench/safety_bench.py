"""Precision and recall of the content-safety rules per category on the hand-labelled set in
bench/data/safety_labelled.jsonl, and their cost per row on real pairs from ../shared/data.

    .venv/bin/python bench/safety_bench.py [labelled.jsonl]

bench/data/safety_heldout.jsonl is a second, smaller set written after the rules were tuned on the first;
its scores are the fairer estimate.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

from instr_assets.core.clean import safety

HERE = Path(__file__).resolve().parent
LABELLED = HERE / "data" / "safety_labelled.jsonl"
SHARED = HERE.parents[1] / "shared" / "data"


def _text(row: dict) -> str:
    return "\n".join((row["instruction"], row.get("input", ""), row["response"]))


def scores(rows: list[dict]) -> tuple[pl.DataFrame, list[tuple[str, str, str]]]:
    """Per category: true positives, false positives, false negatives, precision, recall; and the errors."""
    errors = []
    stats = {c: [0, 0, 0] for c in safety.CATEGORIES}
    for row in rows:
        issue = safety.safety_issue(_text(row))
        got = issue[0].removeprefix("unsafe_") if issue else "safe"
        want = row["label"]
        if got == want:
            if want != "safe":
                stats[want][0] += 1
            continue
        errors.append((want, got, row["instruction"][:70] + (f" | {issue[1][:60]}" if issue else "")))
        if got != "safe":
            stats[got][1] += 1
        if want != "safe":
            stats[want][2] += 1
    table = pl.DataFrame([{"category": c, "tp": tp, "fp": fp, "fn": fn,
                           "precision": tp / (tp + fp) if tp + fp else 1.0, "recall": tp / (tp + fn) if tp + fn else 1.0}
                          for c, (tp, fp, fn) in stats.items()])
    return table, errors


def real_texts() -> list[str]:
    texts = []
    for name in ("llama_factory/alpaca_en_demo.json", "llama_factory/alpaca_zh_demo.json"):
        for r in json.loads((SHARED / name).read_text(encoding="utf-8")):
            texts.append(_text({"instruction": r["instruction"], "input": r.get("input", ""), "response": r["output"]}))
    return texts


def cost(texts: list[str]) -> dict[str, float]:
    """CPU µs per row (all threads; the machine may be shared) of the prefilter alone and of the whole check
    (prefilter, then the rules on the rows it passes), after a warm-up call that compiles the patterns."""
    series = pl.Series(texts)
    safety.unsafe_rows(series[:10])
    t0 = time.process_time()
    mask = safety.may_be_unsafe(series)
    t1 = time.process_time()
    flagged = safety.unsafe_rows(series)
    t2 = time.process_time()
    return {"rows": len(texts), "prefilter_pass": int(mask.sum()), "flagged": len(flagged),
            "us_per_row_prefilter": round(1e6 * (t1 - t0) / len(texts), 2),
            "us_per_row_total": round(1e6 * (t2 - t1) / len(texts), 2)}


def main() -> None:
    labelled = Path(sys.argv[1]) if len(sys.argv) > 1 else LABELLED
    rows = [json.loads(line) for line in labelled.read_text(encoding="utf-8").splitlines() if line.strip()]
    table, errors = scores(rows)
    pl.Config.set_tbl_rows(20)
    print(f"{len(rows)} labelled rows ({sum(r['label'] == 'safe' for r in rows)} safe)")
    print(table)
    for want, got, what in errors:
        print(f"  want {want:14s} got {got:14s} {what}")
    if SHARED.exists():
        texts = real_texts()
        print("real alpaca en+zh pairs:", cost(texts))
        for i, issue in safety.unsafe_rows(pl.Series(texts)).items():
            print("  real row flagged:", issue, "|", texts[i][:80].replace("\n", " "))


if __name__ == "__main__":
    main()
