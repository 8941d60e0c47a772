"""dataset_exports: every export loaded the way its tool loads it (datasets.load_dataset, TRL's conversational
check, LLaMA-Factory's documented dataset_info fields, Axolotl's documented dataset fields), multi-turn pairs
exported whole, and the blocking check naming the pairs an export lost."""
import json

import polars as pl
import pytest
import yaml

from instr_assets.core.export import exports
from instr_assets.core.export.licences import dataset_licence, licence_id, source_licence
from instr_assets.core.export.records import ExportError

SYSTEM = "You are a concise travel assistant."
MULTI_TURN = [{"role": "system", "content": SYSTEM},
              {"role": "user", "content": "What should I pack for a rainy weekend?"},
              {"role": "assistant", "content": "A waterproof jacket and quick-drying layers."},
              {"role": "user", "content": "And for a child?"},
              {"role": "assistant", "content": "The same in their size, plus spare socks."}]

TOOLS = [{"name": "get_weather", "description": "Current weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}
# Tool use as the readers keep it (ingest/turns.py): tools in the system message, a call as a <tool_call> block.
TOOL_USE = [{"role": "system", "content": f"You can call tools.\n\n<tools>\n{json.dumps(TOOLS)}\n</tools>"},
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": f"<tool_call>\n{json.dumps(CALL)}\n</tool_call>"},
            {"role": "tool", "content": '{"temp_c": 18}'},
            {"role": "assistant", "content": "It is 18 °C in Paris."}]

# LLaMA-Factory data/README.md: the keys of a dataset description, of its `columns` and of its `tags`.
LF_KEYS = {"hf_hub_url", "ms_hub_url", "script_url", "file_name", "formatting", "ranking", "subset", "split",
           "folder", "num_samples", "columns", "tags"}
LF_COLUMNS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos", "audios",
              "chosen", "rejected", "kto_tag"}
LF_TAGS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag"}
# Axolotl's dataset loading and chat_template pages: the dataset entry fields used here.
AXOLOTL_FIELDS = {"path", "ds_type", "data_files", "split", "name", "type", "field_messages",
                  "message_property_mappings", "roles_to_train", "train_on_eos"}


def _pair(pair_id, split, messages, instruction, input_text="", lang="en", source="hand", file=None):
    return {"pair_id": pair_id, "source": source, "messages": messages, "instruction": instruction,
            "input": input_text, "response": messages[-1]["content"], "lang": lang, "domain": "general",
            "task_type": "open_qa", "difficulty": "easy", "split": split, "format": "messages", "file": file}


def _single(pair_id, split, instruction, input_text, response, **kw):
    user = f"{instruction}\n\n{input_text}" if input_text else instruction
    return _pair(pair_id, split, [{"role": "user", "content": user}, {"role": "assistant", "content": response}],
                 instruction, input_text, **kw)


@pytest.fixture()
def splits(tmp_path) -> pl.DataFrame:
    licensed = tmp_path / "licensed"
    licensed.mkdir()
    (licensed / "LICENSE").write_text("Apache License\n Version 2.0, January 2004\n", encoding="utf-8")
    rows = [
        _single("p-train-1", "train", "Translate into French.", "Where is the station?", "Où est la gare ?",
                source="lic", file=str(licensed / "pairs.jsonl")),
        _pair("p-train-multi", "train", MULTI_TURN, "And for a child?",
              "User: What should I pack for a rainy weekend?\n\n"
              "Assistant: A waterproof jacket and quick-drying layers."),
        _single("p-val-zh", "validation", "请用一句话介绍长城。", "", "长城是中国古代修建的军事防御工程。", lang="zh"),
        _single("p-val-2", "validation", "Name a prime number.", "", "7"),
        _single("p-test-1", "test", "What is 2 + 3?", "", "5", file="builtin:generated"),
        _pair("p-test-tool", "test", TOOL_USE, "What is the weather in Paris?"),
    ]
    schema = {"pair_id": pl.Utf8, "source": pl.Utf8,
              "messages": pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8})), "instruction": pl.Utf8,
              "input": pl.Utf8, "response": pl.Utf8, "lang": pl.Utf8, "domain": pl.Utf8, "task_type": pl.Utf8,
              "difficulty": pl.Utf8, "split": pl.Utf8, "format": pl.Utf8, "file": pl.Utf8}
    return pl.DataFrame(rows, schema=schema)


