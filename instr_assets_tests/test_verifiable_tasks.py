"""Tests for instr_assets.verifiable_tasks: answers are recomputed here, independently of the generator."""

import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest

from instr_assets.core.ingest.verifiable_tasks import TASK_KINDS, exact_match, generate_verifiable_tasks, normalize_answer

N = 40
COLUMNS = ["instruction", "input", "output", "lang", "task_kind", "difficulty", "template_id", "operands_json"]


@pytest.fixture(scope="module")
def tasks() -> pl.DataFrame:
    return generate_verifiable_tasks(N, seed=123)


def test_columns_and_types(tasks):
    assert tasks.columns == COLUMNS
    assert all(dtype == pl.Utf8 for dtype in tasks.dtypes)
    assert set(tasks["difficulty"].unique()) <= {"easy", "medium", "hard"}


def test_deterministic_per_seed_and_varies_across_seeds(tasks):
    assert generate_verifiable_tasks(N, seed=123).equals(tasks)
    assert not generate_verifiable_tasks(N, seed=124).equals(tasks)


def test_every_kind_and_lang_has_requested_count(tasks):
    counts = {(r["task_kind"], r["lang"]): r["len"] for r in tasks.group_by("task_kind", "lang").len().iter_rows(named=True)}
    assert counts == {(kind, lang): N for kind in TASK_KINDS for lang in ("en", "zh")}


def test_langs_argument_restricts_output():
    df = generate_verifiable_tasks(5, seed=1, langs=("zh",))
    assert df.height == 5 * len(TASK_KINDS)
    assert set(df["lang"]) == {"zh"}
    assert generate_verifiable_tasks(0, seed=1).columns == COLUMNS


def test_no_duplicate_instruction_input_pairs():
    df = generate_verifiable_tasks(300, seed=7)
    assert df.select("instruction", "input").is_duplicated().sum() == 0


def test_templates_vary_and_instructions_demand_bare_answer(tasks):
    per_group = tasks.group_by("task_kind", "lang").agg(pl.col("template_id").n_unique())
    assert per_group["template_id"].min() >= 3
    for row in tasks.iter_rows(named=True):
        text = row["instruction"]
        if row["lang"] == "en":
            assert re.search(r"\bonly\b", text), text
        else:
            assert "只" in text, text
            assert re.search(r"[\u4e00-\u9fff]", text)


def test_difficulty_levels_cover_each_kind(tasks):
    for kind in TASK_KINDS:
        assert set(tasks.filter(pl.col("task_kind") == kind)["difficulty"]) == {"easy", "medium", "hard"}, kind


# --- independent recomputation -------------------------------------------------

UNIT_TO_BASE = {"km": 1000, "m": 1, "cm": Decimal("0.01"), "kg": 1000, "g": 1,
                "h": 60, "min": 1, "L": 1000, "mL": 1}


