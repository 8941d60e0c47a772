"""Figures and reports of bench/quality_bench.py: per-class summaries with Wilson intervals, runs of several
seeds merged, the Markdown tables and the rejects file for hand reading."""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl

MUST_KEEP = {"keep", "keep_pair", "intact"}
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>|\[[A-Z][A-Z0-9_]*\]")
HAND_READ_HEADING = "## Hand-read sample"


def wilson(k: int, n: int, z: float = 1.96) -> list[float] | None:
    """The Wilson score interval of k successes in n trials (95% by default), rounded to 4 places."""
    if n == 0:
        return None
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def merge_results(results: list[dict]) -> dict:
    """Scored runs of several seeds as one: counts summed per class and reason; row keys prefixed by seed
    (the base rows are the same real rows in every seed, so a pooled n counts planted defects, not rows)."""
    per_class = defaultdict(lambda: {"n": 0, "hit": 0, "reasons": Counter(), "kept_preferred": 0, "preferred_n": 0,
                                     "untestable": 0, "variants": Counter()})
    by_reason = defaultdict(lambda: {"n": 0, "right": 0})
    status, redacted = {}, []
    for i, res in enumerate(results):
        for key, c in res["per_class"].items():
            m = per_class[key]
            for f in ("n", "hit", "kept_preferred", "preferred_n", "untestable"):
                m[f] += c[f]
            m["reasons"].update(c["reasons"])
            m["variants"].update(c["variants"])
        for reason, v in res["by_reason"].items():
            by_reason[reason]["n"] += v["n"]
            by_reason[reason]["right"] += v["right"]
        status.update({f"{i}:{pid}": st for pid, st in res["status"].items()})
        redacted += [f"{i}:{pid}" for pid in res["redacted_untouched"]]
    return {"per_class": per_class, "by_reason": by_reason, "status": status, "redacted_untouched": redacted}


def _family(cls: str) -> str:
    head = cls.split("/")[0]
    if head in ("exact_dup", "near_dup"):
        return "duplicates (exact + near)"
    if head in ("multi_turn", "keep"):
        return cls
    return head


def fp_limit(cls: str) -> float:
    """The issue's limits: 1% for untouched rows and merged hard negatives (real rows sharing a prompt with
    another answer are one), else 5% (precision >= 95%)."""
    hard_negative = cls.startswith(("hard_neg/", "multi_turn/branches", "keep/real_same_prompt"))
    return 0.01 if cls == "untouched" or hard_negative else 0.05


