"""Source config validation, the raw readers and unify: on the bundled examples, on hand-made bad input and on
the real public datasets in ../shared/data (skipped where that folder is absent).

Every test checks accounting: each raw record ends up either as a unified pair or as a rejected row with a reason.
"""
import json
from pathlib import Path

import polars as pl
import pytest

from instr_assets.core.ingest import source_config as sc
from instr_assets.core.ingest.raw_sources import read_all_sources, read_source
from instr_assets.core.ingest.unify import unify

EXAMPLES = sc.PACKAGE_DATA / "examples"


# ---------------------------------------------------------------- helpers

def write_yaml(tmp_path: Path, body: str, name: str = "sources.yaml") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def options_of(entries) -> dict:
    # The same shape the unified_pairs asset builds from raw_source_options.
    return {e.name: json.loads(e.model_dump_json()) for e in entries}


def run_unify(yaml_path: Path):
    entries, base = sc.load_sources(yaml_path)
    raw = read_all_sources(entries, base)
    unified, rejected = unify(raw, options_of(entries))
    return raw, unified, rejected


def single_source(tmp_path: Path, fmt: str, filename: str, data: bytes, extra: str = ""):
    path = tmp_path / filename
    path.write_bytes(data)
    y = write_yaml(tmp_path, f"sources:\n  - name: src\n    format: {fmt}\n    path: '{path}'\n{extra}", f"{filename}.yaml")
    return run_unify(y)


def assert_accounted(raw: pl.DataFrame, unified: pl.DataFrame, rejected: pl.DataFrame) -> None:
    """raw = unified + rejected per source, and every raw_id lands on exactly one side."""
    for src in raw["source"].unique().to_list():
        n_raw = raw.filter(pl.col("source") == src).height
        n_ok = unified.filter(pl.col("source") == src).height
        n_bad = rejected.filter(pl.col("source") == src).height
        assert n_raw == n_ok + n_bad, (src, n_raw, n_ok, n_bad)
    assert set(unified["raw_id"]) | set(rejected["raw_id"]) == set(raw["raw_id"])
    assert not set(unified["raw_id"]) & set(rejected["raw_id"])
    assert raw["raw_id"].n_unique() == raw.height


def reasons(rejected: pl.DataFrame) -> dict:
    return dict(rejected.group_by("reason").len().iter_rows())


def alpaca_line(instruction="Say hi.", output="Hi.", input_text="") -> bytes:
    return json.dumps({"instruction": instruction, "input": input_text, "output": output}, ensure_ascii=False).encode()


# ---------------------------------------------------------------- load_sources

def test_bundled_default_sources_parse():
    entries, base = sc.load_sources(sc.DEFAULT_SOURCES_FILE)
    names = [e.name for e in entries]
    assert names == ["seed", "verifiable", "example_alpaca", "example_sharegpt", "example_messages",
                     "example_squad", "example_csv"]
    assert base == sc.PACKAGE_DATA
    by_name = {e.name: e for e in entries}
    assert by_name["verifiable"].per_kind_per_lang == 24
    assert by_name["example_csv"].columns.instruction == "question"
    assert by_name["example_csv"].columns.domain == "topic"
    # Relative paths resolve against the YAML's folder and the files exist.
    for e in entries:
        if hasattr(e, "path"):
            assert sc.resolve_path(base, e.path).is_file(), e.name


