"""GGUF models through llama.cpp (the `xllamacpp` bindings: prebuilt CPU wheels, no compiler, no torch).

xllamacpp runs llama.cpp's server loop in-process; its `handle_chat_completions` takes an OpenAI-style request
dict and returns the response dict, with the model's chat template applied by llama.cpp. Requests are sent one
at a time: on a CPU a single sequence per call is as fast as batching, and it makes each output a function of
its own prompt and seed only.
"""
from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Sequence

from instr_assets.core.models.runtime.generation import GenerationParams, ModelFileError, check_time


def _messages(prompt: str, system: str | None) -> list[dict]:
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]


class LlamaCppGenerator:
    # llama.cpp's server reports at most this many alternatives per token.
    TOP_LOGPROBS = 20

    def __init__(self, gguf_path: Path | str, *, model_hash: str, model_id: str | None = None, threads: int = 1,
                 context: int = 4096):
        """`model_hash` is the file's verified sha256 (see default_model.verify_model_file). One thread is the
        default: on two busy shared cores it was faster than two."""
        path = Path(gguf_path)
        if not path.is_file():
            raise ModelFileError(f"GGUF model file {path} does not exist")
        with open(path, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise ModelFileError(f"{path} is not a GGUF file (wrong magic bytes)")
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = context
        params.n_parallel = 1
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = -1  # llama.cpp's own log would flood the Dagster run log
        params.warmup = False
        try:
            self._server = xllamacpp.Server(params)
        except RuntimeError as err:
            raise ModelFileError(f"llama.cpp could not load {path}: corrupt, truncated or unsupported ({err})")
        self._lock = threading.Lock()  # one request at a time per loaded model
        self.model_id = model_id or path.stem
        self.model_hash = model_hash
        self.threads = threads

    def _chat(self, request: dict) -> dict:
        return self._request(self._server.handle_chat_completions, request)

    def _request(self, handle, request: dict) -> dict:
        with self._lock:
            response = handle(request)
        if "choices" not in response:
            raise RuntimeError(f"{self.model_id}: llama.cpp returned an error: {response}")
        return response

    def iter_generate(self, prompts: Sequence[str], params: GenerationParams):
        for index, prompt in enumerate(prompts):
            started = time.monotonic()
            request = {
                "messages": _messages(prompt, params.system), "max_tokens": params.max_new_tokens,
                "temperature": params.temperature, "top_p": params.top_p, "seed": params.seed,
                # llama.cpp checks this limit only at line ends: a best effort, made strict by check_time.
                "t_max_predict_ms": int(params.timeout_s * 1000),
            }
            if params.stop:
                request["stop"] = list(params.stop)
            response = self._chat(request)
            check_time(self.model_id, started, params.timeout_s, index)
            yield index, response["choices"][0]["message"]["content"]

    def next_token_logprobs(self, prompts, candidates, system=None):
        wanted = set(candidates)
        out = []
        for prompt in prompts:
            first = self._first_token_top(self._server.handle_chat_completions, {
                "messages": _messages(prompt, system), "temperature": 0, "logprobs": True,
                "top_logprobs": self.TOP_LOGPROBS})
            seen: dict[str, float] = {}
            for item in first:
                token = item["token"].strip()
                # " 4" and "4" are different tokens meaning the same grade: add their probabilities.
                if token in wanted:
                    seen[token] = math.log(math.exp(seen[token]) + math.exp(item["logprob"])) \
                        if token in seen else item["logprob"]
            out.append(seen)
        return out

    def _first_token_top(self, handle, request: dict) -> list[dict]:
        """The first generated token's top alternatives (token, logprob). llama.cpp reports no log-probabilities
        for a token that is only part of a character's UTF-8 bytes (a Han character can take two or three
        tokens), so then a few more tokens are generated, which complete the character and report the first
        token's alternatives too. Empty when even that fails: only byte fragments came, never an ending."""
        for max_tokens in (1, 4):
            logprobs = self._request(handle, request | {"max_tokens": max_tokens})["choices"][0].get("logprobs")
            if logprobs and logprobs.get("content"):
                return logprobs["content"][0]["top_logprobs"]
        return []

    def next_token_top(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """For each raw text (no chat template: the text itself is the context), its most likely next tokens
        with their probabilities, the top TOP_LOGPROBS of them: how the model expects the text to go on."""
        out = []
        for text in texts:
            probs: dict[str, float] = {}
            for item in self._first_token_top(self._server.handle_completions, {
                    "prompt": text, "temperature": 0, "n_probs": self.TOP_LOGPROBS}):
                probs[item["token"]] = probs.get(item["token"], 0.0) + math.exp(item["logprob"])
            out.append(probs)
        return out