def summarize(result: dict) -> dict:
    """Per-class and per-family figures of one scored run (or of several merged by merge_results)."""
    rows = []
    for (cls, lang, expect), c in sorted(result["per_class"].items()):
        metric = "false_positive_rate" if expect in MUST_KEEP else "recall"
        rows.append({"class": cls, "lang": lang, "expect": expect, "n": c["n"], "metric": metric,
                     **({"excluded_both_removed_otherwise": c["untestable"]} if c["untestable"] else {}),
                     "value": round(c["hit"] / c["n"], 4) if c["n"] else None, "count": c["hit"],
                     "wilson95": wilson(c["hit"], c["n"]),
                     **({"kept_preferred": f"{c['kept_preferred']}/{c['preferred_n']}"} if c["preferred_n"] else {}),
                     "outcomes": dict(c["reasons"].most_common()),
                     **({"by_variant": {v: f"{c['variants'][(v, 'hit')]}/{n}" for (v, kind), n
                                        in sorted(c["variants"].items()) if kind == "n"}} if c["variants"] else {})})
    untouched = [r for r in rows if r["class"] == "untouched"]
    n_u = sum(r["n"] for r in untouched)
    fr_u = sum(r["count"] for r in untouched)
    precision = {reason: {"rejected": v["n"], "rightly": v["right"], "precision": round(v["right"] / v["n"], 4)}
                 for reason, v in sorted(result["by_reason"].items())}
    misses = [r for r in rows if r["metric"] == "recall" and r["value"] is not None and r["value"] < 0.95]
    fps = [r for r in rows if r["metric"] != "recall" and r["value"] is not None and r["value"] > fp_limit(r["class"])]
    missing = [key for key, st in result["status"].items() if st == "MISSING"]
    families = defaultdict(lambda: {"n": 0, "count": 0})
    for r in rows:
        f = families[(_family(r["class"]), r["metric"])]
        f["n"] += r["n"]
        f["count"] += r["count"]
    family_rows = [{"family": fam, "metric": metric, "n": f["n"],
                    "value": round(f["count"] / f["n"], 4) if f["n"] else None}
                   for (fam, metric), f in sorted(families.items())]
    tp = sum(r["count"] for r in rows if r["class"].startswith("pii/"))
    fp_decoys = sum(r["count"] for r in rows if r["class"].startswith("pii_decoy/"))
    n_red = len(result["redacted_untouched"])
    return {"classes": rows, "families": family_rows,
            "untouched": {"rows": n_u, "rejected": fr_u, "false_rejection_rate": round(fr_u / n_u, 4)},
            "pii_precision": {"planted_caught": tp, "decoys_altered": fp_decoys, "untouched_rows_redacted": n_red,
                              "precision_on_planted": round(tp / max(1, tp + fp_decoys), 4),
                              "note": "untouched_rows_redacted are real rows, read by hand (see the rejects file)"},
            "precision_by_reason": precision,
            "rows_lost_without_a_reason": len(missing),
            "targets": {"recall_below_95": len(misses), "fp_above_limit": len(fps),
                        "precision_below_95": sum(v["precision"] < 0.95 for v in precision.values()),
                        "untouched_fr_le_1pct": fr_u / n_u <= 0.01}}


# --------------------------------------------------------------------------------------------- rejects file
def _short(s: str, n: int = 240) -> str:
    s = s.replace("\n", "⏎")
    return s if len(s) <= n else s[:n] + "…"


def _ends(s: str, n: int = 200) -> str:
    """Head and tail of a long text (a cut or an added line sits at either end)."""
    s = s.replace("\n", "⏎")
    return s if len(s) <= 2 * n else f"{s[:n]} […] {s[-n:]}"


def write_rejects(path: Path, frame: pl.DataFrame, cleaned: pl.DataFrame, rejected: pl.DataFrame, truth: dict,
                  result: dict, seed: int) -> None:
    """Seed 0's rows for hand reading: every rejected untouched row, the untouched rows the PII step changed,
    the planted rows scored wrong, and a seeded sample of 100 rejects of all kinds."""
    per_class, status, redacted_untouched = result["per_class"], result["status"], result["redacted_untouched"]
    rows = {r["pair_id"]: r for r in frame.iter_rows(named=True)}
    rej = list(rejected.iter_rows(named=True))
    lines = ["# Rejects for hand reading", "", "## All rejected untouched rows", ""]
    for r in sorted(rej, key=lambda r: r["reason"]):
        if truth.get(r["pair_id"], {}).get("cls") == "untouched":
            lines += _reject_block(r, rows[r["pair_id"]], truth)
    lines += ["", "## Untouched rows the PII step changed (kinds, then the changed text)", ""]
    out = {r["pair_id"]: r for r in cleaned.filter(pl.col("pair_id").is_in(redacted_untouched)).iter_rows(named=True)}
    for pid in redacted_untouched:
        lines += [f"- {pid} kinds={out[pid]['pii_kinds']} source={rows[pid]['source']}"]
        for m in out[pid]["messages"]:  # each placeholder with 80 characters either side
            lines += [f"    {m['role']}: …{_short(m['content'][max(0, x.start() - 80):x.end() + 80], 400)}…"
                      for x in PLACEHOLDER.finditer(m["content"])]
        lines.append("")
    lines += ["", "## Planted rows scored wrong (up to 4 per class): misses, or must-keep rows removed or merged", ""]
    for (cls, lang, _), c in sorted(per_class.items()):
        for pid in c["flagged"][:4] if cls != "untouched" else []:
            t = truth[pid]
            lines += [f"- {cls} {lang} {pid} status={status[pid]} "
                      + " ".join(f"{k}={_short(str(t[k]), 120)}" for k in ("value", "cut", "shape", "swap", "token")
                                 if k in t)]
            lines += [f"    {m['role']}: {_ends(m['content'])}" for m in rows[pid]["messages"]] + [""]
    # The 100 rejects whose seeded hash of pair_id is lowest: a rerun after a detector change samples mostly the
    # same rows, so that a hand reading carries over and only the rows new to the sample need reading.
    sample = sorted(rej, key=lambda r: hashlib.sha1(f"{seed}:{r['pair_id']}".encode()).hexdigest())[:100]
    lines += ["", "## A seeded sample of 100 rejects of all kinds, by reason", ""]
    for r in sorted(sample, key=lambda r: (r["reason"], r["pair_id"])):
        lines += _reject_block(r, rows[r["pair_id"]], truth)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _reject_block(r: dict, row: dict, truth: dict) -> list[str]:
    t = truth.get(r["pair_id"], {})
    return [f"- [{r['reason']}] {r['pair_id']} class={t.get('cls')} lang={t.get('lang')} source={row['source']}",
            f"    detail: {_short(str(r['detail']), 200)}"
            + (f"  kept={r['kept_pair_id']}" if r.get("kept_pair_id") else ""),
            *[f"    {m['role']}: {_short(m['content'])}" for m in row["messages"]], ""]