@pytest.mark.parametrize(
    "entries_yaml, must_contain",
    [
        ("  - {name: good, format: alpaca, path: a.json}\n  - {name: bad_one, format: alpaca}\n",
         ["entry #1", "bad_one", "'path'", "Field required"]),
        ("  - {name: weird, format: parquetish, path: a.json}\n",
         ["entry #0", "weird", "'format'", "parquetish"]),
        ("  - {name: gen, format: builtin_generated, per_kind_per_lang: 0}\n",
         ["entry #0", "gen", "'per_kind_per_lang'", "greater than or equal to 1"]),
        ("  - {name: t, format: tabular, path: q.csv, columns: {instruction: q}}\n",
         ["entry #0", "(t)", "'columns.response'"]),
        ("  - {name: x, format: alpaca, path: a.json, colums: 3}\n",
         ["entry #0", "(x)", "'colums'", "Extra inputs"]),
        ("  - {name: x, format: alpaca, path: '   '}\n",
         ["entry #0", "(x)", "'path'", "must not be empty"]),
        ("  - {name: 'has space', format: builtin_seed}\n",
         ["entry #0", "has space", "'name'"]),
        ("  - {format: builtin_seed}\n",
         ["entry #0", "unnamed", "'name'"]),
    ],
    ids=["missing_path", "unknown_format", "zero_per_kind", "column_map_missing_response", "typo_key",
         "blank_path", "bad_name", "no_name"],
)
def test_bad_entries_name_entry_and_field(tmp_path, entries_yaml, must_contain):
    y = write_yaml(tmp_path, "sources:\n" + entries_yaml)
    with pytest.raises(sc.SourceConfigError) as exc:
        sc.load_sources(y)
    msg = str(exc.value)
    assert str(y) in msg
    for part in must_contain:
        assert part in msg, (part, msg)


def test_duplicate_names_rejected(tmp_path):
    y = write_yaml(tmp_path, "sources:\n  - {name: dup, format: builtin_seed}\n  - {name: dup, format: builtin_seed}\n")
    with pytest.raises(sc.SourceConfigError, match="'dup' is used twice"):
        sc.load_sources(y)


def test_not_yaml_missing_file_and_disabled_entries(tmp_path):
    with pytest.raises(sc.SourceConfigError, match="not valid YAML"):
        sc.load_sources(write_yaml(tmp_path, "sources: [\n", "broken.yaml"))
    with pytest.raises(sc.SourceConfigError, match="does not exist"):
        sc.load_sources(tmp_path / "nope.yaml")
    with pytest.raises(sc.SourceConfigError, match="top level"):
        sc.load_sources(write_yaml(tmp_path, "", "empty.yaml"))
    entries, _ = sc.load_sources(write_yaml(
        tmp_path, "sources:\n  - {name: first, format: builtin_seed, enabled: false}\n  - {name: second, format: builtin_seed}\n",
        "enabled.yaml"))
    assert [e.name for e in entries] == ["second"]
    # YAML 1.1 reads unquoted on/off as booleans: the error says so by field rather than accepting them.
    with pytest.raises(sc.SourceConfigError) as exc:
        sc.load_sources(write_yaml(tmp_path, "sources:\n  - {name: off, format: builtin_seed}\n", "norway.yaml"))
    assert "entry #0" in str(exc.value) and "field 'name': Input should be a valid string" in str(exc.value)


def test_missing_data_file_is_a_config_error(tmp_path):
    y = write_yaml(tmp_path, f"sources:\n  - {{name: gone, format: alpaca, path: '{tmp_path / 'missing.json'}'}}\n")
    entries, base = sc.load_sources(y)
    with pytest.raises(sc.SourceConfigError, match="'gone'.*'path'.*does not exist"):
        read_source(entries[0], base)


# ---------------------------------------------------------------- bundled examples

@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    d = tmp_path_factory.mktemp("examples_cfg")
    y = write_yaml(d, f"""sources:
  - {{name: ex_alpaca, format: alpaca, path: '{EXAMPLES / "alpaca_sample.json"}'}}
  - {{name: ex_sharegpt, format: sharegpt, path: '{EXAMPLES / "sharegpt_sample.json"}'}}
  - {{name: ex_messages, format: messages, path: '{EXAMPLES / "messages_sample.jsonl"}'}}
  - {{name: ex_squad, format: squad, path: '{EXAMPLES / "squad_sample.json"}'}}
  - name: ex_csv
    format: tabular
    path: '{EXAMPLES / "qa_sample.csv"}'
    domain: general
    columns: {{instruction: question, response: answer, domain: topic}}
""")
    return run_unify(y)


