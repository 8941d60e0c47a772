"""Resumable training (kill and resume equals an uninterrupted run), DDP with two processes on CPU, LoRA."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import polars as pl
import pytest

from instr_assets.core.models import modeling
from instr_assets.core.train.finetune import run_finetune
from instr_assets.core.train.tokenize_pack import PackRules, tokenize_and_pack
from instr_assets.core.train.train import TrainSettings
from instr_assets.core.ingest.unify import MESSAGE_DTYPE


def write_arithmetic_shards(tok, folder: Path, sizes: dict[str, int], version: str, identity: dict) -> Path:
    """Shards in the layout tokenized_shards writes: `sizes[split]` "What is a times 3?" pairs per split."""
    splits = {}
    for split, n in sizes.items():
        convs = [[{"role": "user", "content": f"What is {a} times 3? ({split})"}, {"role": "assistant", "content": str(3 * a)}]
                 for a in range(n)]
        pairs = pl.DataFrame([{"pair_id": f"{split}{i}", "messages": m} for i, m in enumerate(convs)],
                             schema={"pair_id": pl.Utf8, "messages": MESSAGE_DTYPE})
        seqs, _ = tokenize_and_pack(tok, pairs, split, PackRules(seq_len=128))
        seqs.write_parquet(folder / f"{split}-00000.parquet")
        splits[split] = {"files": [f"{split}-00000.parquet"]}
    (folder / "manifest.json").write_text(json.dumps({"version": version, "identity": identity, "splits": splits}))
    return folder


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    """A small shard folder in the layout tokenized_shards writes."""
    return write_arithmetic_shards(modeling.load_tokenizer(), tmp_path_factory.mktemp("shards"),
                                   {"train": 60, "validation": 8}, "test", {"seq_len": 128})


SETTINGS = TrainSettings(max_steps=60, batch_size=2, lr=2e-3, warmup_steps=2, eval_every=10, checkpoint_every=5,
                         eval_max_sequences=4, seq_len=128)


def _cli(shards: Path, work: Path, settings: TrainSettings, nproc: int = 1) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else [sys.executable]
    return launcher + ["-m", "instr_assets.core.train.finetune", "--shards-dir", str(shards), "--work-dir", str(work),
                       "--base-model", "tiny", "--settings-json", json.dumps(asdict(settings))]


def test_killed_run_resumes_to_the_same_final_loss(shards, tmp_path):
    reference = run_finetune(shards, tmp_path / "uninterrupted", "tiny", SETTINGS, log=lambda _: None)

    work = tmp_path / "killed"
    proc = subprocess.Popen(_cli(shards, work, SETTINGS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = work / "resume" / "state.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and json.loads(state.read_text())["step"] >= 10:
            proc.send_signal(signal.SIGKILL)  # no chance to clean up, as with a crash or OOM kill
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    killed_at = json.loads(state.read_text())["step"]
    assert 10 <= killed_at < SETTINGS.max_steps
    assert not (work / "training_result.json").exists()

    resumed = run_finetune(shards, work, "tiny", SETTINGS, log=lambda _: None)
    assert resumed["resumed_from_step"] == killed_at
    ref_hist, res_hist = reference["history"], resumed["history"]
    assert [h["step"] for h in res_hist] == [h["step"] for h in ref_hist]
    # Tolerance: identical model, optimizer, RNG and data order, so only float noise may differ.
    for a, b in zip(ref_hist[1:], res_hist[1:]):
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-5)
    assert resumed["best_val_loss"] == pytest.approx(reference["best_val_loss"], abs=1e-5)
    assert reference["history"][-1]["val_loss"] < reference["history"][0]["val_loss"]


def test_changed_settings_do_not_resume(shards, tmp_path):
    work = tmp_path / "w"
    short = TrainSettings(**{**asdict(SETTINGS), "max_steps": 12})
    run_finetune(shards, work, "tiny", short, log=lambda _: None)
    # A finished run keeps only its last checkpoint before the end; other settings must start afresh.
    other = TrainSettings(**{**asdict(short), "lr": 1e-3})
    result = run_finetune(shards, work, "tiny", other, log=lambda _: None)
    assert result["resumed_from_step"] is None


def test_two_process_ddp_on_cpu_trains_and_saves_one_checkpoint(shards, tmp_path):
    work = tmp_path / "ddp"
    settings = TrainSettings(**{**asdict(SETTINGS), "max_steps": 6, "eval_every": 3})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(_cli(shards, work, settings, nproc=2), capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    result = json.loads((work / "training_result.json").read_text())
    assert result["world_size"] == 2
    assert [h["step"] for h in result["history"]] == list(range(7))
    # Each step consumed a global batch of 2 processes x 2 sequences.
    assert (work / "best" / "model.safetensors").exists()
    model, _ = modeling.load_saved_model(work / "best")
    assert model.config.num_hidden_layers == 2
    assert out.stdout.count("step 6/6") == 1  # only rank 0 logs


def test_lora_trains_adapters_and_saves_a_plain_model(shards, tmp_path):
    settings = TrainSettings(**{**asdict(SETTINGS), "max_steps": 4, "eval_every": 2})
    result = run_finetune(shards, tmp_path / "lora", "tiny", settings, lora_r=4, lora_alpha=8, log=lambda _: None)
    assert result["lora"] == {"r": 4, "alpha": 8}
    saved = json.loads((tmp_path / "lora" / "best" / "config.json").read_text())
    assert saved["model_type"] == "llama"
    model, _ = modeling.load_saved_model(tmp_path / "lora" / "best")
    assert not any("lora" in n for n, _ in model.named_parameters())