@pytest.fixture()
def exported(splits, tmp_path):
    out = tmp_path / "exports"
    return out, exports.export_splits(splits, out)


def _json_records(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_hf_folder_loads_with_three_named_splits_and_a_card(exported, tmp_path):
    import datasets

    out, manifest = exported
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf_cache"))
    assert {s: ds[s].num_rows for s in ds} == {"train": 2, "validation": 2, "test": 2}
    assert ds["train"].column_names == ["messages", "instruction", "input", "response", "pair_id", "source", "lang",
                                        "domain", "task_type", "difficulty"]
    multi = next(r for r in ds["train"] if r["pair_id"] == "p-train-multi")
    assert multi["messages"] == MULTI_TURN
    card = (out / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["language"] == ["en", "zh"] and front["task_categories"] == ["text-generation"]
    # One source declares Apache-2.0 in its licence file, the others declare nothing: the whole is 'unknown'.
    assert front["license"] == "unknown"
    assert front["configs"][0]["data_files"] == [{"split": s, "path": f"data/{s}.parquet"}
                                                 for s in ("train", "validation", "test")]
    assert "| lic | messages | pairs.jsonl | 1 | apache-2.0 | LICENSE |" in card
    assert "| en | 2 | 1 | 2 | 5 |" in card and "| zh | 0 | 1 | 0 | 1 |" in card
    assert manifest.counts["hf"] == {"train": 2, "validation": 2, "test": 2}


def test_messages_jsonl_is_conversational_for_trl_and_keeps_every_turn(exported, tmp_path):
    import datasets
    from trl.data_utils import is_conversational

    out, manifest = exported
    for split, n in (("train", 2), ("validation", 2), ("test", 2)):
        path = out / manifest.files["messages"][split]
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert len(lines) == n and all(set(r) == {"messages"} for r in lines)
        ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf_cache"))
        assert ds.num_rows == n and all(is_conversational(r) for r in ds)
    train = (out / "messages" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(train[1])["messages"] == MULTI_TURN  # system turn and both exchanges
    test = (out / "messages" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(test[1])["messages"] == TOOL_USE  # the call and the tool's result too


def test_llama_factory_dataset_info_describes_its_files(exported):
    out, manifest = exported
    folder = out / "llama_factory"
    info = _json_records(folder / "dataset_info.json")
    assert set(info) == {f"instr_assets_{f}_{s}" for f in ("sharegpt", "alpaca") for s in ("train", "validation", "test")}
    for name, entry in info.items():
        assert set(entry) <= LF_KEYS and set(entry["columns"]) <= LF_COLUMNS and set(entry.get("tags", {})) <= LF_TAGS
        records = _json_records(folder / entry["file_name"])
        assert len(records) == manifest.counts[entry["formatting"]][name.rsplit("_", 1)[1]]
        for record in records:
            assert set(entry["columns"].values()) <= set(record), (name, record)
        if entry["formatting"] == "sharegpt":
            tags = {"observation_tag": "observation", "function_tag": "function_call"} | entry["tags"]  # defaults
            for record in records:
                turns = record[entry["columns"]["messages"]]
                roles = [t[tags["role_tag"]] for t in turns]
                # Documented: human and observation turns at odd positions, gpt and function turns at even ones.
                assert set(roles[0::2]) <= {tags["user_tag"], tags["observation_tag"]}, roles
                assert set(roles[1::2]) <= {tags["assistant_tag"], tags["function_tag"]} and len(roles) % 2 == 0, roles
                assert all(isinstance(t[tags["content_tag"]], str) for t in turns)
                for t in turns:
                    if t[tags["role_tag"]] == tags["function_tag"]:
                        assert {"name", "arguments"} <= set(json.loads(t[tags["content_tag"]]))
        else:
            for record in records:
                assert all(isinstance(record[c], str) for c in ("instruction", "input", "output", "system"))
                assert all(len(h) == 2 and all(isinstance(x, str) for x in h) for h in record["history"])
    sharegpt = {r["pair_id"]: r for r in _json_records(folder / "sharegpt_train.json")}
    assert sharegpt["p-train-multi"]["system"] == SYSTEM
    assert [t["value"] for t in sharegpt["p-train-multi"]["conversations"]] == [m["content"] for m in MULTI_TURN[1:]]
    alpaca = {r["pair_id"]: r for r in _json_records(folder / "alpaca_train.json")}
    assert alpaca["p-train-multi"] == {
        "instruction": "And for a child?", "input": "", "output": "The same in their size, plus spare socks.",
        "system": SYSTEM, "history": [["What should I pack for a rainy weekend?",
                                       "A waterproof jacket and quick-drying layers."]], "pair_id": "p-train-multi"}
    assert (alpaca["p-train-1"]["instruction"], alpaca["p-train-1"]["input"]) == ("Translate into French.",
                                                                                 "Where is the station?")
    tool = next(r for r in _json_records(folder / "sharegpt_test.json") if r["pair_id"] == "p-test-tool")
    assert [t["from"] for t in tool["conversations"]] == ["human", "function_call", "observation", "gpt"]
    assert json.loads(tool["conversations"][1]["value"]) == CALL
    assert (tool["system"], json.loads(tool["tools"])) == ("You can call tools.", TOOLS)
    # Alpaca has no tool turns: the pair is left out of it, and only of it, with the reason.
    assert "p-test-tool" not in {r["pair_id"] for r in _json_records(folder / "alpaca_test.json")}
    assert manifest.left_out == [{"format": "alpaca", "split": "test", "pair_id": "p-test-tool", "reason": "tool_turns"}]


def test_our_llama_factory_fields_are_those_the_real_file_uses(exported, data_dir):
    # The field sets the test above validates against also cover LLaMA-Factory's own dataset_info.json, and every
    # top-level field and tag we write appears in it.
    out, _ = exported
    real = _json_records(data_dir / "llama_factory" / "dataset_info.json")
    for entry in real.values():
        assert set(entry.get("columns", {})) <= LF_COLUMNS and set(entry.get("tags", {})) <= LF_TAGS
        assert entry.get("formatting", "alpaca") in ("alpaca", "sharegpt")
    keys = {k for e in real.values() for k in e}
    tags = {k for e in real.values() for k in e.get("tags", {})}
    for entry in _json_records(out / "llama_factory" / "dataset_info.json").values():
        assert set(entry) <= keys
        if entry["formatting"] == "sharegpt":
            assert set(entry["tags"]) <= tags
            assert entry["tags"] == {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                                     "assistant_tag": "gpt"}  # LLaMA-Factory's documented defaults, spelled out


def test_axolotl_snippets_parse_and_point_at_their_files(exported, tmp_path):
    import datasets

    out, manifest = exported
    for name, record_fields in (("chat_template.yml", None), ("alpaca.yml", {"instruction", "input", "output"})):
        config = yaml.safe_load((out / "axolotl" / name).read_text(encoding="utf-8"))
        assert set(config) == {"datasets", "test_datasets"}
        for entry in config["datasets"] + config["test_datasets"]:
            assert set(entry) <= AXOLOTL_FIELDS and entry["ds_type"] == "json"
            ds = datasets.load_dataset("json", data_files=str(out / entry["path"]), split=entry.get("split", "train"),
                                       cache_dir=str(tmp_path / "hf_cache"))
            assert ds.num_rows > 0
            for record in ds:
                if entry["type"] == "chat_template":
                    mapping = entry["message_property_mappings"]
                    assert all(set(mapping.values()) <= set(m) for m in record[entry["field_messages"]])
                    assert entry["roles_to_train"] == ["assistant"]
                else:
                    assert entry["type"] == "alpaca" and record_fields <= set(record)
    chat = yaml.safe_load((out / "axolotl" / "chat_template.yml").read_text(encoding="utf-8"))
    assert [e["path"] for e in chat["datasets"] + chat["test_datasets"]] == [manifest.files["messages"]["train"],
                                                                               manifest.files["messages"]["validation"]]


def test_read_back_matches_and_a_lost_or_foreign_record_is_named(splits, exported):
    out, manifest = exported
    found = exports.read_back(splits, out, manifest)
    assert found.height == 4 * splits.height - len(manifest.left_out)
    assert exports.mismatches(splits, found, manifest.left_out).is_empty()
    # Drop the multi-turn line from the JSONL and relabel a ShareGPT record: both show, by format, split and pair.
    jsonl = out / "messages" / "train.jsonl"
    jsonl.write_text(jsonl.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    sharegpt = out / "llama_factory" / "sharegpt_validation.json"
    records = _json_records(sharegpt)
    records[0]["pair_id"] = "p-test-1"
    sharegpt.write_text(json.dumps(records), encoding="utf-8")
    wrong = exports.mismatches(splits, exports.read_back(splits, out, manifest), manifest.left_out)
    assert sorted(wrong.iter_rows()) == [("messages", "train", "p-train-multi", "missing"),
                                         ("sharegpt", "validation", "p-test-1", "unexpected"),
                                         ("sharegpt", "validation", "p-val-zh", "missing")]


def test_train_files_carry_the_mixture_repeats_and_a_lost_copy_is_named(splits, tmp_path):
    # The mixture repeats p-train-1 three times; repeats mean nothing outside train (tokenized_shards packs them
    # in train only), so the validation pair's 2 is ignored.
    mixed = splits.with_columns(pl.when(pl.col("pair_id") == "p-train-1").then(3)
                                .when(pl.col("pair_id") == "p-val-2").then(2).otherwise(1).alias("repeats"))
    out = tmp_path / "mixed"
    manifest = exports.export_splits(mixed, out)
    train = pl.read_parquet(out / "data" / "train.parquet")
    assert dict(zip(train["pair_id"], train["repeats"])) == {"p-train-1": 3, "p-train-multi": 1}
    for fmt in ("sharegpt", "alpaca"):
        ids = [r["pair_id"] for r in _json_records(out / manifest.files[fmt]["train"])]
        assert sorted(ids) == ["p-train-1"] * 3 + ["p-train-multi"]
        assert [r["pair_id"] for r in _json_records(out / manifest.files[fmt]["validation"])].count("p-val-2") == 1
    assert manifest.counts["messages"] == {"train": 4, "validation": 2, "test": 2}
    assert exports.mismatches(mixed, exports.read_back(mixed, out, manifest), manifest.left_out).is_empty()
    # One copy lost from the JSONL is a wrong count, not a silent pass.
    jsonl = out / "messages" / "train.jsonl"
    jsonl.write_text("".join(jsonl.read_text(encoding="utf-8").splitlines(keepends=True)[1:]), encoding="utf-8")
    wrong = exports.mismatches(mixed, exports.read_back(mixed, out, manifest), manifest.left_out)
    assert wrong.rows() == [("messages", "train", "p-train-1", "wrong_count")]


def test_a_pair_whose_turns_do_not_alternate_is_refused_by_name(splits, tmp_path):
    bad = splits.with_columns(pl.when(pl.col("pair_id") == "p-val-2").then(
        pl.lit([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
               dtype=splits.schema["messages"])).otherwise(pl.col("messages")).alias("messages"))
    with pytest.raises(ExportError, match=r"pair p-val-2: turn 1 has role 'user', expected 'assistant' after"):
        exports.export_splits(bad, tmp_path / "out")
    with pytest.raises(ExportError, match=r"lacks column\(s\) \['lang'\]"):
        exports.export_splits(splits.drop("lang"), tmp_path / "out2")


def test_licences_are_read_from_the_files_beside_each_source(data_dir):
    # stanford_alpaca has a code LICENSE (Apache) and a DATA_LICENSE (CC BY-NC): the data's licence wins.
    assert source_licence(str(data_dir / "stanford_alpaca" / "seed_tasks.jsonl"))["licence"] == "cc-by-nc-4.0"
    assert source_licence(str(data_dir / "cmrc2018" / "cmrc2018_dev.json"))["licence"] == "cc-by-sa-4.0"
    assert source_licence(str(data_dir / "llama_factory" / "alpaca_en_demo.json"))["licence"] == "apache-2.0"
    assert source_licence("builtin:seed_pairs.jsonl") == {"licence": "not declared", "licence_file": None}
    assert licence_id("Some custom terms") is None
    assert dataset_licence({"a": {"licence": "mit"}, "b": {"licence": "mit"}}) == "mit"
    assert dataset_licence({"a": {"licence": "mit"}, "b": {"licence": "apache-2.0"}}) == "other"


DATA_STAGES = ["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs", "stratified_splits"]


@pytest.fixture(scope="module")
def published_splits(tmp_path_factory):
    """The bundled sources materialized up to stratified_splits, once for the asset tests below."""
    import dagster as dg

    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.resources import DataStoreResource

    root = tmp_path_factory.mktemp("graph") / "out"
    assert dg.materialize(ALL_ASSETS, selection=DATA_STAGES,
                          resources={"data_store": DataStoreResource(root=str(root))}).success
    return root


def _export_run(root, **kw):
    import dagster as dg

    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.resources import DataStoreResource

    return dg.materialize(ALL_ASSETS, selection=["dataset_exports"],
                          resources={"data_store": DataStoreResource(root=str(root))}, **kw)


def test_dataset_exports_asset_publishes_every_split_of_the_real_graph(published_splits, tmp_path):
    import datasets

    root = published_splits
    result = _export_run(root)
    assert result.success
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "exports_match_splits" and check.passed and check.metadata["differences"].value == 0
    live = root / "published" / "dataset_exports"
    splits = pl.read_parquet(root / "published" / "stratified_splits" / "stratified_splits.parquet")
    ds = datasets.load_dataset(str(live), cache_dir=str(tmp_path / "hf_cache"))
    for split in ("train", "validation", "test"):
        expected = splits.filter(pl.col("split") == split)
        assert sorted(ds[split]["pair_id"]) == sorted(expected["pair_id"].to_list())
    # The bundled conversations keep every turn in the messages JSONL, not only the last exchange.
    multi = splits.filter(pl.col("messages").list.len() > 3)
    assert multi.height > 0
    lengths = {len(json.loads(line)["messages"]) for split in multi["split"].unique()
               for line in (live / "messages" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()}
    assert max(multi["messages"].list.len()) in lengths
    metadata = result.asset_materializations_for_node("dataset_exports")[0].metadata
    assert metadata["dagster/row_count"].value == splits.height
    rows = {r.data["format"]: r.data for r in metadata["exports"].value.records}
    assert {fmt: row["train"] for fmt, row in rows.items()} == dict.fromkeys(
        ["Hugging Face datasets Parquet", "OpenAI-style messages JSONL", "ShareGPT JSON (LLaMA-Factory)",
         "Alpaca JSON (LLaMA-Factory)"], ds["train"].num_rows)


def test_an_export_that_lost_a_pair_is_not_published(published_splits, monkeypatch):
    root = published_splits
    assert _export_run(root).success
    live_before = (root / "published" / "dataset_exports").readlink()
    read_back = exports.read_back
    # Simulate a file that lost its first record on the way to disk.
    monkeypatch.setattr(exports, "read_back", lambda *a: read_back(*a).slice(1))
    result = _export_run(root, raise_on_error=False)
    assert not result.success
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.metadata["differences"].value == 1
    assert "1 difference(s)" in check.description and "hf/train: missing" in check.description
    assert (root / "published" / "dataset_exports").readlink() == live_before  # the previous export stays live
