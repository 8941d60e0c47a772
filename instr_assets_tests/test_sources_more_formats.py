"""Readers for OpenAssistant trees, keyed turns, Natural Instructions tasks, datasets save_to_disk folders,
conversations with tool calls, and `format: auto`: on the real files in ../shared/data where there is one, else
on files written here. Every test checks that each raw record is a pair or a rejected row with a reason."""
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from instr_assets.core.ingest import source_config as sc
from instr_assets.core.ingest.raw_sources import read_source
from instr_assets.core.ingest.source_cache import SourceCache, watched_files
from instr_assets.core.ingest.unify import unify
from instr_assets_tests.test_sources_and_unify import assert_accounted, reasons, run_unify, single_source, write_yaml


def shared_source(tmp_path: Path, data_dir: Path, fmt: str, rel: str, extra: str = ""):
    y = write_yaml(tmp_path, f"data_roots: ['{data_dir}']\nsources:\n  - name: src\n    format: {fmt}\n"
                             f"    path: '{data_dir / rel}'\n{extra}")
    return run_unify(y)


def roles(messages) -> list[str]:
    return [m["role"] for m in messages]


def jsonl(records) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()


# ---------------------------------------------------------------- OpenAssistant trees

def test_oasst_real_trees_one_conversation_per_leaf(tmp_path, data_dir):
    raw, unified, rejected = shared_source(tmp_path, data_dir, "oasst", "open_assistant/test_trees.jsonl")
    assert_accounted(raw, unified, rejected)
    trees = [json.loads(line) for line in (data_dir / "open_assistant/test_trees.jsonl").read_text().splitlines()]

    def leaves(m):
        return 1 if not m["replies"] else sum(leaves(r) for r in m["replies"])
    assert raw.height == sum(leaves(t["prompt"]) for t in trees) == 74
    # The first tree is one prompt with four ranked replies: four conversations that share the prompt.
    first = unified.filter(pl.col("locator").str.starts_with("line 1 path "))
    assert first.height == 4 and set(first["instruction"]) == {trees[0]["prompt"]["text"]}
    assert set(first["response"]) == {r["text"] for r in trees[0]["prompt"]["replies"]}
    longest = unified.sort(pl.col("messages").list.len()).row(-1, named=True)
    assert roles(longest["messages"]) == ["user", "assistant"] * 5 and longest["n_turns"] == 5
    # Two paths have an assistant message answering an assistant message: rejected, naming the turn.
    assert reasons(rejected) == {"bad_turn_order": 2}
    assert all("is 'assistant', expected 'user'" in d for d in rejected["detail"])
    # branches: best keeps one path per tree here (no prompt has two follow-ups), through rank-0 replies only.
    raw, unified, rejected = shared_source(tmp_path, data_dir, "oasst", "open_assistant/test_trees.jsonl",
                                           "    branches: best\n")
    assert_accounted(raw, unified, rejected)
    assert reasons(rejected) == {"oasst_lower_ranked": 74 - len(trees), "bad_turn_order": 1}
    kept = raw.filter(pl.col("raw_id").is_in(unified["raw_id"].implode()))["record"]
    assert {m["rank"] for r in kept for m in json.loads(r)["path"]} == {None, 0}


def test_oasst_deep_nested_tree_is_read_whole(tmp_path):
    # 40 messages nest 80 JSON levels: past the default max_depth of other formats, within oasst's.
    node = {"message_id": "m39", "role": "assistant", "text": "answer 39", "replies": []}
    for i in range(38, -1, -1):
        node = {"message_id": f"m{i}", "role": "prompter" if i % 2 == 0 else "assistant", "text": f"turn {i}",
                "replies": [node]}
    raw, unified, rejected = single_source(tmp_path, "oasst", "deep.jsonl", jsonl([{"message_tree_id": "t",
                                                                                    "prompt": node}]))
    assert rejected.height == 0 and unified["n_turns"].to_list() == [20]
    assert unified["locator"].to_list() == ["line 1 path 0"] and unified["response"].to_list() == ["answer 39"]


