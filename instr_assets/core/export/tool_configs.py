"""How the training tools find the exported files: LLaMA-Factory's dataset_info.json and Axolotl `datasets:`
snippets. Only fields the tools document are written (LLaMA-Factory data/README.md; Axolotl's dataset loading,
conversation and config reference pages)."""
from __future__ import annotations

import copy
from pathlib import PurePosixPath

import yaml

DATASET_PREFIX = "instr_assets"

# LLaMA-Factory: ShareGPT records as sharegpt_record writes them; the system prompt and the tools have their own
# columns, and tool calls and results use the default function_call and observation tags.
SHAREGPT_INFO = {"formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system", "tools": "tools"},
                 "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}}
# LLaMA-Factory: Alpaca records as alpaca_record writes them, earlier turns of a conversation in `history`.
ALPACA_INFO = {"formatting": "alpaca", "columns": {"prompt": "instruction", "query": "input", "response": "output",
                                                   "system": "system", "history": "history"}}


def dataset_info(files: dict[str, dict[str, str]]) -> dict:
    """One LLaMA-Factory dataset per format and split, named instr_assets_<format>_<split>. The JSON files sit
    beside dataset_info.json (LLaMA-Factory's `dataset_dir`), so `file_name` is the bare file name."""
    info = {}
    for fmt, entry in (("sharegpt", SHAREGPT_INFO), ("alpaca", ALPACA_INFO)):
        for split, path in files[fmt].items():
            info[f"{DATASET_PREFIX}_{fmt}_{split}"] = {"file_name": PurePosixPath(path).name} | entry
    return info


_CHAT_TEMPLATE = {"ds_type": "json", "type": "chat_template", "field_messages": "messages",
                  "message_property_mappings": {"role": "role", "content": "content"}, "roles_to_train": ["assistant"]}
_ALPACA = {"ds_type": "json", "type": "alpaca"}

_HEADER = """\
# Axolotl datasets for the {what}, written by instr-assets (asset dataset_exports).
# Paths are relative to the export folder (the one holding README.md): run axolotl from there or prefix them.
# {other}
# The test split is left out on purpose: keep it for the final evaluation.
"""


def axolotl_snippets(files: dict[str, dict[str, str]]) -> dict[str, str]:
    """Two alternative snippets, `chat_template.yml` (the messages JSONL, every turn) and `alpaca.yml` (the Alpaca
    JSON, whose Axolotl type reads instruction/input/output only, so a conversation's earlier turns are lost):
    train on `datasets`, evaluate on `test_datasets` (a JSON file loads as one split named 'train')."""
    out = {}
    for name, fmt, fields, what, other in (
            ("chat_template.yml", "messages", _CHAT_TEMPLATE, "OpenAI-style messages JSONL",
             "Use this file or alpaca.yml, not both: they hold the same pairs."),
            ("alpaca.yml", "alpaca", _ALPACA, "Alpaca JSON (instruction/input/output)",
             "Use this file or chat_template.yml, not both; chat_template.yml keeps every turn of a conversation.")):
        # Fresh copies per entry: shared objects would come out as YAML anchors and aliases.
        config = {"datasets": [{"path": files[fmt]["train"]} | copy.deepcopy(fields)],
                  "test_datasets": [{"path": files[fmt]["validation"], "split": "train"} | copy.deepcopy(fields)]}
        out[name] = _HEADER.format(what=what, other=other) + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    return out
