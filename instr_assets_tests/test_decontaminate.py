"""Decontamination (core/clean/decontaminate.py): evaluation items leave the output as 'evaluation_set', and
training pairs sharing a 13-word (or 20-Han-character) n-gram with one are rejected as 'contaminated' with
the item named; evaluation sets come from sources marked `evaluation: true` or from JSONL files."""
import json
import time
from pathlib import Path

import polars as pl
import pytest

from instr_assets.core.clean import decontaminate as dc
from instr_assets.core.clean.cleaning import CleanRules, clean_pairs
from instr_assets.core.ingest.raw_sources import read_all_sources
from instr_assets.core.ingest.source_config import evaluation_sources, load_sources
from instr_assets.core.ingest.unify import unify

EVAL = [
    (dc.EvalItem("quiz", "q1"), ["Write a short story about a lighthouse keeper who discovers a message in a bottle "
                                 "from his own future self.", "Now retell it as a haiku."]),
    (dc.EvalItem("quiz", "q2"), ["请用三句话解释为什么天空在白天是蓝色的而在日落时会变成橙红色，并举一个生活中的例子。"]),
    (dc.EvalItem("quiz", "q3"), ["List four prime numbers greater than fifty."]),
]


@pytest.fixture(scope="module")
def index() -> dc.EvalIndex:
    return dc.build_index(EVAL)


@pytest.mark.parametrize("text", [
    "Write a short story about a lighthouse keeper who discovers a message in a bottle from his own future self.",
    "Task for today: write a SHORT story about a lighthouse keeper who discovers a message, in a bottle, from his "
    "own future self. Keep it under 300 words.",
])
def test_shared_13_words_is_contamination(index, text):
    item, ngram = dc.contamination(text, index)
    assert item == dc.EvalItem("quiz", "q1")
    assert len(ngram.split()) == 13 and ngram in text.lower().replace(",", "")


def test_twelve_shared_words_are_not(index):
    # 'lighthouse keeper who finds a note' breaks every 13-word window.
    text = "Write a short story about a lighthouse keeper who finds a message in a bottle from his own future self."
    assert dc.contamination(text, index) is None


def test_chinese_20_characters(index):
    item, ngram = dc.contamination("题目：为什么天空在白天是蓝色的而在日落时会变成橙红色？请简单回答。", index)
    assert item.item_id == "q2" and len(ngram) == 20
    # 19 shared characters: not enough.
    assert dc.contamination("为什么天空在白天是蓝色的而在日落时会变红", index) is None


def test_short_prompt_matches_when_held_whole(index):
    # An item shorter than an n-gram counts when the prompt holds all of it in a row, with words added before
    # or after it (the earlier rule, equality only, let "Homework: <item>" through); part of it does not.
    assert dc.contamination("list four prime numbers greater than fifty", index)[0].item_id == "q3"
    item, shared = dc.contamination("My teacher asked me this one. List four prime numbers greater than fifty?",
                                    index)
    assert item.item_id == "q3" and shared == "list four prime numbers greater than fifty"
    assert dc.contamination("List four prime numbers greater than fifty and explain why.", index)[0].item_id == "q3"
    assert dc.contamination("Homework: list four prime numbers greater than sixty.", index) is None


def test_prefilter_rules_out_unrelated_text(index):
    texts = pl.Series(["Translate 'good morning' into Spanish.", "写一首关于秋天的诗。",
                       "Once upon a time, a lighthouse keeper who discovers a message in a bottle from his own "
                       "future self writes back."])
    assert dc.may_be_contaminated(texts, index).to_list() == [False, False, True]
    assert set(dc.contaminated_rows(texts, index)) == {2}


