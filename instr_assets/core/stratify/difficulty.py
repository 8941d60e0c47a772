"""Difficulty from the base model: how hard the response is for it, with and without the instruction.

For each pair the base model reads the conversation as training renders it (the chat template, through
`encode_conversation`) and we take the mean token loss (negative log-likelihood) of the final assistant turn,
its end-of-turn token included: `response_loss`. The same response tokens are scored once more after a prompt
holding no user or system turn (the template's own default system prompt, if any, stays), which gives the loss
without the instruction. Their ratio is the Instruction-Following Difficulty (IFD; Li et al., 2023, "From
Quantity to Quality"): near 1 the instruction hardly helps the model predict the answer, well below 1 it does,
above 1 the instruction and answer fit together badly.

A pair is bucketed easy/medium/hard by quantiles of one of the two scores over the scored pairs of the run; a
source's own difficulty label wins. Scores are cached per pair content, model hash and scoring limits in the
runtime's output cache, so a rebuild with nothing new loads no model.

The cost is bounded by `max_response_tokens` (only the first tokens of a long answer are scored, in both
conditions) and `max_prompt_tokens` (a long prompt keeps its last tokens, those next to the answer).
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl

from ..progress import Progress

_log = logging.getLogger(__name__)

DIFFICULTIES = ("easy", "medium", "hard")
# Bump when the way a score is computed changes: cached scores of the old way are then never reused.
SCORING_VERSION = 1
SCORE_SCHEMA = {"pair_id": pl.Utf8, "response_loss": pl.Float64, "loss_without_instruction": pl.Float64,
                "ifd": pl.Float64, "response_tokens": pl.Int32, "truncated": pl.Boolean}


@dataclass(frozen=True)
class DifficultyRules:
    base_model: str = "smollm2"
    bucket_by: Literal["ifd", "response_loss"] = "ifd"
    quantiles: tuple[float, float] = (1 / 3, 2 / 3)  # easy up to the first, medium up to the second, hard above
    # The bound on the cost: a pair costs at most (max_prompt_tokens + max_response_tokens) tokens with the
    # instruction and the bare prompt + max_response_tokens without (README, "stratified_splits", has figures).
    max_prompt_tokens: int = 128
    max_response_tokens: int = 64
    batch_tokens: int = 4096  # padded tokens per forward pass
    threads: int = 2

    def validate(self) -> None:
        if self.bucket_by not in ("ifd", "response_loss"):
            raise ValueError(f"difficulty_bucket_by must be 'ifd' or 'response_loss', not {self.bucket_by!r}")
        low, high = self.quantiles
        if not 0 < low < high < 1:
            raise ValueError(f"difficulty_quantiles must be two increasing numbers between 0 and 1, not {list(self.quantiles)}")
        if min(self.max_prompt_tokens, self.max_response_tokens, self.batch_tokens, self.threads) < 1:
            raise ValueError("difficulty max_prompt_tokens, max_response_tokens, batch_tokens and threads must be >= 1")


@functools.lru_cache(maxsize=4)
def _file_sha(path: str, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def model_hash(name: str, seed: int = 0) -> str:
    """What identifies the weights and tokenizer of base model `name` for the cache, without loading it: the
    GGUF file's sha256 for the bundled SmolLM2, the files' hash for a folder or hub snapshot, the seed and torch
    version for the tiny random model."""
    from ..models.base_models import resolve_base_model, smollm2_gguf

    base = resolve_base_model(name)
    if base.kind == "bundled":
        path = Path(*smollm2_gguf())
        stat = path.stat()
        return f"smollm2:{_file_sha(str(path), stat.st_size, stat.st_mtime_ns)}"
    if base.kind == "random":
        return f"{name}:seed{seed}:torch{importlib.metadata.version('torch')}"
    from ..models.runtime.hf import folder_hash

    return f"{base.name}:{folder_hash(base.folder)}"


def _final_turn(ids: list[int], labels: list[int]) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids): the response is the last run of supervised tokens, the prompt all before it."""
    from ..train.tokenize_pack import IGNORE

    end = max(i for i, label in enumerate(labels) if label != IGNORE) + 1
    start = end
    while start > 0 and labels[start - 1] != IGNORE:
        start -= 1
    return ids[:start], ids[start:end]


def scoring_inputs(tokenizer, messages: list[dict], rules: DifficultyRules) -> tuple[list[int], list[int], list[int], bool]:
    """(prompt with the instruction, prompt without it, response, truncated) as token ids, within the limits."""
    from ..train.tokenize_pack import encode_conversation

    assistant = [m for m in messages if m["role"] == "assistant"]
    if not assistant:
        raise ValueError("a pair without an assistant turn has no response to score")
    prompt, response = _final_turn(*encode_conversation(tokenizer, messages))
    truncated = len(prompt) > rules.max_prompt_tokens or len(response) > rules.max_response_tokens
    keep = rules.max_prompt_tokens
    return prompt[-keep:], bare_prompt(tokenizer)[-keep:], response[:rules.max_response_tokens], truncated