def test_oasst_flat_messages_flags_orphans_and_languages(tmp_path):
    def msg(mid, parent, role, text, **kw):
        return {"message_id": mid, "parent_id": parent, "message_tree_id": "t1", "role": role, "text": text,
                "lang": "en"} | kw
    records = [
        msg("p", None, "prompter", "Name a colour."),
        msg("a1", "p", "assistant", "Red.", rank=0),
        msg("a2", "p", "assistant", "Blue.", rank=1),
        msg("a3", "p", "assistant", "Bad.", deleted=True),
        msg("a4", "p", "assistant", "Unreviewed.", review_result=False),
        msg("a5", "p", "assistant", "Grün.", lang="de"),
        msg("f", "a1", "prompter", "Another?"),  # an unanswered follow-up: the path ends with a prompt
        msg("x", "missing", "assistant", "Lost parent."),
        msg("a2", "p", "assistant", "Same id again."),
    ]
    raw, unified, rejected = single_source(tmp_path, "oasst", "flat.jsonl", jsonl(records),
                                           "    langs: [en, zh]\n")
    assert_accounted(raw, unified, rejected)
    assert sorted(unified["response"]) == ["Blue."]
    by_reason = {r: d for r, d in rejected.select("reason", "detail").iter_rows()}
    assert set(by_reason) == {"no_final_response", "oasst_deleted", "oasst_review_failed", "language_not_selected",
                              "oasst_orphan", "parse_error"}
    assert "'missing' is not in the tree" in by_reason["oasst_orphan"]
    assert "message_id 'a2' repeats (first at line 3)" == by_reason["parse_error"]
    assert "'de'" in by_reason["language_not_selected"]
    raw, unified, rejected = single_source(tmp_path, "oasst", "flat.jsonl", jsonl(records), "    branches: best\n")
    assert_accounted(raw, unified, rejected)
    assert unified.height == 0 and reasons(rejected)["oasst_lower_ranked"] == 4  # all replies but a1


# ---------------------------------------------------------------- keyed turns (Firefly and similar)