# --------------------------------------------------------------------------------------------- Markdown
def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _interval(w: list[float] | None) -> str:
    return "n/a" if w is None else f"{100 * w[0]:.1f}–{100 * w[1]:.1f}%"


def _missed(r: dict) -> bool:
    return r["value"] is not None and ((r["metric"] == "recall" and r["value"] < 0.95) or
                                       (r["metric"] != "recall" and r["value"] > fp_limit(r["class"])))


def carried_hand_read(path: Path) -> str:
    """The hand-read section of an earlier report at `path` (written by a person, so kept across runs)."""
    if not path.is_file():
        return ""
    text = path.read_text(encoding="utf-8")
    return text[text.index(HAND_READ_HEADING):] if HAND_READ_HEADING in text else ""


def write_markdown(path: Path, seed0: dict, pooled: dict, meta: dict, before: dict | None) -> None:
    """The tables: seed 0 and the seeds pooled, with Wilson intervals; with `before` (an earlier run's JSON,
    normally of older code) each pooled value gets its earlier one, and a note when its frames differ (older
    code may unify the real data a little differently). A hand-read section already in `path` is kept."""
    same_frames = before is None or before["meta"]["frame_fingerprints"] == meta["frame_fingerprints"]
    old = {(r["class"], r["lang"]): r["value"] for r in before["pooled"]["classes"]} if before else {}
    hand_read = carried_hand_read(path)
    s0 = {(r["class"], r["lang"]): r for r in seed0["classes"]}
    n0, u0, up = meta["seed0_notes"], seed0["untouched"], pooled["untouched"]
    lines = [f"# Quality bench ({meta['code']})", "",
             f"Seeds {', '.join(map(str, meta['seeds']))}, pooled; seed 0 has {n0['total_rows']} rows ({n0['base_rows']} "
             f"real base rows, {n0['planted_rows']} planted, {n0['real_slot_rows']} real rows with unfilled slots). "
             f"clean_pairs took {', '.join(f'{t:.1f}' for t in meta['clean_seconds'])} s per seed; the whole run "
             f"{meta['total_seconds']:.0f} s (frames {meta['frames']}). {meta['contamination']}", "",
             *(["Truncation model per seed: " + "; ".join(
                 ", ".join(f"{k} {v}" for k, v in r.get("truncation_model", {}).items()) for r in meta["clean_reports"]), ""]
               if meta.get("clean_reports") else []),
             f"**Untouched real rows rejected: seed 0 {u0['rejected']} of {u0['rows']} "
             f"({100 * u0['false_rejection_rate']:.2f}%), pooled {up['rejected']} of {up['rows']} "
             f"({100 * up['false_rejection_rate']:.2f}%)** — raw counts, before hand reading (the base rows are the "
             "same real rows in every seed, less the donors each seed draws).", "",
             "Pooled n counts planted defects over the seeds (each seed plants anew on another draw of donors); the "
             "interval is Wilson's 95% on the pooled count. ✗: the pooled value misses the target (recall ≥ 95%; "
             "false-positive rate ≤ 5%, ≤ 1% for untouched rows and hard negatives).", "",
             *([] if same_frames else [f"The before column comes from {before['meta']['code']}, whose frames differ "
                                       "from these (fingerprints differ): compare with care.", ""])]
    lines += ["| class | lang | metric | n seed 0 | seed 0 | n pooled | " + ("before | " if before else "")
              + "pooled | 95% interval | pooled outcomes |",
              "|---|---|---|---:|---:|---:|" + ("---:|" if before else "") + "---:|---|---|"]
    for r in pooled["classes"]:
        first = s0.get((r["class"], r["lang"]), {"n": 0, "value": None})
        extra = f" (kept the better copy {r['kept_preferred']})" if "kept_preferred" in r else ""
        if "by_variant" in r:  # hits per variant: where a truncation stops, a slot's syntax
            extra += " (" + ", ".join(f"{v} {hits}" for v, hits in r["by_variant"].items()) + ")"
        outcomes = ", ".join(f"{k}: {v}" for k, v in list(r["outcomes"].items())[:5])
        was = f"{_pct(old.get((r['class'], r['lang'])))} | " if before else ""
        lines.append(f"| {r['class']} | {r['lang']} | {r['metric']} | {first['n']} | {_pct(first['value'])} | {r['n']} | "
                     f"{was}{_pct(r['value'])}{' ✗' if _missed(r) else ''}{extra} | {_interval(r['wilson95'])} "
                     f"| {outcomes} |")
    short = [f"{r['class']} {r['lang']} ({r['n']})" for r in pooled["classes"] if r["n"] < 40]
    lines += ["", ("Pooled n under 40: " + (", ".join(short) or "none") + ". " if len(meta["seeds"]) > 1 else "")
              + "unsafe/*, keep/benign_lookalike and "
              "keep/translation_task plant the same written texts in every seed (on other donors), so their pooled n "
              "is not three times the evidence; the safety filter's own labelled set is bench/safety_bench.py. "
              "junk/real_unfilled_slot counts the real rows with slots, the same in every seed."]
    lines += ["", "Precision by reason code, pooled (a rejection is right when the row carries a planted defect to "
              "remove, or is a duplicate whose twin survives; real rows are counted as wrong until read by hand):", "",
              "| reason | rejected | rightly | precision |", "|---|---:|---:|---:|"]
    for reason, v in pooled["precision_by_reason"].items():
        lines.append(f"| {reason} | {v['rejected']} | {v['rightly']} | {100 * v['precision']:.1f}% |")
    p = pooled["pii_precision"]
    lines += ["", f"PII, pooled: {p['planted_caught']} planted values redacted, {p['decoys_altered']} look-alikes altered "
              f"(precision on planted rows {100 * p['precision_on_planted']:.1f}%); {p['untouched_rows_redacted']} "
              "untouched real rows changed by the PII step (seed 0's are listed in the rejects file).", "",
              "By family (rows of all classes of a family summed):", "",
              "| family | metric | n seed 0 | seed 0 | n pooled | pooled |", "|---|---|---:|---:|---:|---:|"]
    f0 = {(f["family"], f["metric"]): f for f in seed0["families"]}
    lines += [f"| {f['family']} | {f['metric']} | {f0.get((f['family'], f['metric']), {}).get('n', 0)} | "
              f"{_pct(f0.get((f['family'], f['metric']), {}).get('value'))} | {f['n']} | {_pct(f['value'])} |"
              for f in pooled["families"] if f["n"]]
    lines += ["", f"Targets, pooled: {pooled['targets']}", ""]
    path.write_text("\n".join(lines) + ("\n" + hand_read if hand_read else ""), encoding="utf-8")