def canonical_number(value: Decimal) -> str:
    text = f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def expected_answer(kind: str, lang: str, ops: dict) -> str:
    if kind == "arithmetic":
        if ops["op"] == "expr":
            return str(eval(ops["expr"].replace("×", "*")))
        a, b = ops["a"], ops["b"]
        return str({"+": a + b, "-": a - b, "×": a * b, "÷": a // b, "remainder": a % b, "quotient": a // b}[ops["op"]])
    if kind == "unit_conversion":
        value = Decimal(ops["value"])
        if ops["from"] == "°C":
            return f"{canonical_number(value * Decimal('1.8') + 32)} °F"
        result = value * Decimal(UNIT_TO_BASE[ops["from"]]) / Decimal(UNIT_TO_BASE[ops["to"]])
        return f"{canonical_number(result)} {ops['to']}"
    if kind == "date_arithmetic":
        if ops["op"] == "between":
            return str((dt.date.fromisoformat(ops["end"]) - dt.date.fromisoformat(ops["start"])).days)
        day = dt.date.fromisoformat(ops["date"])
        if ops["op"] == "weekday":
            names = ("Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split() if lang == "en"
                     else ["星期" + c for c in "一二三四五六日"])
            return names[day.isoweekday() - 1]
        sign = 1 if ops["op"] == "add" else -1
        return (day + dt.timedelta(days=sign * ops["days"])).isoformat()
    if kind == "string_manipulation":
        text = ops["text"]
        return {
            "reverse": lambda: "".join(reversed(text)),
            "upper": lambda: text.upper(),
            "count_letter": lambda: str(sum(ch == ops["letter"] for ch in text)),
            "count_zh": lambda: str(len(re.findall(r"[\u4e00-\u9fff]", text))),
            "first_n": lambda: text[: ops["n"]],
            "last_n": lambda: text[len(text) - ops["n"]:],
        }[ops["op"]]()
    values = ops["values"]
    fmt = lambda xs: "[" + ", ".join(map(str, xs)) + "]"  # noqa: E731
    deduped = []
    for v in values:
        if v not in deduped:
            deduped.append(v)
    return {
        "sort_asc": fmt(sorted(values)), "sort_desc": fmt(sorted(values)[::-1]), "reverse": fmt(values[::-1]),
        "dedupe": fmt(deduped), "max": str(max(values)), "min": str(min(values)), "sum": str(sum(values)),
    }[ops["op"]]


def test_answers_recompute_for_every_row(tasks):
    for row in tasks.iter_rows(named=True):
        ops = json.loads(row["operands_json"])
        assert row["output"] == expected_answer(row["task_kind"], row["lang"], ops), row


def test_operands_appear_in_prompt(tasks):
    # The model must be able to see what the answer was computed from.
    for row in tasks.iter_rows(named=True):
        prompt = row["instruction"] + " " + row["input"]
        ops = json.loads(row["operands_json"])
        for key in ("text", "date", "start", "end", "expr", "value"):
            if key in ops:
                assert str(ops[key]) in prompt, (key, row)
        if "values" in ops:
            assert "[" + ", ".join(map(str, ops["values"])) + "]" in prompt


def test_outputs_are_short_and_single_line(tasks):
    assert tasks.filter(pl.col("output").str.contains("\n") | (pl.col("output").str.len_chars() > 80)).height == 0


# --- scoring -------------------------------------------------------------------

@pytest.mark.parametrize("prediction", ["42", "42.", " 42 ", "４２", "42。", "42\nbecause 40 + 2 = 42", "\n42\n"])
def test_exact_match_accepts_presentation_variants(prediction):
    assert exact_match(prediction, "42")


@pytest.mark.parametrize("prediction", ["43", "420", "4 2", "The answer is 42", "", "41\n42"])
def test_exact_match_rejects_wrong_answers(prediction):
    assert not exact_match(prediction, "42")


@pytest.mark.parametrize(("prediction", "reference"), [
    ("1,500 m", "1500 m"),
    ("3.5  KM", "3.5 km"),
    ("［3，1，2］", "[3, 1, 2]"),
    ("[3,1,2]", "[3, 1, 2]"),
    ("monday", "Monday"),
    ("星期三。", "星期三"),
    ("2024-03-01.", "2024-03-01"),
    ("12,345", "12345"),
])
def test_exact_match_normalizes(prediction, reference):
    assert exact_match(prediction, reference)


def test_normalize_keeps_list_commas_intact():
    # "[1,234]" is two numbers, not one thousand-separated number.
    assert normalize_answer("[1,234]") == "[1, 234]"
    assert not exact_match("[1,234]", "[1234]")
    assert normalize_answer("  Hello   World. ") == "hello world"


def test_every_reference_matches_itself_with_and_without_explanation(tasks):
    for out in tasks["output"]:
        assert exact_match(out, out)
        assert exact_match(f"{out}\nExplanation follows.", out)