def test_keyed_turns_shapes_and_problems(tmp_path):
    records = [
        {"conversation_id": 1, "category": "Brainstorming",
         "conversation": [{"human": "你好", "assistant": "你好！"}, {"human": "1+1?", "assistant": "2"}]},
        {"conversation": [{"user": "Hi", "bot": "Hello"}]},
        {"conversation": [{"question": "Q?", "answer": "A."}], "system": "Be brief."},
        {"conversation": [{"speaker": "Hi", "reply": "Hello"}]},
        {"conversation": [{"human": "Hi"}, {"human": "Again", "assistant": "Yes"}]},
        {"conversation": [{"human": "Hi", "assistant": "Hello"}, {"human": "Bye"}]},
        {"conversation": []},
        {"dialog": []},
    ]
    raw, unified, rejected = single_source(tmp_path, "keyed_turns", "firefly.jsonl", jsonl(records))
    assert_accounted(raw, unified, rejected)
    first = unified.filter(pl.col("line") == 1).row(0, named=True)
    assert first["messages"] == [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好！"},
                                 {"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}]
    assert (first["instruction"], first["input"], first["response"]) == (
        "1+1?", "User: 你好\n\nAssistant: 你好！", "2")
    third = unified.filter(pl.col("line") == 3).row(0, named=True)
    assert third["system"] == "Be brief." and roles(third["messages"]) == ["system", "user", "assistant"]
    assert dict(rejected.select("line", "reason").iter_rows()) == {
        4: "unknown_turn_keys", 5: "missing_field", 6: "no_final_response", 7: "no_turns", 8: "missing_field"}
    assert "conversation[0]: field 'assistant' is missing" in rejected.filter(pl.col("line") == 5)["detail"][0]


def test_keyed_turns_declared_keys(tmp_path):
    records = [{"turns": [{"q": "Hi", "a": "Hello"}]}]
    extra = "    conversation_key: turns\n    user_key: q\n    assistant_key: a\n"
    raw, unified, rejected = single_source(tmp_path, "keyed_turns", "kt.json", json.dumps(records).encode(), extra)
    assert unified["response"].to_list() == ["Hello"] and rejected.height == 0
    y = write_yaml(tmp_path, "sources:\n  - {name: k, format: keyed_turns, path: kt.json, user_key: q}\n", "bad.yaml")
    with pytest.raises(sc.SourceConfigError,
                       match=r"entry #0 \(k\), field '\(entry\)': .*user_key and assistant_key together"):
        sc.load_sources(y)


# ---------------------------------------------------------------- Natural Instructions

NI_TASK = "natural_instructions/task062_bigbench_repeat_copy_logic.json"


def test_natural_instructions_real_task(tmp_path, data_dir):
    raw, unified, rejected = shared_source(tmp_path, data_dir, "natural_instructions", NI_TASK)
    assert_accounted(raw, unified, rejected)
    task = json.loads((data_dir / NI_TASK).read_text(encoding="utf-8"))
    assert unified.height == len(task["Instances"]) == 29 and rejected.height == 0
    assert set(unified["instruction"]) == {task["Definition"]}
    by_input = {r["input"]: r["response"] for r in unified.iter_rows(named=True)}
    assert by_input == {i["input"]: i["output"][0] for i in task["Instances"]}


def test_natural_instructions_each_output_and_bad_instances(tmp_path):
    task = {"Definition": ["Answer yes or no."], "Positive Examples": [], "Instances": [
        {"id": "a", "input": "Is fire hot?", "output": ["yes", "Yes"]},
        {"id": "b", "input": "Is ice hot?", "output": []},
        "not an instance"]}
    data = json.dumps(task).encode()
    raw, unified, rejected = single_source(tmp_path, "natural_instructions", "t.json", data, "    outputs: each\n")
    assert_accounted(raw, unified, rejected)
    assert dict(unified.select("locator", "response").iter_rows()) == {
        "Instances[0] output[0]": "yes", "Instances[0] output[1]": "Yes"}
    assert set(unified["instruction"]) == {"Answer yes or no."}
    assert reasons(rejected) == {"missing_field": 2}
    raw, unified, rejected = single_source(tmp_path, "natural_instructions", "t1.json", data)
    assert unified["response"].to_list() == ["yes"]
    assert "the first of 2 accepted outputs" in unified["unify_note"][0]


def test_natural_instructions_file_that_does_not_parse_names_itself(tmp_path):
    (tmp_path / "broken.json").write_text('{"Definition": "x", "Instances": [', encoding="utf-8")
    entry = sc.NaturalInstructionsSource(name="ni", format="natural_instructions", path="broken.json")
    with pytest.raises(sc.SourceConfigError, match=r"source 'ni': field 'path': .*broken.json: not a Natural "
                                                   r"Instructions task file: JSON parse error"):
        read_source(entry, tmp_path)


# ---------------------------------------------------------------- datasets save_to_disk folders

def write_split(folder: Path, rows: list[dict], n_files: int = 1) -> None:
    """One split as save_to_disk writes it: Arrow IPC stream files named in state.json."""
    folder.mkdir(parents=True)
    names = [f"data-{k:05d}-of-{n_files:05d}.arrow" for k in range(n_files)]
    for k, name in enumerate(names):
        table = pa.Table.from_pylist(rows[k::n_files])
        with pa.OSFile(str(folder / name), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    (folder / "state.json").write_text(json.dumps({"_data_files": [{"filename": n} for n in names],
                                                   "_split": None}))
    (folder / "dataset_info.json").write_text(json.dumps({"features": {}}))


def test_dataset_dict_folder_written_with_pyarrow(tmp_path):
    root = tmp_path / "dd"
    write_split(root / "train", [{"conversations": [{"from": "human", "value": f"Q{i}"},
                                                    {"from": "gpt", "value": f"A{i}"}]} for i in range(4)], 2)
    write_split(root / "test", [{"conversations": [{"from": "human", "value": "Qt"}]}])
    (root / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "test"]}))
    y = write_yaml(tmp_path, "sources:\n  - {name: all, format: sharegpt, path: dd}\n"
                             "  - {name: train, format: sharegpt, path: dd, splits: [train]}\n"
                             "  - {name: nope, format: sharegpt, path: dd, splits: [validation]}\n")
    entries, base = sc.load_sources(y)
    raw = pl.concat([read_source(e, base) for e in entries[:2]])
    unified, rejected = unify(raw, {e.name: json.loads(e.model_dump_json()) for e in entries})
    assert_accounted(raw, unified, rejected)
    assert raw.filter(pl.col("source") == "all")["locator"].to_list() == [
        "train row 0", "train row 1", "train row 2", "train row 3", "test row 0"]
    # Rows come file by file, in the order state.json names the files.
    assert unified.filter(pl.col("source") == "train").sort("locator")["instruction"].to_list() == [
        "Q0", "Q2", "Q1", "Q3"]
    assert dict(rejected.select("source", "reason").iter_rows()) == {"all": "no_final_response"}
    with pytest.raises(sc.SourceConfigError, match=r"source 'nope': field 'path': .*no split 'validation' \(its "
                                                   r"splits: train, test\)"):
        read_source(entries[2], base)
    # The folder is watched and cached through its files: rewriting one changes the cache key.
    assert (root / "train" / "data-00001-of-00002.arrow") in watched_files(y)
    key = SourceCache(tmp_path / "cache").raw_key(entries[0], base, "v1")
    (root / "test" / "state.json").write_text(json.dumps({"_data_files": [], "_split": None}))
    assert SourceCache(tmp_path / "cache").raw_key(entries[0], base, "v1") != key


