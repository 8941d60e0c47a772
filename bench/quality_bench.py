"""Quality benchmark of the cleaning stage on real English and Chinese pairs with planted, realistic defects.

    .venv/bin/python bench/quality_bench.py [--seeds 0 1 2] [--out DIR] [--name STEM] [--code DIR]
                                            [--frames DIR] [--before JSON]

Each seed builds its own frame (another shuffle of the base, other donors, other defects) and runs the cleaner on
it; the report gives seed 0 and the seeds pooled, with a Wilson 95% interval per class. --code DIR imports
instr_assets from another tree (a `git archive` of an older commit, say) for a before/after comparison. The
frames are built with the code that runs (its reader and unifier), so give both runs the same --frames DIR
(outside the repository) to score the very same rows; frame_fingerprints in the output show it. --before puts an
earlier run's pooled values next to this one's in the Markdown table.

Base set: real pairs from ../shared/data (see bench/quality_sources.py for the sources and what is left out),
exact duplicates among them removed beforehand (folded case and whitespace; the first copy stays), as are rows
whose long answer (50+ characters) equals an earlier row's. The v1 identity rows with unfilled {{name}} slots are
real defects, scored as class junk/real_unfilled_slot. Every planted defect is applied to a copy of a real row
(bench/quality_plants.py; the defects are made by quality_defects.py, quality_pii.py and quality_texts.py); no
row gives more than one copy per seed. Rows that give up a copy for a pair class (near-duplicates, hard
negatives) stay in the set as the "original"; rows whose copy carries a single-row defect (junk, PII, ...) are
held out, so the defect is the only copy.

Scoring (truth is kept here, never shown to the cleaner):
  pair classes   caught when exactly one of original and copy survives (near/exact duplicates; a pair whose
                 two members were both removed for another reason, e.g. a real refusal copied, is left out of
                 the count and shown), when the prefix is dropped and the full conversation kept (multi-turn),
                 and a false positive when a member of a must-keep pair is rejected as a duplicate (hard
                 negatives, branches);
  remove         caught when the row is rejected, whatever the reason (the reason is tallied);
  mojibake       caught when rejected or repaired (the output equals the undamaged text, folded);
  special token  caught when rejected or when the token string no longer appears in the output;
  PII            caught when the planted value is gone from every field and a placeholder took its place (or
                 the row is dropped for PII);
  decoy          a false positive when the value is altered or the row is dropped for PII;
                 (PII and decoy rows rejected for another reason are shown and left out of the count)
  keep           a false positive when the row is rejected.
Untouched rows (base rows not used for any plant; real translation tasks, answers with code blocks and real
rows whose prompt another real row shares with another answer, as t0_common_gen's do, are scored apart, as
keep/translation_task, keep/code_answer and keep/real_same_prompt) give the false-rejection rate. Seed 0's rejects
go to <out>/<name>_rejects.txt (git-ignored: it quotes the shared data): all rejected untouched rows, the
untouched rows the PII step changed, and a seeded sample of 100 rejects of all kinds, by reason, for hand
reading; the summary of that reading lives in the report's hand-read section, which reruns keep.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import inspect
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from clean_data import SHARED_DATA, require_shared  # noqa: E402
from quality_plants import (MT_BENCH, Planter, plant_contamination, plant_duplicates,  # noqa: E402
                            plant_hard_negatives, plant_junk, plant_multi_turn, plant_pii, plant_safety,
                            plant_translations, script_lang)
from quality_report import (MUST_KEEP, PLACEHOLDER, merge_results, summarize,  # noqa: E402
                            write_markdown, write_rejects)
from quality_sources import fold, harvest_names, load_base  # noqa: E402


# --------------------------------------------------------------------------------------------- build + run
def build(shared: Path, base_rows: list[dict], schema: dict, names: dict,
          seed: int) -> tuple[pl.DataFrame, dict, dict]:
    """One seed's frame (base rows left after the draw of donors, the real slot rows, the planted rows, shuffled),
    the truth of every row in it, and notes on its make-up."""
    p = Planter(base_rows, seed, names)
    for lang in ("en", "zh"):
        plant_duplicates(p, lang)
        plant_hard_negatives(p, lang)
        plant_multi_turn(p, lang)
        plant_junk(p, lang)
        plant_pii(p, lang)
        plant_safety(p, lang)
        plant_translations(p, lang)
    plant_contamination(p, shared)
    base = [x for lang in p.pool for x in p.pool[lang] if x["pair_id"] not in p.held_out] + p.base_only
    prompts = Counter(fold(p.compose(x["instruction"], x["input"])) for x in base)
    for row in base:
        if row["pair_id"] not in p.truth:
            hint = ("keep/translation_task" if re.search(r"(?i)\btranslat|翻译", row["instruction"]) else
                    "keep/code_answer" if "```" in row["response"] else
                    "keep/real_same_prompt" if prompts[fold(p.compose(row["instruction"], row["input"]))] > 1 else
                    "untouched")
            p.truth[row["pair_id"]] = {"cls": hint, "lang": script_lang(row), "expect": "keep"}
    for row in p.real_slot:
        p.truth[row["pair_id"]] = {"cls": "junk/real_unfilled_slot", "lang": script_lang(row), "expect": "remove"}
    all_rows = base + p.real_slot + p.out
    random.Random(seed + 1).shuffle(all_rows)
    frame = pl.DataFrame(all_rows, schema=schema)
    untouched = Counter(x["source"] for x in base if p.truth[x["pair_id"]]["cls"] == "untouched")
    texts = sorted(json.dumps(m, ensure_ascii=False) for m in frame["messages"].to_list())
    notes = dict(frame_fingerprint=hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16], base_rows=len(base),
                 held_out_donors=len(p.held_out), planted_rows=len(p.out), real_slot_rows=len(p.real_slot),
                 total_rows=frame.height, untouched_by_source=dict(untouched))
    return frame, p.truth, notes


def write_frame(folder: Path, frame: pl.DataFrame, truth: dict, notes: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(folder / "frame.parquet")
    (folder / "truth.json").write_text(json.dumps({"truth": truth, "notes": notes}, ensure_ascii=False),
                                       encoding="utf-8")


def read_frame(folder: Path) -> tuple[pl.DataFrame, dict, dict]:
    stored = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    return pl.read_parquet(folder / "frame.parquet"), stored["truth"], stored["notes"]


def contamination_rules(shared: Path) -> dict | None:
    """CleanRules arguments that mark the MT-bench file as an evaluation set, if the code has that API (None:
    it does not; the contaminated rows are still planted and then count as missed)."""
    from instr_assets.core.clean import cleaning
    fields = {f.name: f for f in dataclasses.fields(cleaning.CleanRules)}
    if "decontamination" not in fields:
        return None
    rules_type = fields["decontamination"].default_factory
    if "eval_files" not in {f.name for f in dataclasses.fields(rules_type)}:
        return None
    return {"decontamination": rules_type(eval_files=(str(shared / MT_BENCH),))}


def run_cleaner(frame: pl.DataFrame, extra: dict, report: dict) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    from instr_assets.core.clean.cleaning import CleanRules, clean_pairs
    rules = CleanRules(**extra)
    t0 = time.perf_counter()
    # A tree from before the truncation model's report has no `report` parameter.
    extra_args = {"report": report} if "report" in inspect.signature(clean_pairs).parameters else {}
    cleaned, rejected = clean_pairs(frame, rules, **extra_args)
    return cleaned, rejected, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------- scoring
def _out_text(row: dict | None) -> str:
    if row is None:
        return ""
    return "\n".join([row["instruction"], row["input"], row["response"]] + [m["content"] for m in row["messages"]])


def _is_dup(reason: str) -> bool:
    return "dup" in reason


def score(frame: pl.DataFrame, truth: dict, cleaned: pl.DataFrame, rejected: pl.DataFrame) -> dict:
    kept = {r["pair_id"]: r for r in cleaned.select("pair_id", "instruction", "input", "response", "messages", "pii_kinds")
            .iter_rows(named=True)}
    why = {r["pair_id"]: r for r in rejected.iter_rows(named=True)}
    status = {pid: ("kept" if pid in kept else why[pid]["reason"] if pid in why else "MISSING") for pid in frame["pair_id"]}
    groups = defaultdict(dict)
    for pid, t in truth.items():
        if "group" in t:
            groups[t["group"]][t["role"]] = pid
    per_class = defaultdict(lambda: {"n": 0, "hit": 0, "reasons": Counter(), "kept_preferred": 0, "preferred_n": 0,
                                     "untestable": 0, "flagged": [], "variants": Counter()})
    deserved = {}  # pair_id -> whether a rejection of it is right

    def flag_if_wrong(c: dict, hits_before: int, pid: str, expect: str) -> None:
        """Note a miss (recall classes) or a false positive (must-keep classes), for the rejects file, and
        count hits per variant (where a truncation stops, a slot's syntax) for the report."""
        if (c["hit"] > hits_before) == (expect in MUST_KEEP):
            c["flagged"].append(pid)
        variant = truth[pid].get("cut") or truth[pid].get("shape")
        if variant:
            c["variants"][(variant, "n")] += 1
            c["variants"][(variant, "hit")] += c["hit"] > hits_before

    for pid, t in truth.items():
        cls, expect, st = t["cls"], t["expect"], status.get(pid, "MISSING")
        key = (cls, t["lang"], expect)
        if expect in ("one_of_pair", "prefix_dropped", "keep_pair"):
            deserved[pid] = expect != "keep_pair" and (t["role"] in ("copy", "orig", "prefix"))
            if t["role"] not in ("copy", "prefix", "orig") or (expect == "prefix_dropped" and t["role"] != "prefix"):
                continue
            if t["role"] == "orig" and expect != "keep_pair":
                continue
            g = groups[t["group"]]
            members = {role: status[m] for role, m in g.items()}
            c = per_class[key]
            if t["role"] == "orig":  # keep_pair is scored once, on its orig
                continue
            if expect == "one_of_pair" and not any(s == "kept" or _is_dup(s) for s in members.values()):
                c["untestable"] += 1  # both removed for another reason: the duplicate check never got to see them
                c["reasons"]["both removed, not as duplicates"] += 1
                continue
            c["n"] += 1
            hits_before = c["hit"]
            if expect == "one_of_pair":
                c["hit"] += sum(s == "kept" for s in members.values()) == 1
                if t.get("preferred") and sum(s == "kept" for s in members.values()) == 1:
                    c["preferred_n"] += 1
                    c["kept_preferred"] += members[t["preferred"]] == "kept"
            elif expect == "prefix_dropped":
                c["hit"] += members["prefix"] != "kept" and members["full"] == "kept"
            else:  # keep_pair: a hit is a false positive, a member merged away as a duplicate
                c["hit"] += any(_is_dup(s) for s in members.values())
            c["reasons"].update(s for s in members.values() if s != "kept")
            flag_if_wrong(c, hits_before, pid, expect)
            continue
        c = per_class[key]
        c["n"] += 1
        hits_before = c["hit"]
        out = _out_text(kept.get(pid))
        if expect == "remove":
            deserved[pid] = True
            c["hit"] += st != "kept"
        elif expect == "remove_or_repair":
            deserved[pid] = True
            row = kept.get(pid)
            repaired = row is not None and all(fold(row[f]) == fold(t["clean"][f])
                                               for f in ("instruction", "input", "response"))
            c["hit"] += st != "kept" or repaired
            st = "repaired" if repaired else st
        elif expect == "remove_or_escape":
            # A special-token string kept in the text is harmless when tokenization reads it as text: the
            # training ids then hold no more special ids than the chat template itself writes.
            deserved[pid] = True
            escaped = st == "kept" and (t["token"] not in out or _tokenized_as_text(kept[pid]["messages"]))
            c["hit"] += st != "kept" or escaped
            st = "escaped" if escaped else st
        elif expect in ("redact", "intact") and st != "kept" and "pii" not in st:
            # Removed for something the donor row itself carries (a real refusal, say): the PII check never
            # decided this row, so it is shown and left out of the count.
            deserved[pid] = expect == "redact"
            c["n"] -= 1
            c["reasons"][f"{st} (left out)"] += 1
            continue
        elif expect == "redact":
            deserved[pid] = True
            c["hit"] += st != "kept" or (t["value"] not in out and bool(PLACEHOLDER.search(out)))
            st = ("redacted" if t["value"] not in out else "NOT redacted") if st == "kept" else st
        elif expect == "intact":
            deserved[pid] = False
            c["hit"] += st != "kept" or t["value"] not in out
            st = ("ALTERED" if t["value"] not in out else "intact") if st == "kept" else st
        else:  # keep
            deserved[pid] = False
            c["hit"] += st != "kept"
        c["reasons"][st] += 1
        flag_if_wrong(c, hits_before, pid, expect)

    by_reason = defaultdict(lambda: {"n": 0, "right": 0})
    for r in rejected.iter_rows(named=True):
        t = truth.get(r["pair_id"], {})
        right = deserved.get(r["pair_id"], False)
        if t.get("expect") == "one_of_pair":  # a duplicate's rejection is right only if its twin survives
            g = groups[t["group"]]
            right = sum(status[m] == "kept" for m in g.values()) == 1
        by_reason[r["reason"]]["n"] += 1
        by_reason[r["reason"]]["right"] += bool(right)
    # Real rows the PII step changed: each is read by hand (real data holds real and example addresses).
    redacted_untouched = [pid for pid, row in kept.items() if row["pii_kinds"] and truth[pid]["cls"] == "untouched"]
    return {"status": status, "per_class": per_class, "by_reason": by_reason, "redacted_untouched": redacted_untouched}


@functools.lru_cache(maxsize=1)
def _tokenizer():
    from instr_assets.core.models.modeling import load_tokenizer
    return load_tokenizer()


def _tokenized_as_text(messages: list[dict]) -> bool:
    """Whether the messages' contents add no special-token id to their training ids (the project's tokenizer
    and chat template, as the tokenized_shards stage encodes them)."""
    from instr_assets.core.train.tokenize_pack import encode_conversation

    tok = _tokenizer()
    special = {i for i, t in tok.added_tokens_decoder.items() if t.special}
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    blank = [{**m, "content": "x"} for m in msgs]
    count = lambda ms: sum(i in special for i in encode_conversation(tok, ms)[0])  # noqa: E731
    return count(msgs) == count(blank)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the first is reported on its own too")
    ap.add_argument("--out", type=Path, default=BENCH / "results")
    ap.add_argument("--name", default="quality_bench", help="file stem of the outputs")
    ap.add_argument("--code", type=Path, help="import instr_assets from this tree instead (for a before/after run)")
    ap.add_argument("--before", type=Path, help="an earlier run's JSON: its values are shown next to this run's")
    ap.add_argument("--frames", type=Path, help="a folder outside the repository (the frames quote the shared "
                    "data): each seed's frame and truth are read from it when there, else built and written to it, "
                    "so that a --code run can score the very same rows")
    args = ap.parse_args()
    if args.code:
        sys.path.insert(0, str(args.code.resolve()))
    shared = require_shared(SHARED_DATA)
    t0 = time.perf_counter()
    extra = contamination_rules(shared)
    contamination = ("contamination: this code has no way to mark an evaluation set, so its contaminated rows "
                     "are planted (the frame stays the same) and count as missed" if extra is None
                     else f"contamination: {MT_BENCH} marked as an evaluation set (decontamination.eval_files)")
    base, base_notes, names = None, {"read from": str(args.frames)}, {}
    results, notes, seconds, first, reports = [], [], [], None, []
    for seed in args.seeds:
        stored = args.frames / f"seed{seed}" if args.frames else None
        if stored and (stored / "frame.parquet").is_file():
            frame, truth, seed_notes = read_frame(stored)
        else:
            if base is None:
                base = load_base(shared)
                base_notes, names = base[1], harvest_names(base[0])
                print(f"base: {len(base[0])} real rows, names harvested ({time.perf_counter() - t0:.0f} s)", flush=True)
            frame, truth, seed_notes = build(shared, base[0], base[2], names, seed)
            if stored:
                write_frame(stored, frame, truth, seed_notes)
        reports.append({})
        cleaned, rejected, secs = run_cleaner(frame, extra or {}, reports[-1])
        results.append(score(frame, truth, cleaned, rejected))
        notes.append(seed_notes)
        seconds.append(secs)
        if first is None:
            first = (frame, cleaned, rejected, truth)
        print(f"seed {seed}: {frame.height} rows, clean_pairs {secs:.1f} s ({time.perf_counter() - t0:.0f} s)", flush=True)
    seed0, pooled = summarize(results[0]), summarize(merge_results(results))
    import instr_assets
    meta = {"seeds": args.seeds, "frames": "built" if base is not None else f"read from {args.frames}",
            "base": base_notes, "names_harvested": {k: len(v) for k, v in names.items()},
            "seed0_notes": notes[0], "frame_fingerprints": [n["frame_fingerprint"] for n in notes],
            "clean_seconds": seconds, "contamination": contamination, "clean_reports": reports,
            "code": str(Path(instr_assets.__file__).parent.parent), "total_seconds": time.perf_counter() - t0}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps({"meta": meta, "seed0": seed0, "pooled": pooled},
                                                           ensure_ascii=False, indent=1), encoding="utf-8")
    before = json.loads(args.before.read_text(encoding="utf-8")) if args.before else None
    write_markdown(args.out / f"{args.name}.md", seed0, pooled, meta, before)
    frame, cleaned, rejected, truth = first
    write_rejects(args.out / f"{args.name}_rejects.txt", frame, cleaned, rejected, truth, results[0], args.seeds[0])
    print((args.out / f"{args.name}.md").read_text(encoding="utf-8"))
    print(f"total {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