def test_examples_counts_and_accounting(examples):
    raw, unified, rejected = examples
    assert_accounted(raw, unified, rejected)
    assert dict(raw.group_by("source").len().iter_rows()) == {
        "ex_alpaca": 15, "ex_sharegpt": 8, "ex_messages": 9, "ex_squad": 10, "ex_csv": 10}
    assert dict(unified.group_by("source").len().iter_rows()) == {
        "ex_alpaca": 15, "ex_sharegpt": 8, "ex_messages": 8, "ex_squad": 10, "ex_csv": 10}
    assert rejected.height == 1


def test_malformed_messages_line_5_is_a_parse_error(examples):
    raw, unified, rejected = examples
    bad_raw = raw.filter(pl.col("parse_error").is_not_null())
    assert bad_raw.select("source", "locator", "line").rows() == [("ex_messages", "line 5", 5)]
    assert "JSON parse error" in bad_raw["parse_error"][0]
    # The truncated text is kept verbatim for inspection.
    assert bad_raw["record"][0].startswith('{"messages": [{"role": "user", "content": "What is the capital of Canada?"}')
    row = rejected.row(0, named=True)
    assert (row["source"], row["locator"], row["line"], row["reason"]) == ("ex_messages", "line 5", 5, "parse_error")
    assert row["detail"] == bad_raw["parse_error"][0]
    # The lines after the bad one are still read.
    assert unified.filter(pl.col("source") == "ex_messages")["line"].to_list() == [1, 2, 3, 4, 6, 7, 8, 9]


def test_squad_bad_offset_kept_with_note(examples):
    _, unified, _ = examples
    squad = unified.filter(pl.col("source") == "ex_squad")
    noted = squad.filter(pl.col("unify_note").is_not_null())
    assert noted.height == 1
    r = noted.row(0, named=True)
    assert r["response"] == "一百克左右"
    assert "answer_start -1" in r["unify_note"]
    assert r["lang"] == "zh" and r["task_hint"] == "extractive_qa"
    assert r["instruction"].startswith("阅读下面的文章")
    assert r["input"].startswith("文章：") and "问题：大熊猫幼崽刚出生时体重大约是多少？" in r["input"]
    # Every squad answer is a span of its passage.
    for inp, resp in squad.select("input", "response").iter_rows():
        assert resp in inp
    assert set(squad["lang"]) == {"en", "zh"}
    en = squad.filter(pl.col("lang") == "en")
    assert en["instruction"].unique().to_list() == ["Read the passage and answer the question with a short span from it."]


def test_examples_conversation_shapes(examples):
    _, unified, _ = examples
    sg = unified.filter(pl.col("source") == "ex_sharegpt")
    with_system = sg.filter(pl.col("system") != "")
    assert with_system.height >= 1
    assert all(m[0]["role"] == "system" for m in with_system["messages"].to_list())
    msgs = unified.filter(pl.col("source") == "ex_messages")
    multi = msgs.filter(pl.col("n_turns") > 1).row(0, named=True)
    assert multi["n_turns"] == 2
    # The flat fields follow the last exchange; the turns before it are the input (issue 10: the first question
    # paired with the last answer mixed two exchanges).
    assert multi["instruction"] == "And for a child?"
    assert multi["input"].startswith("User: What should I pack for a rainy weekend in the mountains?\n\nAssistant: ")
    assert multi["response"].startswith("The same basics in their size")
    assert [m["role"] for m in multi["messages"]] == ["system", "user", "assistant", "user", "assistant"]
    # The alpaca input becomes part of the user turn.
    fr = unified.filter(pl.col("instruction") == "Translate the sentence into French.").row(0, named=True)
    assert fr["messages"][0] == {"role": "user", "content": "Translate the sentence into French.\n\nWhere is the train station?"}
    assert fr["response"] == "Où est la gare ?"