def test_folder_that_is_not_a_dataset_and_splits_of_a_file_are_refused(tmp_path):
    (tmp_path / "plain").mkdir()
    entry = sc.AlpacaSource(name="p", format="alpaca", path="plain")
    with pytest.raises(sc.SourceConfigError, match="is a folder, not a regular file"):
        read_source(entry, tmp_path)
    (tmp_path / "a.json").write_text("[]")
    entry = sc.AlpacaSource(name="a", format="alpaca", path="a.json", splits=["train"])
    with pytest.raises(sc.SourceConfigError, match=r"source 'a': field 'splits': .*a.json is a file"):
        read_source(entry, tmp_path)


def test_dataset_saved_by_the_datasets_package(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [{"instruction": "Say hi", "input": "", "output": "hi"}, {"instruction": "2+2", "input": "", "output": "4"}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "alp"))
    entry = sc.AlpacaSource(name="alp", format="alpaca", path="alp")
    raw = read_source(entry, tmp_path)
    unified, rejected = unify(raw, {"alp": {}})
    assert unified.sort("locator")["response"].to_list() == ["hi", "4"] and rejected.height == 0


# ---------------------------------------------------------------- tool calls

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_glaive_tool_calls_kept_in_messages(tmp_path, data_dir, lang):
    rel = f"llama_factory/glaive_toolcall_{lang}_demo.json"
    raw, unified, rejected = shared_source(tmp_path, data_dir, "sharegpt", rel)
    assert_accounted(raw, unified, rejected)
    records = json.loads((data_dir / rel).read_text(encoding="utf-8"))
    for row in unified.iter_rows(named=True):
        rec = records[int(row["locator"].strip("[]"))]
        turns = [m for m in row["messages"] if m["role"] != "system"]
        assert len(turns) == len(rec["conversations"])
        for m, t in zip(turns, rec["conversations"]):
            if t["from"] == "function_call":
                assert m["role"] == "assistant" and m["content"].startswith("<tool_call>\n")
                assert json.loads(m["content"].split("\n")[1]) == json.loads(t["value"])
            else:
                assert m["content"] == t["value"]
                assert m["role"] == {"human": "user", "gpt": "assistant", "observation": "tool"}[t["from"]]
        tools = json.loads(rec["tools"])
        if tools:
            assert row["system"] == "<tools>\n" + json.dumps(tools, ensure_ascii=False) + "\n</tools>"
        assert row["response"] == rec["conversations"][-1]["value"]
    # Two Chinese records write a call as assistant text, then a tool result: no call precedes the result.
    assert rejected.height == {"en": 0, "zh": 2}[lang]
    assert all(d == "turn 2 is 'tool', expected 'user'" for d in rejected["detail"])


