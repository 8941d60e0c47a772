"""The model runtime: generation, scoring and embeddings, offline by default, with every output cached by content.

No Dagster here. `load_generator` picks a backend from a model name:
  "default"           the bundled Qwen2.5-Coder-1.5B-Instruct GGUF through llama.cpp (default_model.py)
  "fake"              a deterministic stand-in for tests
  "<path>.gguf"       any GGUF file through llama.cpp
  "<hub id or folder>" transformers (CUDA and bfloat16 when present)
"""
from __future__ import annotations

from pathlib import Path

from instr_assets.core.models.runtime.cache import CachedGenerator, OutputCache
from instr_assets.core.models.runtime.default_model import (
    DEFAULT_GGUF_SHA256, DEFAULT_MODEL_ID, default_gguf, default_model_available, stamped_sha256,
)
from instr_assets.core.models.runtime.generation import (
    ContinuationScorer, FakeGenerator, GenerationParams, Generator, ModelFileError, ModelTimeout, generate,
)
from instr_assets.core.models.runtime.judge import JudgeScore, judge_score, judge_scores

__all__ = [
    "CachedGenerator", "ContinuationScorer", "DEFAULT_GGUF_SHA256", "DEFAULT_MODEL_ID", "default_gguf",
    "default_model_available", "FakeGenerator", "GenerationParams", "Generator", "JudgeScore",
    "ModelFileError", "ModelTimeout", "OutputCache", "generate", "gguf_model_hash", "judge_score", "judge_scores", "load_generator",
]


def gguf_model_hash(model: str) -> str:
    """What identifies a llama.cpp model ('default' or a .gguf file) in the cache, without loading it."""
    if model == "default":
        return DEFAULT_GGUF_SHA256
    path = Path(model)
    if not path.is_file():
        raise ModelFileError(f"GGUF model file {path} does not exist")
    return stamped_sha256(path)


def load_generator(model: str = "default", *, threads: int = 1, cache: OutputCache | None = None,
                   batch_size: int = 8) -> Generator:
    """A generator for `model` (see the module doc), behind `cache` when one is given."""
    if model == "fake":
        inner: Generator = FakeGenerator()
    elif model == "default" or model.endswith(".gguf"):
        from instr_assets.core.models.runtime.llamacpp import LlamaCppGenerator

        if model == "default":
            inner = LlamaCppGenerator(default_gguf(), model_hash=DEFAULT_GGUF_SHA256, model_id=DEFAULT_MODEL_ID,
                                      threads=threads)
        else:
            inner = LlamaCppGenerator(model, model_hash=gguf_model_hash(model), threads=threads)
    else:
        from instr_assets.core.models.runtime.hf import TransformersGenerator

        inner = TransformersGenerator(model, batch_size=batch_size)
    return CachedGenerator(inner, cache) if cache is not None else inner