def test_csv_example_quoted_newline_and_domain(examples):
    _, unified, _ = examples
    csv = unified.filter(pl.col("source") == "ex_csv")
    tea = csv.filter(pl.col("instruction") == "How do I make a basic cup of tea?").row(0, named=True)
    assert tea["response"] == ("Boil fresh water, pour it over a tea bag or leaves, and steep for 3 to 5 minutes.\n"
                               "Remove the tea, then add milk, sugar, or lemon if you like.")
    haiku = csv.filter(pl.col("instruction") == 'What is a "haiku"?')
    assert haiku.height == 1
    # The per-record column wins over the entry's domain label.
    assert tea["domain_hint"] == "cooking"
    assert set(csv["domain_hint"]) >= {"science", "literature", "geography", "math"}


# ---------------------------------------------------------------- bad input

def test_invalid_utf8_line_in_jsonl(tmp_path):
    data = b"\n".join([alpaca_line("Say one.", "One."), b'{"instruction": "caf\xe9 \xff", "output": "x"}',
                       alpaca_line("Say three.", "Three.")]) + b"\n"
    raw, unified, rejected = single_source(tmp_path, "alpaca", "bad_utf8.jsonl", data)
    assert_accounted(raw, unified, rejected)
    assert unified["instruction"].to_list() == ["Say one.", "Say three."]
    assert rejected.select("line", "reason").rows() == [(2, "parse_error")]
    assert rejected["detail"][0].startswith("invalid UTF-8")
    # The bad line is kept, readable, with the bad bytes replaced.
    assert "\ufffd" in raw.filter(pl.col("line") == 2)["record"][0]


def test_invalid_utf8_inside_json_array_rejects_only_that_record(tmp_path):
    recs = [{"instruction": f"Say {i}.", "input": "", "output": f"Answer {i}."} for i in range(5)]
    data = json.dumps(recs, indent=2).encode().replace(b"Say 2.", b"Say \xff2.")
    raw, unified, rejected = single_source(tmp_path, "alpaca", "bad_utf8_array.json", data)
    assert_accounted(raw, unified, rejected)
    assert raw.height == 5
    assert unified["instruction"].to_list() == ["Say 0.", "Say 1.", "Say 3.", "Say 4."]
    assert rejected.select("locator", "reason").rows() == [("[2]", "parse_error")]
    assert "invalid UTF-8" in rejected["detail"][0]


def test_nul_bytes(tmp_path):
    data = b"\n".join([
        alpaca_line("Fine.", "Yes."),
        b'{"instruction": "raw \x00 nul", "output": "x"}',     # a raw control byte is not valid JSON
        b'{"instruction": "escaped \\u0000 nul", "output": "y"}',  # an escaped one is valid JSON
    ]) + b"\n"
    raw, unified, rejected = single_source(tmp_path, "alpaca", "nul.jsonl", data)
    assert_accounted(raw, unified, rejected)
    assert rejected.select("line", "reason").rows() == [(2, "parse_error")]
    assert "control character" in rejected["detail"][0]
    esc = unified.filter(pl.col("line") == 3).row(0, named=True)
    assert esc["instruction"] == "escaped \x00 nul"  # unify keeps it verbatim; clean removes control chars


def test_wrong_types_and_missing_fields(tmp_path):
    data = b"\n".join([
        alpaca_line("Good.", "Fine."),
        b'{"instruction": 42, "input": "", "output": "x"}',
        b'{"instruction": "List two.", "input": "", "output": ["a", "b"]}',
        b'{"input": "", "output": "no instruction"}',
        b'[1, 2]',
        b'{"instruction": "   ", "output": "blank instruction"}',
        b'{"instruction": "blank output", "output": " \\n "}',
        b'{"instruction": "null input is fine", "input": null, "output": "ok"}',
    ]) + b"\n"
    raw, unified, rejected = single_source(tmp_path, "alpaca", "types.jsonl", data)
    assert_accounted(raw, unified, rejected)
    assert unified["line"].to_list() == [1, 8]
    assert rejected.select("line", "reason").rows() == [
        (2, "wrong_type"), (3, "wrong_type"), (4, "missing_field"), (5, "parse_error"),
        (6, "empty_instruction"), (7, "empty_response")]
    details = dict(rejected.select("line", "detail").iter_rows())
    assert "'instruction' is a int" in details[2]
    assert "'output' is a list" in details[3]
    assert "JSON list" in details[5]