def test_read_eval_file_fields(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"question_id": 7, "turns": ["first turn", "second turn"]}, {"id": "x", "question": "a question"},
        {"instruction": "an instruction"}]) + "\n", encoding="utf-8")
    items = dc.read_eval_file(path)
    assert items == [(dc.EvalItem("eval.jsonl", "7"), ["first turn", "second turn"]),
                     (dc.EvalItem("eval.jsonl", "x"), ["a question"]), (dc.EvalItem("eval.jsonl", "3"), ["an instruction"])]
    path.write_text('{"answer": "no prompt"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="prompt fields"):
        dc.read_eval_file(path)


def test_missing_eval_file_is_a_config_error(tmp_path):
    with pytest.raises(ValueError, match="decontaminate_against"):
        dc.validate(dc.DecontaminationRules(eval_files=(str(tmp_path / "nope.jsonl"),)))


def _write_sources(folder: Path, sources: dict[str, tuple[list[dict], bool]]) -> Path:
    lines = ["sources:"]
    for name, (records, is_eval) in sources.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        lines.append(f"  - {{name: {name}, format: alpaca, path: '{path}', evaluation: {str(is_eval).lower()}}}")
    (folder / "sources.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "sources.yaml"


def test_evaluation_source_flag_in_sources_file(tmp_path):
    y = _write_sources(tmp_path, {"train": ([{"instruction": "a", "output": "b"}], False),
                                  "bench": ([{"instruction": "c", "output": "d"}], True)})
    entries, _ = load_sources(y)
    assert [e.evaluation for e in entries] == [False, True]
    assert evaluation_sources([e.model_dump_json() for e in entries]) == ("bench",)


def test_stage_marks_evaluation_source_and_contaminated_pairs(tmp_path):
    question = ("Explain to a ten year old how vaccines teach the immune system to recognize a virus "
                "before the body ever meets it.")
    y = _write_sources(tmp_path, {
        "train": ([{"instruction": "In simple words: " + question.lower(), "output": "Vaccines are like a wanted poster."},
                   {"instruction": "Name three rivers in Europe.", "output": "The Danube, the Rhine and the Seine."}],
                  False),
        "bench": ([{"instruction": question, "output": "A reference answer about vaccines."}], True)})
    entries, base = load_sources(y)
    options = {e.name: json.loads(e.model_dump_json()) for e in entries}
    unified, _ = unify(read_all_sources(entries, base), options)
    rules = CleanRules(near_dup_action="off", decontamination=dc.DecontaminationRules(
        evaluation_sources=evaluation_sources([json.dumps(o) for o in options.values()])))
    cleaned, rejected = clean_pairs(unified, rules)
    assert cleaned["instruction"].to_list() == ["Name three rivers in Europe."]
    by_reason = dict(zip(rejected["reason"], rejected["detail"]))
    assert set(by_reason) == {"evaluation_set", "contaminated"}
    bench_pair = unified.filter(pl.col("source") == "bench")["pair_id"].item()
    assert by_reason["contaminated"].endswith(f"with evaluation item {bench_pair} (bench)")
    assert by_reason["contaminated"].startswith("shares 'explain to a ten year old how vaccines teach the immune system to'")


def _plant(questions: dict[int, str]) -> list[tuple[str, str]]:
    """(how it was planted, prompt) for MT-bench questions written into training data three ways."""
    q83, q101, q151 = questions[83], questions[101], questions[151]
    return [
        ("verbatim", q83),
        ("prefixed", "You are a helpful tutor. Answer the following carefully.\n\n" + q101),
        # Reworded opening, re-punctuated; the 20 words after the opening survive.
        ("reworded", q151.replace("Provide insights into", "Give me your thoughts on").replace(",", " ;")),
    ]


@pytest.fixture(scope="module")
def mt_bench_run(data_dir, tmp_path_factory):
    mt_bench = data_dir / "fastchat/mt_bench_question.jsonl"
    questions = {item.item_id: turns[0] for item, turns in dc.read_eval_file(mt_bench)}
    alpaca = json.loads((data_dir / "llama_factory/alpaca_en_demo.json").read_text(encoding="utf-8"))
    planted = _plant({int(k): v for k, v in questions.items()})
    records = alpaca + [{"instruction": prompt, "input": "", "output": f"A planted answer, {how}, long enough."}
                        for how, prompt in planted]
    folder = tmp_path_factory.mktemp("mt_bench")
    entries, base = load_sources(_write_sources(folder, {"train": (records, False)}))
    unified, _ = unify(read_all_sources(entries, base), {e.name: json.loads(e.model_dump_json()) for e in entries})
    rules = CleanRules(near_dup_action="off", decontamination=dc.DecontaminationRules(eval_files=(str(mt_bench),)))
    return unified, planted, *clean_pairs(unified, rules)


def test_mt_bench_planted_questions_are_caught_and_only_they(mt_bench_run):
    unified, planted, cleaned, rejected = mt_bench_run
    contaminated = rejected.filter(pl.col("reason") == "contaminated")
    assert contaminated.height == len(planted)
    assert sorted(d.split("evaluation item ")[1] for d in contaminated["detail"]) == [
        "101 (mt_bench_question.jsonl)", "151 (mt_bench_question.jsonl)", "83 (mt_bench_question.jsonl)"]
    assert cleaned.height + rejected.height == unified.height


def test_mt_bench_scan_cost(data_dir):
    """Indexing MT-bench and scanning real prompts stays cheap (µs per row printed with -s)."""
    index = dc.build_index(dc.read_eval_file(data_dir / "fastchat/mt_bench_question.jsonl"))
    rows = []
    for name in ("alpaca_en_demo.json", "alpaca_zh_demo.json"):
        rows += json.loads((data_dir / "llama_factory" / name).read_text(encoding="utf-8"))
    texts = pl.Series([r["instruction"] + "\n" + r["input"] for r in rows])
    t0 = time.perf_counter()
    found = dc.contaminated_rows(texts, index)
    per_row = 1e6 * (time.perf_counter() - t0) / texts.len()
    print(f"decontamination: {per_row:.1f} us/row over {texts.len()} real prompts")
    assert found == {}
    assert per_row < 200
