"""Development set for the truncation detector: real answers the quality bench never reads, cut by this script.

    .venv/bin/python bench/truncation_dev.py [--seeds 0 1 2] [--show N]

The quality bench (bench/quality_sources.py) is the held-out test, so the detector is developed against other
text: the assistant turns of LLaMA-Factory's glaive tool-call demos (en and zh), the GPT-4 reference answers of
MT-bench (en) and the *rejected* answers of dpo_zh_demo (the bench reads only the chosen ones). Each answer of
40+ characters is cut once per cut kind where that kind has a place in its middle 20-95%:
  en  between_words  after a word, before the space that follows it
      mid_word       inside a word of 5+ letters, 2+ letters on either side
      after_clause   right after a comma, semicolon or colon inside a line
  zh  mid_clause     after a Han character (or a digit or letter run) inside a clause
      after_clause   right after ，、；
Cuts that land right after a sentence's end or a line's end are not made: such a text reads complete.
The report gives recall on the cut copies and the false-positive rate on the uncut originals (all of them, and
those that do not end on terminal punctuation, the only ones the detector really judges), en and zh, plus the
detector's cost per row. The originals are real data and a few are truly cut off; --show lists the flagged
originals and missed cuts for reading.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from instr_assets.core.clean.junk import truncated

SHARED = ROOT.parent / "shared" / "data"
_HAN = re.compile(r"[\u4e00-\u9fff]")
# A prefix that ends a sentence or a line reads complete, whatever followed.
_ENDS_COMPLETE = re.compile(r"(?:[.!?。！？…]|[.!?。！？][\"'”’)）」』】])\s*$|\n\s*$")
_EN_WORD = re.compile(r"[A-Za-z]+")
_FINAL_STOP = re.compile(r"[.!?。！？]+$")
_INNER_STOP = re.compile(r"[.!?。！？]")


def _turn_pairs(conversations: list[dict]) -> list[tuple[str, str]]:
    """(prompt, answer) for each assistant turn, the prompt being the last human turn before it."""
    out, prompt = [], ""
    for turn in conversations:
        if turn["from"] == "human":
            prompt = turn["value"]
        elif turn["from"] == "gpt":
            out.append((prompt, turn["value"]))
    return out


def load_answers(shared: Path) -> list[dict]:
    """Unique real (lang, source, prompt, answer) rows from files and fields the quality bench leaves out."""
    rows = []
    for name in ("glaive_toolcall_en_demo", "glaive_toolcall_zh_demo"):
        for record in json.loads((shared / f"llama_factory/{name}.json").read_text(encoding="utf-8")):
            rows += [(name, p, a) for p, a in _turn_pairs(record["conversations"])]
    for record in json.loads((shared / "llama_factory/dpo_zh_demo.json").read_text(encoding="utf-8")):
        rows.append(("dpo_zh_rejected", record["conversations"][-1]["value"], record["rejected"]["value"]))
    questions = {}
    for line in (shared / "fastchat/mt_bench_question.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        questions[q["question_id"]] = q["turns"]
    for line in (shared / "fastchat/mt_bench_reference_answer_gpt-4.jsonl").read_text(encoding="utf-8").splitlines():
        answer = json.loads(line)
        for choice in answer["choices"]:
            for prompt, text in zip(questions.get(answer["question_id"], []), choice["turns"]):
                rows.append(("mt_bench_reference", prompt, text))
    seen, out = set(), []
    for source, prompt, answer in rows:
        answer = answer.strip()
        if len(answer) < 40 or answer in seen:
            continue
        seen.add(answer)
        lang = "zh" if len(_HAN.findall(answer)) >= 0.2 * len(answer.replace(" ", "")) else "en"
        out.append({"source": source, "lang": lang, "prompt": prompt, "answer": answer})
    return out


def _cut_points(text: str, lang: str) -> dict[str, list[int]]:
    """Candidate cut offsets per kind (the text keeps text[:i])."""
    points: dict[str, list[int]] = defaultdict(list)
    for i in range(1, len(text)):
        before, after = text[i - 1], text[i]
        if lang == "en":
            if before.isalpha() and after.isspace():
                points["between_words"].append(i)
            elif before in ",;:" and after == " ":
                points["after_clause"].append(i)
        elif before in "，、；":
            points["after_clause"].append(i)
        elif (_HAN.match(before) or before.isalnum()) and not after.isspace():
            points["mid_clause"].append(i)
    if lang == "en":
        for m in _EN_WORD.finditer(text):
            if len(m.group()) >= 5:
                points["mid_word"] += range(m.start() + 2, m.end() - 1)
    return points


def cut_copies(row: dict, r: random.Random) -> list[tuple[str, str]]:
    """(kind, cut text) per kind that has a cut point in the answer's middle 20-95%."""
    text = row["answer"]
    n = len(text)
    out = []
    for kind, points in sorted(_cut_points(text, row["lang"]).items()):
        usable = [i for i in points if 0.2 * n <= i <= 0.95 * n and not _ENDS_COMPLETE.search(text[:i])]
        if usable:
            out.append((kind, text[:r.choice(usable)].rstrip()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--show", type=int, default=0, help="list up to N flagged originals and N missed cuts")
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--model", action="store_true",
                    help="also run the truncation model (core/clean/ending_model.py) on what the rules leave")
    args = ap.parse_args()
    rows = load_answers(args.data)
    print(f"{len(rows)} answers: {dict(Counter((r['lang'], r['source']) for r in rows))}")

    # The word lists load once per process (wordfreq's English list, jieba's dictionary): timed apart.
    start = time.perf_counter()
    truncated("这是一个被切断的句子，我们可")
    truncated("This one was cut in the midd")
    load_seconds = time.perf_counter() - start
    flagged_originals, unterminated = Counter(), Counter()
    start = time.perf_counter()
    fp_rows = []
    for row in rows:
        if not re.search(r"[.!?。！？][\"'”’)）」』】]?$", row["answer"]):
            unterminated[row["lang"]] += 1
        issue = truncated(row["answer"], prompt=row["prompt"])
        if issue:
            flagged_originals[row["lang"]] += 1
            fp_rows.append((row, issue[1]))
    per_original = (time.perf_counter() - start) / len(rows) * 1e6

    # A finished answer that only lacks its final stop: one sentence must never be flagged for that; in an
    # answer of several sentences the missing stop is what the run-on rule looks for, so it is shown apart.
    unstopped, unstopped_flagged, unstopped_fp = Counter(), Counter(), []
    for row in rows:
        stripped = _FINAL_STOP.sub("", row["answer"])
        if stripped == row["answer"] or not stripped[-1:].isalnum():
            continue
        shape = "one sentence" if not _INNER_STOP.search(stripped) else "several sentences"
        unstopped[row["lang"], shape] += 1
        issue = truncated(stripped, prompt=row["prompt"])
        if issue:
            unstopped_flagged[row["lang"], shape] += 1
            if shape == "one sentence":
                unstopped_fp.append((row, issue[1]))

    caught, total, misses = Counter(), Counter(), []
    cut_time, n_cuts = 0.0, 0
    for seed in args.seeds:
        r = random.Random(seed)
        for row in rows:
            for kind, text in cut_copies(row, r):
                t0 = time.perf_counter()
                hit = truncated(text, prompt=row["prompt"])
                cut_time += time.perf_counter() - t0
                n_cuts += 1
                total[row["lang"], kind] += 1
                caught[row["lang"], kind] += bool(hit)
                if not hit:
                    misses.append((row["lang"], kind, text, row["prompt"]))

    print(f"\nrecall on cut copies (seeds {args.seeds}):")
    for lang in ("en", "zh"):
        kinds = sorted(k for lg, k in total if lg == lang)
        n, c = sum(total[lang, k] for k in kinds), sum(caught[lang, k] for k in kinds)
        parts = ", ".join(f"{k} {caught[lang, k]}/{total[lang, k]}" for k in kinds)
        print(f"  {lang}: {c}/{n} = {c / n:.1%}  ({parts})")
    print("false positives on the uncut originals:")
    for lang in ("en", "zh"):
        n = sum(1 for row in rows if row["lang"] == lang)
        f = flagged_originals[lang]
        print(f"  {lang}: {f}/{n} = {f / n:.2%} of all, {f}/{unterminated[lang]} of those without final punctuation")
    print("finished answers with their final stop removed (flagged / all):")
    for lang in ("en", "zh"):
        parts = ", ".join(f"{shape} {unstopped_flagged[lang, shape]}/{unstopped[lang, shape]}"
                          for shape in ("one sentence", "several sentences"))
        print(f"  {lang}: {parts}")
    print(f"cost: {per_original:.1f} µs per original (most end on a full stop), "
          f"{cut_time / n_cuts * 1e6:.1f} µs per cut copy (all judged in full), "
          f"{load_seconds:.2f} s once per process for the word lists")
    if args.model:
        model_report(rows, misses, total, caught)
    if args.show:
        print("\nflagged originals:")
        for row, detail in fp_rows[:args.show]:
            print(f"  [{row['lang']} {row['source']}] {detail}\n      …{row['answer'][-160:]!r}")
        print("\none-sentence answers flagged once their stop is removed:")
        for row, detail in unstopped_fp[:args.show]:
            print(f"  [{row['lang']} {row['source']}] {detail}")
        print("\nmissed cuts:")
        r = random.Random(1)
        for lang, kind, text, _ in r.sample(misses, min(args.show, len(misses))):
            print(f"  [{lang} {kind}] …{text[-160:]!r}")


def model_verdicts(items: list[tuple[str, str, str]]) -> list[bool]:
    """For (lang, prompt, text) items the rules pass: whether the truncation model (its defaults, mode on)
    calls the text cut off."""
    import tempfile

    import polars as pl

    from instr_assets.core.clean.ending_model import EndingRules, candidate_mask, check
    from instr_assets.core.models.runtime.cache import OutputCache

    rules = EndingRules(mode="on")
    ids = [str(i) for i in range(len(items))]
    frame = pl.DataFrame({"raw_id": ids, "pair_id": ids, "source": ["dev"] * len(ids),
                          "lang": [i[0] for i in items], "instruction": [i[1] for i in items],
                          "input": [""] * len(ids), "response": [i[2] for i in items]})
    candidates = frame.filter(candidate_mask(frame, rules))
    with tempfile.TemporaryDirectory() as tmp:
        gone = set(check(candidates.height, lambda: candidates, rules, OutputCache(Path(tmp) / "c.sqlite"))
                   .rejected["raw_id"].to_list())
    return [i in gone for i in ids]


def model_report(rows: list[dict], misses: list[tuple], total: Counter, caught: Counter) -> None:
    """Recall of rules + model on the cut copies, and what the model adds to the false positives: on the
    originals the rules pass, and on finished answers with their final stop removed."""
    extra = Counter()
    for (lang, kind, _, _), cut in zip(misses, model_verdicts([(m[0], m[3], m[2]) for m in misses])):
        extra[lang, kind] += cut
    print("\nrules + truncation model, recall on cut copies:")
    for lang in ("en", "zh"):
        kinds = sorted(k for lg, k in total if lg == lang)
        n, c = sum(total[lang, k] for k in kinds), sum(caught[lang, k] + extra[lang, k] for k in kinds)
        parts = ", ".join(f"{k} {caught[lang, k] + extra[lang, k]}/{total[lang, k]}" for k in kinds)
        print(f"  {lang}: {c}/{n} = {c / n:.1%}  ({parts})")
    passed = [r for r in rows if not truncated(r["answer"], prompt=r["prompt"])]
    stopped = []
    for r in rows:
        stripped = _FINAL_STOP.sub("", r["answer"])
        if stripped != r["answer"] and stripped[-1:].isalnum() and not truncated(stripped, prompt=r["prompt"]):
            stopped.append({**r, "answer": stripped})
    print("what the model adds to the false positives:")
    for name, group in (("originals", passed), ("stop removed", stopped)):
        verdicts = model_verdicts([(r["lang"], r["prompt"], r["answer"]) for r in group])
        for lang in ("en", "zh"):
            flags = [(r, v) for r, v in zip(group, verdicts) if r["lang"] == lang]
            hits = [r for r, v in flags if v]
            print(f"  {name} {lang}: {len(hits)}/{len(flags)}" + "".join(f"\n      …{r['answer'][-100:]!r}" for r in hits[:6]))


if __name__ == "__main__":
    main()