def test_lone_surrogate_escape_is_rejected_not_a_crash(tmp_path):
    data = b"\n".join([alpaca_line("Fine.", "Yes."),
                       b'{"instruction": "cut emoji \\ud83d here", "output": "x"}',
                       b'{"instruction": "whole emoji \\ud83d\\ude00", "output": "y"}']) + b"\n"
    raw, unified, rejected = single_source(tmp_path, "alpaca", "surrogate.jsonl", data)
    assert_accounted(raw, unified, rejected)
    assert rejected.select("line", "reason").rows() == [(2, "invalid_unicode")]
    assert unified.filter(pl.col("line") == 3)["instruction"][0] == "whole emoji \U0001F600"


def test_lone_surrogate_in_squad_question(tmp_path):
    doc = ('{"data": [{"title": "t", "paragraphs": [{"context": "Cats sleep a lot.", "qas": ['
           '{"question": "Who sleeps \\ud83d?", "answers": [{"text": "Cats", "answer_start": 0}]},'
           '{"question": "Who sleeps?", "answers": [{"text": "Cats", "answer_start": 0}]}]}]}]}')
    raw, unified, rejected = single_source(tmp_path, "squad", "sur_squad.json", doc.encode())
    assert_accounted(raw, unified, rejected)
    assert raw.height == 2
    assert rejected["reason"].to_list() == ["invalid_unicode"]
    assert unified["response"].to_list() == ["Cats"]


def test_empty_files(tmp_path):
    for name in ("empty.json", "empty.jsonl"):
        raw, unified, rejected = single_source(tmp_path, "alpaca", name, b"")
        assert (raw.height, unified.height, rejected.height) == (0, 0, 0)
        assert "pair_id" in unified.columns and "reason" in rejected.columns
    raw, unified, rejected = single_source(tmp_path, "alpaca", "blank.jsonl", b"\n  \n\n")
    assert (raw.height, unified.height, rejected.height) == (0, 0, 0)
    raw, unified, rejected = single_source(tmp_path, "alpaca", "empty_array.json", b"[ ]\n")
    assert (raw.height, unified.height, rejected.height) == (0, 0, 0)


def test_truncated_json_array(tmp_path):
    recs = [{"instruction": f"Q{i}?", "input": "", "output": f"A{i}."} for i in range(4)]
    full = json.dumps(recs, indent=1).encode()
    cut = full[: full.index(b'"Q2?"') + 3]  # stops inside the third record
    raw, unified, rejected = single_source(tmp_path, "alpaca", "truncated.json", cut)
    assert_accounted(raw, unified, rejected)
    assert unified["instruction"].to_list() == ["Q0?", "Q1?"]
    assert rejected.select("locator", "reason").rows() == [("[2:]", "parse_error")]
    assert "JSON parse error" in rejected["detail"][0]
    # A file that just ends after a comma: earlier records kept, the missing ']' reported.
    raw, unified, rejected = single_source(tmp_path, "alpaca", "no_close.json",
                                           b"[\n" + alpaca_line("A?", "a") + b",\n" + alpaca_line("B?", "b") + b",\n")
    assert unified["instruction"].to_list() == ["A?", "B?"]
    assert rejected["reason"].to_list() == ["parse_error"]
    assert "missing ']'" in rejected["detail"][0]