def test_openai_tool_calls_and_their_problems(tmp_path):
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 1, \"b\": 2}"}}
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    records = [
        {"tools": tools, "messages": [
            {"role": "system", "content": "Use tools."}, {"role": "user", "content": "1+2?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "3"}, {"role": "assistant", "content": "3"}]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "tool", "content": "3"}]},
        {"messages": [{"role": "user", "content": "1+2?"}, {"role": "assistant", "content": "",
                                                            "tool_calls": [{"function": {"name": "add",
                                                                                         "arguments": "{a: 1"}}]}]},
        {"tools": "not json", "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]},
        {"messages": [{"role": "user", "content": "1+2?"}, {"role": "assistant", "content": "Let me add.",
                                                            "tool_calls": [call]},
                      {"role": "tool", "content": "3"}]},
    ]
    raw, unified, rejected = single_source(tmp_path, "messages", "tools.jsonl", jsonl(records))
    assert_accounted(raw, unified, rejected)
    row = unified.row(0, named=True)
    assert row["messages"] == [
        {"role": "system", "content": "Use tools.\n\n<tools>\n" + json.dumps(tools) + "\n</tools>"},
        {"role": "user", "content": "1+2?"},
        {"role": "assistant", "content": '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}, "id": "c1"}\n'
                                         '</tool_call>'},
        {"role": "tool", "content": "3"}, {"role": "assistant", "content": "3"}]
    assert (row["instruction"], row["input"], row["response"], row["n_turns"]) == ("1+2?", "", "3", 1)
    assert dict(rejected.select("line", "reason").iter_rows()) == {
        2: "bad_turn_order", 3: "bad_tool_call", 4: "bad_tools", 5: "no_final_response"}


def test_tool_conversations_survive_cleaning_and_tokenize(tmp_path, data_dir):
    from instr_assets.core.clean.cleaning import clean_pairs
    from instr_assets.core.models import modeling
    from instr_assets.core.train.tokenize_pack import IGNORE, encode_conversation

    _, unified, _ = shared_source(tmp_path, data_dir, "sharegpt", "llama_factory/glaive_toolcall_en_demo.json")
    with_calls = unified.filter(pl.col("messages").list.eval(pl.element().struct.field("role") == "tool").list.any())
    cleaned, _ = clean_pairs(with_calls.head(30))
    assert (cleaned["n_turns"] == 1).any()
    for row in cleaned.iter_rows(named=True):
        # Single-turn pairs have their turns rebuilt from the flat fields: the calls between must stay.
        assert "tool" in roles(row["messages"]) and row["messages"][-1]["content"] == row["response"]
    tok = modeling.load_tokenizer()
    messages = [dict(m) for m in cleaned.sort("pair_id").row(0, named=True)["messages"]]
    ids, labels = encode_conversation(tok, messages)
    supervised = tok.decode([i for i, lab in zip(ids, labels) if lab != IGNORE])
    call = next(m["content"] for m in messages if m["content"].startswith("<tool_call>"))
    result = next(m["content"] for m in messages if m["role"] == "tool")
    assert call in supervised and result not in supervised


# ---------------------------------------------------------------- format: auto

@pytest.mark.parametrize("rel, fmt", [
    ("open_assistant/test_trees.jsonl", "oasst"), (NI_TASK, "natural_instructions"),
    ("llama_factory/glaive_toolcall_en_demo.json", "sharegpt"), ("llama_factory/alpaca_zh_demo.json", "alpaca"),
    ("llama_factory/v1_sft_demo.jsonl", "messages"), ("cmrc2018/cmrc2018_trial.json", "squad"),
    ("self_instruct/seed_tasks.jsonl", "self_instruct")])
def test_auto_detects_the_format(tmp_path, data_dir, rel, fmt):
    raw, unified, rejected = shared_source(tmp_path, data_dir, "auto", rel)
    assert_accounted(raw, unified, rejected)
    assert set(raw["format"]) == {fmt} and unified.height > 0.95 * raw.height


def test_auto_refuses_what_it_cannot_tell(tmp_path, data_dir):
    y = write_yaml(tmp_path, f"data_roots: ['{data_dir}']\nsources:\n  - name: mt\n    format: auto\n"
                             f"    path: '{data_dir / 'fastchat/mt_bench_question.jsonl'}'\n")
    entries, base = sc.load_sources(y)
    with pytest.raises(sc.SourceConfigError, match=r"source 'mt': field 'format': auto cannot tell .* keys: "
                                                   r"category, question_id, turns\) has the shape of no known"):
        read_source(entries[0], base)
    both = {"conversations": [{"from": "human", "value": "a"}], "messages": [{"role": "user", "content": "a"}]}
    (tmp_path / "both.jsonl").write_text(json.dumps(both))
    entry = sc.AutoSource(name="both", format="auto", path="both.jsonl")
    with pytest.raises(sc.SourceConfigError, match=r"fits several formats \(sharegpt, messages\)"):
        read_source(entry, tmp_path)


# ---------------------------------------------------------------- through the Dagster assets

def test_new_kinds_pass_the_raw_and_unified_assets_and_their_checks(tmp_path, data_dir):
    import dagster as dg

    from instr_assets.defs.ingest_assets import RawSourcesConfig, raw_sources, unified_pairs
    from instr_assets.defs.metadata import count_dict
    from instr_assets.defs.resources import DataStoreResource

    write_split(tmp_path / "saved", [{"instruction": "Say hi", "output": "hi"}])
    y = write_yaml(tmp_path, f"""data_roots: ['{data_dir}']
sources:
  - {{name: oa, format: oasst, path: '{data_dir / "open_assistant/test_trees.jsonl"}'}}
  - {{name: ni, format: auto, path: '{data_dir / NI_TASK}'}}
  - {{name: glaive, format: sharegpt, path: '{data_dir / "llama_factory/glaive_toolcall_en_demo.json"}'}}
  - {{name: saved, format: alpaca, path: saved}}
""")
    result = dg.materialize([raw_sources, unified_pairs],
                            resources={"data_store": DataStoreResource(root=str(tmp_path / "out"))},
                            run_config=dg.RunConfig(ops={"raw_sources": RawSourcesConfig(sources_file=str(y))}),
                            raise_on_error=False)
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    mats = {e.asset_key.to_user_string(): e.event_specific_data.materialization
            for e in result.get_asset_materialization_events()}
    assert count_dict(mats["unified_pairs"].metadata["pairs_per_source"]) == {
        "oa": 72, "ni": 29, "glaive": 300, "saved": 1}
