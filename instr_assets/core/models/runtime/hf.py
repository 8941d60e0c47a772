"""Hugging Face models through transformers: a hub id (from the local hub cache; offline by default) or a local
folder. CUDA and bfloat16 when a GPU is present, else the CPU in float32.

Greedy prompts run in padded batches. Sampled prompts run one at a time with the seed set before each, so a
sampled output depends on its own prompt and seed and not on what else was in the batch (which the cache
needs: a cached answer must be the one a fresh call would give).
"""
from __future__ import annotations

import functools
import hashlib
import os
import time
from pathlib import Path
from typing import Sequence

from instr_assets.core.models.runtime.generation import GenerationParams, ModelFileError, check_time, cut_at_stop

# Files that decide what a folder model computes; their contents make up its hash.
_HASHED_SUFFIXES = (".json", ".safetensors", ".gguf", ".model", ".txt", ".jinja")


@functools.lru_cache(maxsize=8)
def _folder_hash(folder: str, _stat_key: tuple) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and path.suffix in _HASHED_SUFFIXES:
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            with open(path, "rb") as fh:
                while block := fh.read(1 << 22):
                    digest.update(block)
    return digest.hexdigest()


def folder_hash(folder: Path) -> str:
    """sha256 over the model's files; recomputed only when a file's size or mtime changes."""
    stat_key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))
                     if p.is_file())
    return _folder_hash(str(folder), stat_key)


def resolve_model_folder(model: str) -> Path:
    """A local folder as it is; a hub id from the local hub cache (no download while HF_HUB_OFFLINE is set)."""
    if Path(model).exists():
        folder = Path(model)
        if not (folder / "config.json").is_file():
            raise ModelFileError(f"model folder {folder} has no config.json: not a transformers model folder")
        return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model, local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1"))
    except (LocalEntryNotFoundError, OSError, ValueError) as err:
        raise ModelFileError(f"model {model!r} is neither a local folder nor in the hub cache ({err})") from err


class TransformersGenerator:
    def __init__(self, model: str, *, batch_size: int = 8, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = resolve_model_folder(model)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
            self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(self.device).eval()
        except (OSError, ValueError, RuntimeError) as err:
            raise ModelFileError(f"transformers could not load {folder}: {err}") from err
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"  # new tokens follow every prompt directly
        self.batch_size = batch_size
        self.model_id = model if not Path(model).exists() else folder.name
        self.model_hash = folder_hash(folder)

    def render(self, prompt: str, system: str | None) -> str:
        """The prompt as the model sees it: through its chat template when it has one."""
        if not self.tokenizer.chat_template:
            return f"{system}\n\n{prompt}" if system else prompt
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _encode(self, texts: list[str]):
        return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)

    def iter_generate(self, prompts: Sequence[str], params: GenerationParams):
        import torch
        from transformers import set_seed

        sampled = params.temperature > 0
        step = 1 if sampled else self.batch_size
        options = dict(max_new_tokens=params.max_new_tokens, do_sample=sampled, max_time=params.timeout_s,
                       pad_token_id=self.tokenizer.pad_token_id)
        if sampled:
            options.update(temperature=params.temperature, top_p=params.top_p)
        if params.stop:
            options.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        for start in range(0, len(prompts), step):
            batch = self._encode([self.render(p, params.system) for p in prompts[start:start + step]])
            if sampled:
                set_seed(params.seed)
            started = time.monotonic()
            with torch.no_grad():
                out = self.model.generate(**batch, **options)
            check_time(self.model_id, started, params.timeout_s, start)
            new_tokens = out[:, batch["input_ids"].shape[1]:]
            for offset, text in enumerate(self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
                yield start + offset, cut_at_stop(text, params.stop)

    def _candidate_ids(self, candidates: Sequence[str]) -> dict[str, list[int]]:
        """Each candidate's single-token spellings ("4" and " 4")."""
        ids: dict[str, list[int]] = {}
        for candidate in candidates:
            spellings = {tuple(self.tokenizer.encode(s, add_special_tokens=False)) for s in (candidate, " " + candidate)}
            ids[candidate] = [t[0] for t in spellings if len(t) == 1]
            if not ids[candidate]:
                raise ValueError(f"{self.model_id}: candidate {candidate!r} is not a single token")
        return ids

    def next_token_logprobs(self, prompts, candidates, system=None):
        import torch

        ids = self._candidate_ids(candidates)
        out = []
        for start in range(0, len(prompts), self.batch_size):
            batch = self._encode([self.render(p, system) for p in prompts[start:start + self.batch_size]])
            with torch.no_grad():
                logits = self.model(**batch).logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1)
            for row in logprobs:
                out.append({c: float(torch.logsumexp(row[token_ids], dim=0)) for c, token_ids in ids.items()})
        return out

    def continuation_logprobs(self, pairs, system=None):
        import torch

        out = []
        for prompt, continuation in pairs:
            prefix = self.tokenizer.encode(self.render(prompt, system), add_special_tokens=False) if prompt else []
            reply = self.tokenizer.encode(continuation, add_special_tokens=False)
            if not reply:
                out.append([])
                continue
            if not prefix:  # the reply alone: condition its first token on the start-of-text token
                prefix = [self.tokenizer.bos_token_id or self.tokenizer.eos_token_id]
            ids = torch.tensor([prefix + reply], device=self.device)
            with torch.no_grad():
                logits = self.model(input_ids=ids).logits[0, len(prefix) - 1:-1].float()
            picked = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(reply, device=self.device)[:, None])
            out.append(picked[:, 0].tolist())
        return out