def test_csv_quoted_comma_newline_and_quotes(tmp_path):
    data = ('q,a,extra\r\n'
            '"Hello, world?","line1\nline2, ok",x\r\n'
            'plain,"say ""hi""",y\r\n'
            'number answer,42,z\r\n'
            'too,many,fields,here\r\n').encode()
    raw, unified, rejected = single_source(tmp_path, "tabular", "q.csv", data,
                                           "    columns: {instruction: q, response: a}\n")
    assert_accounted(raw, unified, rejected)
    assert raw.height == 4
    got = dict(unified.select("instruction", "response").iter_rows())
    assert got == {"Hello, world?": "line1\nline2, ok", "plain": 'say "hi"', "number answer": "42"}
    assert rejected.select("locator", "reason").rows() == [("row 4", "parse_error")]
    assert "more fields than the header" in rejected["detail"][0]


def test_wrapped_object_and_bom(tmp_path):
    doc = {"version": 1, "data": [{"instruction": "X?", "input": "", "output": "x"},
                                  {"instruction": "Y?", "input": "", "output": "y"}]}
    raw, unified, rejected = single_source(tmp_path, "alpaca", "wrapped.json",
                                           b"\xef\xbb\xbf" + json.dumps(doc, indent=2).encode())
    assert_accounted(raw, unified, rejected)
    assert raw["locator"].to_list() == ["data[0]", "data[1]"]
    assert unified["instruction"].to_list() == ["X?", "Y?"]
    # BOM before a JSON array and before a SQuAD file (as Windows editors save them).
    raw, unified, rejected = single_source(tmp_path, "alpaca", "bom_array.json",
                                           b"\xef\xbb\xbf[" + alpaca_line("Z?", "z") + b"]")
    assert unified["instruction"].to_list() == ["Z?"] and rejected.height == 0
    squad = {"data": [{"title": "t", "paragraphs": [{"context": "Sky is blue.", "qas": [
        {"question": "What colour?", "answers": [{"text": "blue", "answer_start": 7}]}]}]}]}
    raw, unified, rejected = single_source(tmp_path, "squad", "bom_squad.json",
                                           b"\xef\xbb\xbf" + json.dumps(squad).encode())
    assert unified["response"].to_list() == ["blue"] and rejected.height == 0


def test_squad_answer_not_in_context_is_rejected(tmp_path):
    doc = {"data": [{"title": "t", "paragraphs": [{"context": "The river is long.", "qas": [
        {"question": "What is long?", "answers": [{"text": "The river", "answer_start": 0}]},
        {"question": "What is short?", "answers": [{"text": "the road", "answer_start": -1}]},
        {"question": "No answers?", "answers": []},
    ]}]}, {"title": "no paragraphs"}]}
    raw, unified, rejected = single_source(tmp_path, "squad", "sq.json", json.dumps(doc).encode())
    assert_accounted(raw, unified, rejected)
    assert unified["response"].to_list() == ["The river"]
    assert unified["unify_note"].to_list() == [None]
    assert reasons(rejected) == {"answer_not_in_context": 1, "missing_field": 1, "parse_error": 1}


def test_sharegpt_turn_problems(tmp_path):
    convs = [
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
        {"conversations": [{"from": "human", "value": "Hi"}, {"from": "narrator", "value": "{}"}]},
        {"conversations": [{"from": "gpt", "value": "Hello"}, {"from": "human", "value": "Hi"}]},
        {"conversations": [{"from": "human", "value": "Hi"}]},
        {"conversations": []},
        {"conversations": "not a list"},
        {"system": "Be brief.", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]},
    ]
    raw, unified, rejected = single_source(tmp_path, "sharegpt", "sg.json", json.dumps(convs).encode())
    assert_accounted(raw, unified, rejected)
    assert dict(rejected.select("locator", "reason").iter_rows()) == {
        "[1]": "unsupported_role", "[2]": "bad_turn_order", "[3]": "no_final_response", "[4]": "no_turns",
        "[5]": "wrong_type"}
    sys_row = unified.filter(pl.col("locator") == "[6]").row(0, named=True)
    assert sys_row["system"] == "Be brief."
    assert sys_row["messages"][0] == {"role": "system", "content": "Be brief."}


# ---------------------------------------------------------------- shared public data