def bare_prompt(tokenizer) -> list[int]:
    """Token ids the template puts before an assistant turn that opens the conversation: the prompt without the
    instruction (a template with a default system prompt keeps it)."""
    mark = "\ue000"  # a private-use character: no template writes one
    rendered = tokenizer.apply_chat_template([{"role": "assistant", "content": mark}], tokenize=False)
    return tokenizer(rendered[:rendered.index(mark)], add_special_tokens=False)["input_ids"]


def _mean_losses(model, sequences: list[tuple[list[int], list[int]]], pad_id: int) -> list[float]:
    """Mean NLL of each response given its prompt, for (prompt, response) id lists, in one padded batch.

    Left padding puts every response at the end of its row, so only the last positions need logits (the
    vocabulary is large: full logits would dominate memory); position ids skip the padding."""
    import torch

    width = max(len(p) + len(r) for p, r in sequences)
    tail = max(len(r) for _, r in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, (prompt, response) in enumerate(sequences):
        ids = prompt + response
        input_ids[row, width - len(ids):] = torch.tensor(ids)
        mask[row, width - len(ids):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        # logits at position t predict token t+1: the last `tail + 1` positions cover every response token.
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, logits_to_keep=tail + 1).logits
        logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        targets = input_ids[:, width - tail:]
        token_nll = -logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    out = []
    for row, (_, response) in enumerate(sequences):
        out.append(float(token_nll[row, tail - len(response):].mean()))
    return out


def _batches(lengths: Sequence[int], batch_tokens: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, each at most `batch_tokens` padded tokens (one sequence
    at least)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, current = [], []
    for i in order:
        if current and lengths[i] * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current = []
        current.append(i)
    return batches + ([current] if current else [])


class _Scorer:
    """Loads the base model on first use, so that a run served wholly from the cache loads nothing."""

    def __init__(self, rules: DifficultyRules, seed: int, total: int):
        self.rules, self.seed = rules, seed
        self.model = self.tokenizer = None
        self.progress = Progress(_log, "stratified_splits (difficulty)", total, "pairs scored") if total else None
        self.computed = 0

    def __call__(self, keys: list[str]) -> list[dict]:
        import torch

        from ..models.modeling import load_base_model

        if self.model is None:
            self.model, self.tokenizer = load_base_model(self.rules.base_model, seed=self.seed)
            self.model.eval()
        before = torch.get_num_threads()
        torch.set_num_threads(self.rules.threads)
        try:
            inputs = [scoring_inputs(self.tokenizer, json.loads(k), self.rules) for k in keys]
            # Both conditions of every pair, batched together by length.
            sequences = [(p, r) for p, _, r, _ in inputs] + [(b, r) for _, b, r, _ in inputs]
            losses = [0.0] * len(sequences)
            for batch in _batches([len(p) + len(r) for p, r in sequences], self.rules.batch_tokens):
                for i, loss in zip(batch, _mean_losses(self.model, [sequences[i] for i in batch],
                                                       self.tokenizer.pad_token_id)):
                    losses[i] = loss
        finally:
            torch.set_num_threads(before)
        self.computed += len(keys)
        if self.progress:
            self.progress.advance(len(keys))
        n = len(inputs)
        return [{"response_loss": losses[i], "loss_without_instruction": losses[n + i],
                 "response_tokens": len(inputs[i][2]), "truncated": inputs[i][3]} for i in range(n)]


@dataclass(frozen=True)
class ScoreRun:
    scores: pl.DataFrame  # SCORE_SCHEMA, one row per pair given
    model_hash: str
    computed: int  # pairs run through the model (the rest came from the cache)


def score_pairs(pairs: pl.DataFrame, rules: DifficultyRules, cache, seed: int = 0, chunk_size: int = 16) -> ScoreRun:
    """Scores of each pair (`pair_id`, `messages`), through `cache` (an OutputCache)."""
    rules.validate()
    digest = model_hash(rules.base_model, seed)
    keys = [json.dumps(m, ensure_ascii=False, sort_keys=True) for m in pairs["messages"].to_list()]
    fields = {"version": SCORING_VERSION, "max_prompt_tokens": rules.max_prompt_tokens,
              "max_response_tokens": rules.max_response_tokens,
              # The fallback chat template is code, not model files: a change to it must miss the cache.
              "fallback_template": _fallback_template_sha()}
    hits = len(cache.get_many([_key(digest, k, fields) for k in set(keys)]))
    scorer = _Scorer(rules, seed, len(set(keys)) - hits)
    values, _ = cache.through(digest, "difficulty", keys, fields, scorer, chunk_size)
    rows = []
    for pair_id, value in zip(pairs["pair_id"].to_list(), values):
        with_loss, without = value["response_loss"], value["loss_without_instruction"]
        ifd = with_loss / without if without > 0 and math.isfinite(with_loss) else None
        rows.append((pair_id, with_loss, without, ifd, value["response_tokens"], value["truncated"]))
    return ScoreRun(pl.DataFrame(rows, schema=SCORE_SCHEMA, orient="row"), digest, scorer.computed)


def _key(digest: str, key: str, fields: dict) -> str:
    from ..models.runtime.cache import cache_key

    return cache_key(digest, "difficulty", key, fields)


def _fallback_template_sha() -> str:
    from ..models.modeling import FALLBACK_CHAT_TEMPLATE

    return hashlib.sha256(FALLBACK_CHAT_TEMPLATE.encode()).hexdigest()[:16]


def thresholds(values: Sequence[float], quantiles: tuple[float, float]) -> tuple[float, float] | None:
    """The score at each quantile (linear interpolation); None with no values."""
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    series = pl.Series(values, dtype=pl.Float64)
    return tuple(float(series.quantile(q, interpolation="linear")) for q in quantiles)


def bucket(value: float | None, cuts: tuple[float, float] | None) -> str | None:
    if value is None or cuts is None or not math.isfinite(value):
        return None
    return DIFFICULTIES[0] if value <= cuts[0] else DIFFICULTIES[1] if value <= cuts[1] else DIFFICULTIES[2]


@dataclass(frozen=True)
class ModelDifficulty:
    labels: pl.DataFrame  # pair_id, difficulty, response_loss, ifd, basis (one row per pair given)
    thresholds: tuple[float, float] | None  # the bucket edges of `bucket_by`, None when nothing was scored
    summary: dict  # what the stage reports: model, thresholds, counts, cache figures


def model_difficulty(pairs: pl.DataFrame, rules: DifficultyRules, cache, seed: int = 0) -> ModelDifficulty:
    """Difficulty of each pair (`pair_id`, `messages`, optional `difficulty_hint`): the source's own label when
    it has one of DIFFICULTIES (the pair is then not scored), else the bucket of its score among the scored
    pairs. `basis` says which: "source_label" or "model"."""
    hinted = (pl.col("difficulty_hint").is_in(DIFFICULTIES).fill_null(False) if "difficulty_hint" in pairs.columns
              else pl.lit(False))
    pairs = pairs.with_columns(hinted.alias("_hinted"))
    started = time.monotonic()
    run = score_pairs(pairs.filter(~pl.col("_hinted")), rules, cache, seed)
    seconds = time.monotonic() - started
    cuts = thresholds(run.scores[rules.bucket_by].to_list(), rules.quantiles)
    scored = run.scores.with_columns(
        pl.col(rules.bucket_by).map_elements(lambda v: bucket(v, cuts), return_dtype=pl.Utf8).alias("difficulty"),
        pl.lit("model").alias("basis"))
    given = pairs.filter(pl.col("_hinted")).select(
        "pair_id", pl.col("difficulty_hint").alias("difficulty"), pl.lit(None, pl.Float64).alias("response_loss"),
        pl.lit(None, pl.Float64).alias("ifd"), pl.lit("source_label").alias("basis"))
    columns = ["pair_id", "difficulty", "response_loss", "ifd", "basis"]
    out = pairs.select("pair_id").join(pl.concat([scored.select(columns), given]), on="pair_id", how="left",
                                       maintain_order="left")
    summary = {
        "method": "model", "base_model": rules.base_model, "model_hash": run.model_hash[:40],
        "bucket_by": rules.bucket_by, "quantiles": [round(q, 4) for q in rules.quantiles],
        "thresholds": None if cuts is None else [round(c, 4) for c in cuts],
        "max_prompt_tokens": rules.max_prompt_tokens, "max_response_tokens": rules.max_response_tokens,
        "pairs_scored": run.scores.height, "pairs_run_through_model": run.computed,
        "pairs_from_cache": run.scores.height - run.computed, "scoring_seconds": round(seconds, 1),
        "pairs_per_second": round(run.computed / seconds, 3) if run.computed and seconds > 0 else None,
        "responses_truncated": int(run.scores["truncated"].sum() or 0),
        "source_labels_kept": given.height,
    }
    return ModelDifficulty(out, cuts, summary)


def unscored_reasons(splits: pl.DataFrame, labels: pl.DataFrame | None) -> dict[str, int]:
    """Why rows of `splits` (with `pair_id`, `is_augmented`, `ifd`) have no IFD, counted per reason;
    `labels` is model_difficulty's, None when difficulty came from the length rule."""
    missing = splits.filter(pl.col("ifd").is_null())
    if labels is None:
        return {"difficulty_method_length": missing.height} if missing.height else {}
    basis = missing.join(labels.select("pair_id", "basis"), on="pair_id", how="left")
    reason = (pl.when(pl.col("is_augmented")).then(pl.lit("augmented_child_takes_its_groups_difficulty"))
              .when(pl.col("basis") == "source_label").then(pl.lit("source_label_kept"))
              .otherwise(pl.lit("loss_without_instruction_not_positive")))
    return dict(basis.group_by(reason.alias("reason")).len().sort("reason").iter_rows())
