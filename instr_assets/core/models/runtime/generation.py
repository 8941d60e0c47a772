"""What every generator offers, the errors they raise, and a deterministic fake for tests.

A prompt is one user message (plus an optional system message for the whole call); each backend renders it with
its model's chat template. Every result is a function of (model, prompt, parameters, seed) alone, never of the
other prompts in the batch, so results can be cached one by one and a batch can be split anywhere.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Protocol, Sequence, runtime_checkable


class ModelFileError(RuntimeError):
    """A model file or folder is missing, unreadable, or not the file that was pinned."""


class ModelTimeout(RuntimeError):
    """One model call ran past its time limit."""


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0 is greedy decoding
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()
    system: str | None = None
    timeout_s: float = 120.0  # per prompt

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"temperature must be >= 0 and top_p in (0, 1], got {self.temperature}, {self.top_p}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")

    def cache_fields(self) -> dict:
        # The time limit does not change what a finished call returns, so it is no part of the cache key.
        fields = asdict(self)
        fields.pop("timeout_s")
        fields["stop"] = list(self.stop)
        return fields


@runtime_checkable
class Generator(Protocol):
    model_id: str  # a short readable name, recorded as provenance
    model_hash: str  # identifies the exact weights: part of every cache key

    def iter_generate(self, prompts: Sequence[str], params: GenerationParams) -> Iterator[tuple[int, str]]:
        """(index, text) for each prompt, as each one completes (in any order)."""

    def next_token_logprobs(self, prompts: Sequence[str], candidates: Sequence[str],
                            system: str | None = None) -> list[dict[str, float]]:
        """Per prompt, the log-probability of each candidate being the first token of the reply; a candidate
        the backend cannot see (outside a top-k list) is left out."""


@runtime_checkable
class ContinuationScorer(Protocol):
    """Backends that read the model's logits directly (transformers, the fake): the per-token log-probabilities
    of a given reply to a prompt, for per-pair loss and instruction-following difficulty. llama.cpp's server
    API reports only the tokens it samples, so the GGUF backend is not one of them."""

    def continuation_logprobs(self, pairs: Sequence[tuple[str, str]],
                              system: str | None = None) -> list[list[float]]:
        """Per (prompt, reply) pair, one log-probability per token of the reply."""


def generate(generator: Generator, prompts: Sequence[str], *, max_new_tokens: int = 128, temperature: float = 0.0,
             top_p: float = 1.0, seed: int = 0, stop: Sequence[str] = (), system: str | None = None,
             timeout_s: float = 120.0) -> list[str]:
    """Texts in prompt order; the plain call the operators use."""
    params = GenerationParams(max_new_tokens, temperature, top_p, seed, tuple(stop), system, timeout_s)
    out: list[str | None] = [None] * len(prompts)
    for index, text in generator.iter_generate(list(prompts), params):
        out[index] = text
    missing = [i for i, text in enumerate(out) if text is None]
    if missing:
        raise RuntimeError(f"{generator.model_id}: no output for prompts at {missing[:10]}")
    return out  # type: ignore[return-value]


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """The text before the first stop string (backends that cannot stop on strings themselves)."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text if cut < 0 else text[:cut]


def check_time(model_id: str, started: float, timeout_s: float, index: int) -> None:
    elapsed = time.monotonic() - started
    if elapsed > timeout_s:
        raise ModelTimeout(f"{model_id}: prompt {index} took {elapsed:.1f} s, over the limit of {timeout_s} s")


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()


@dataclass
class FakeGenerator:
    """Deterministic stand-in: its text is a function of the prompt and the parameters only. `reply` plugs in
    canned answers (prompt -> text) for tests of the code on top; `delay_s` makes each prompt take that long.
    `calls` counts prompts actually computed, which is how tests see cache hits."""

    reply: Callable[[str], str] | None = None
    delay_s: float = 0.0
    model_id: str = "fake"
    model_hash: str = "fake-v1"
    calls: int = field(default=0, init=False)

    def _text(self, prompt: str, params: GenerationParams) -> str:
        if self.reply is not None:
            return self.reply(prompt)
        words = prompt.split() or ["<empty>"]
        digest = _digest(prompt, params.temperature, params.top_p, params.seed, params.system)
        picked = [words[b % len(words)] for b in digest[: params.max_new_tokens]]
        return " ".join(picked[: min(8, params.max_new_tokens)])

    def iter_generate(self, prompts, params):
        for index, prompt in enumerate(prompts):
            started = time.monotonic()
            if self.delay_s:
                time.sleep(self.delay_s)
            self.calls += 1
            check_time(self.model_id, started, params.timeout_s, index)
            yield index, cut_at_stop(self._text(prompt, params), params.stop)

    def next_token_logprobs(self, prompts, candidates, system=None):
        out = []
        for prompt in prompts:
            self.calls += 1
            digest = _digest(prompt, system)
            weights = [1 + digest[i % len(digest)] for i in range(len(candidates))]
            total = sum(weights)
            out.append({c: math.log(w / total) for c, w in zip(candidates, weights)})
        return out

    def continuation_logprobs(self, pairs, system=None):
        """One log-probability per whitespace word of each continuation, in [-5, 0)."""
        out = []
        for prompt, continuation in pairs:
            self.calls += 1
            out.append([-5 * (1 + _digest(prompt, system, i, word)[0]) / 257
                        for i, word in enumerate(continuation.split())])
        return out