@pytest.fixture(scope="module")
def shared_run(data_dir, tmp_path_factory):
    d = tmp_path_factory.mktemp("shared_cfg")
    # The shared data lies outside this temp folder: the sources file declares it as a data root.
    y = write_yaml(d, f"""data_roots: ['{data_dir}']
sources:
  - {{name: alpaca_en, format: alpaca, path: '{data_dir / "llama_factory/alpaca_en_demo.json"}'}}
  - {{name: alpaca_zh, format: alpaca, path: '{data_dir / "llama_factory/alpaca_zh_demo.json"}'}}
  - {{name: identity, format: alpaca, path: '{data_dir / "llama_factory/identity.json"}'}}
  - {{name: fastchat, format: sharegpt, path: '{data_dir / "fastchat/dummy_conversation.json"}'}}
  - {{name: glaive_en, format: sharegpt, path: '{data_dir / "llama_factory/glaive_toolcall_en_demo.json"}'}}
  - {{name: v1_sft, format: messages, path: '{data_dir / "llama_factory/v1_sft_demo.jsonl"}'}}
  - {{name: cmrc_trial, format: squad, path: '{data_dir / "cmrc2018/cmrc2018_trial.json"}'}}
  - {{name: cmrc_dev, format: squad, path: '{data_dir / "cmrc2018/cmrc2018_dev.json"}'}}
  - {{name: seeds_self_instruct, format: self_instruct, path: '{data_dir / "self_instruct/seed_tasks.jsonl"}'}}
  - {{name: seeds_stanford, format: self_instruct, path: '{data_dir / "stanford_alpaca/seed_tasks.jsonl"}'}}
""")
    raw, unified, rejected = run_unify(y)
    return raw, unified, rejected


def _src(frame: pl.DataFrame, name: str) -> pl.DataFrame:
    return frame.filter(pl.col("source") == name)


def test_shared_accounting_and_raw_counts(shared_run):
    raw, unified, rejected = shared_run
    assert_accounted(raw, unified, rejected)
    # Record counts from SOURCES.md (squad and self-instruct: one raw row per question / instance).
    assert dict(raw.group_by("source").len().iter_rows()) == {
        "alpaca_en": 999, "alpaca_zh": 1000, "identity": 91, "fastchat": 500, "glaive_en": 300, "v1_sft": 500,
        "cmrc_trial": 1002, "cmrc_dev": 3219, "seeds_self_instruct": 175, "seeds_stanford": 175}
    assert raw["parse_error"].null_count() == raw.height


def test_shared_alpaca_all_unified_and_language(shared_run):
    _, unified, rejected = shared_run
    for name, lang, n in [("alpaca_en", "en", 999), ("alpaca_zh", "zh", 1000)]:
        u = _src(unified, name)
        assert u.height == n and _src(rejected, name).height == 0
        share = (u["lang"] == lang).mean()
        assert share > 0.95, (name, share)
    assert (_src(unified, "alpaca_en")["lang"] == "en").all()
    # identity.json: SOURCES.md says 75 zh and 16 en records.
    assert dict(_src(unified, "identity").group_by("lang").len().iter_rows()) == {"zh": 75, "en": 16}


def test_shared_sharegpt_fastchat(shared_run):
    _, unified, rejected = shared_run
    u = _src(unified, "fastchat")
    assert u.height == 500 and _src(rejected, "fastchat").height == 0
    assert (u["lang"] == "en").all()
    # "What is up?" opens 167 conversations (SOURCES.md); unify keeps them all — dedup is on whole conversations.
    first_user = u["messages"].list.first().struct.field("content")  # no system turns in this file
    assert (first_user == "What is up?").sum() == 167
    assert u["n_turns"].min() >= 1 and u["n_turns"].max() > 1


def test_shared_glaive_tool_calls_kept(shared_run, data_dir):
    # Tool calls and results are kept (turns.py says how); test_sources_more_formats.py checks their form.
    raw, unified, rejected = shared_run
    recs = json.loads((data_dir / "llama_factory/glaive_toolcall_en_demo.json").read_text(encoding="utf-8"))
    calls = sum(t["from"] == "function_call" for r in recs for t in r["conversations"])
    u = _src(unified, "glaive_en")
    assert u.height == _src(raw, "glaive_en").height == 300 and _src(rejected, "glaive_en").height == 0
    kept = u["messages"].list.eval(pl.element().struct.field("content").str.starts_with("<tool_call>")).list.sum()
    assert kept.sum() == calls > 0


def test_shared_v1_sft_content_parts(shared_run, data_dir):
    _, unified, rejected = shared_run
    u = _src(unified, "v1_sft")
    assert u.height == 500 and _src(rejected, "v1_sft").height == 0
    first = json.loads((data_dir / "llama_factory/v1_sft_demo.jsonl").read_text(encoding="utf-8").splitlines()[0])
    row = u.filter(pl.col("line") == 1).row(0, named=True)
    assert row["instruction"] == "".join(p["value"] for p in first["messages"][0]["content"]) == "hi"
    assert row["response"] == "".join(p["value"] for p in first["messages"][-1]["content"])
    # No content part leaked into the text as a Python/JSON repr.
    assert not u["text"].str.contains("'type'|\"type\"").any()


def test_shared_cmrc_offsets_and_answers(shared_run, data_dir):
    _, unified, rejected = shared_run
    trial = _src(unified, "cmrc_trial")
    assert trial.height == 1002 and _src(rejected, "cmrc_trial").height == 0
    noted = trial.filter(pl.col("unify_note").is_not_null())
    # The 5 offsets shifted by the non-BMP character 𫚭 (U+2B6AD): answers still found by text, with a note.
    assert noted.height == 5
    assert all("\U0002B6AD" in inp for inp in noted["input"])
    for inp, resp in trial.select("input", "response").iter_rows():
        assert resp in inp
    assert (trial["lang"] == "zh").all()

    dev = _src(unified, "cmrc_dev")
    dev_rej = _src(rejected, "cmrc_dev")
    # SOURCES.md: 193 dev answers have answer_start = -1. They are all second/third reference answers; unify
    # uses only answers[0], which is always in the context, so no dev question is rejected and the
    # answer_not_in_context path is exercised with a hand-made file instead (test_squad_answer_not_in_context...).
    doc = json.loads((data_dir / "cmrc2018/cmrc2018_dev.json").read_text(encoding="utf-8"))
    qas = [(p["context"], q) for a in doc["data"] for p in a["paragraphs"] for q in p["qas"]]
    neg_any = sum(ans["answer_start"] == -1 for _, q in qas for ans in q["answers"])
    first_not_in = sum(q["answers"][0]["text"] not in c for c, q in qas)
    first_mismatch = sum(c[q["answers"][0]["answer_start"]:][:len(q["answers"][0]["text"])] != q["answers"][0]["text"]
                         for c, q in qas)
    assert neg_any == 193
    assert first_not_in == 0
    assert (dev_rej["reason"] == "answer_not_in_context").sum() == first_not_in
    assert dev.height + dev_rej.height == 3219
    assert dev.filter(pl.col("unify_note").is_not_null()).height == first_mismatch > 0


def test_shared_byte_identical_seed_tasks(shared_run):
    raw, unified, _ = shared_run
    a, b = _src(raw, "seeds_self_instruct"), _src(raw, "seeds_stanford")
    assert a.height == b.height == 175
    assert set(a["content_hash"]) == set(b["content_hash"])
    assert a["content_hash"].n_unique() == 175
    assert set(a["raw_id"]).isdisjoint(set(b["raw_id"]))  # provenance differs even though content is the same
    ua, ub = _src(unified, "seeds_self_instruct"), _src(unified, "seeds_stanford")
    assert ua.height == ub.height == 175
    assert set(ua["pair_id"]) == set(ub["pair_id"])
    assert (ua["lang"] == "en").mean() > 0.95
