"""Every model output kept by content: (model hash, kind of call, prompt, parameters) -> JSON value.

One SQLite file in WAL mode under the output folder. Each result is committed as soon as it is computed, so a
killed run keeps everything it finished and a rebuild with nothing new calls no model. WAL lets readers go on
while one writer commits; the busy timeout makes concurrent writers (threads or Dagster step processes) wait
their turn instead of failing. Values are small (a text, a few numbers), so one table is enough.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Iterator, Sequence

from instr_assets.core.models.runtime.generation import ContinuationScorer, Generator, GenerationParams

CACHE_FILE = "model_cache.sqlite"


def cache_key(model_hash: str, kind: str, prompt: str, params: dict) -> str:
    payload = json.dumps([model_hash, kind, prompt, params], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _first_misses(keys: Sequence[str], found: dict) -> list[int]:
    """Index of the first occurrence of each key not yet in the cache, in input order."""
    first: dict[str, int] = {}
    for index, key in enumerate(keys):
        if key not in found:
            first.setdefault(key, index)
    return list(first.values())


class OutputCache:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connection() as con:
            con.execute("CREATE TABLE IF NOT EXISTS outputs (key TEXT PRIMARY KEY, model_hash TEXT NOT NULL, "
                        "kind TEXT NOT NULL, value TEXT NOT NULL)")

    @classmethod
    def in_folder(cls, output_root: Path | str) -> "OutputCache":
        return cls(Path(output_root) / "model_cache" / CACHE_FILE)

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread: sqlite3 connections must not be shared between threads.
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed row survives a killed process
            self._local.con = con
        return con

    def get_many(self, keys: Sequence[str]) -> dict[str, object]:
        found: dict[str, object] = {}
        con = self._connection()
        for start in range(0, len(keys), 500):  # under SQLite's limit on bound parameters
            chunk = list(keys[start:start + 500])
            marks = ",".join("?" * len(chunk))
            for key, value in con.execute(f"SELECT key, value FROM outputs WHERE key IN ({marks})", chunk):
                found[key] = json.loads(value)
        return found

    def put(self, key: str, model_hash: str, kind: str, value: object) -> None:
        self._connection().execute("INSERT OR REPLACE INTO outputs VALUES (?, ?, ?, ?)",
                                   (key, model_hash, kind, json.dumps(value, ensure_ascii=False)))

    def through(self, model_hash: str, kind: str, inputs: Sequence[str], fields: dict, compute,
                chunk_size: int) -> tuple[list, int]:
        """(values in input order, number of hits). The misses go to `compute` (a list of inputs -> a list of
        values) `chunk_size` at a time, each chunk stored as soon as it returns; a repeated input is computed
        once."""
        keys = [cache_key(model_hash, kind, item, fields) for item in inputs]
        found = self.get_many(keys)
        hits = sum(key in found for key in keys)
        todo = _first_misses(keys, found)
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start:start + chunk_size]
            values = compute([inputs[i] for i in chunk])
            if len(values) != len(chunk):
                raise RuntimeError(f"{kind}: {len(chunk)} inputs gave {len(values)} values")
            for index, value in zip(chunk, values):
                self.put(keys[index], model_hash, kind, value)
                found[keys[index]] = value
        return [found[key] for key in keys], hits

    def count(self, model_hash: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM outputs", ()
        if model_hash is not None:
            sql, args = sql + " WHERE model_hash = ?", (model_hash,)
        return self._connection().execute(sql, args).fetchone()[0]


class CachedGenerator:
    """A generator whose outputs go through an OutputCache; only the misses reach the model. `hits` and
    `misses` count prompts, for the cache-hit figures."""

    CHUNK = 8  # scoring calls per commit: batched for the model, yet little lost to a kill

    def __init__(self, inner: Generator, cache: OutputCache):
        self.inner, self.cache = inner, cache
        self.model_id, self.model_hash = inner.model_id, inner.model_hash
        self.hits = self.misses = 0

    def iter_generate(self, prompts: Sequence[str], params: GenerationParams) -> Iterator[tuple[int, str]]:
        keys = [cache_key(self.model_hash, "generate", p, params.cache_fields()) for p in prompts]
        found = self.cache.get_many(keys)
        hits = sum(key in found for key in keys)
        self.hits += hits
        self.misses += len(prompts) - hits
        for index, key in enumerate(keys):
            if key in found:
                yield index, found[key]
        todo = _first_misses(keys, found)
        copies: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            copies.setdefault(key, []).append(index)
        for local, text in self.inner.iter_generate([prompts[i] for i in todo], params):
            key = keys[todo[local]]
            self.cache.put(key, self.model_hash, "generate", text)
            # A prompt repeated in the batch is generated once and answers every copy.
            for index in copies[key]:
                yield index, text

    def _cached(self, kind: str, prompts: Sequence[str], fields: dict, compute) -> list:
        values, hits = self.cache.through(self.model_hash, kind, prompts, fields, compute, self.CHUNK)
        self.hits += hits
        self.misses += len(prompts) - hits
        return values

    def next_token_logprobs(self, prompts, candidates, system=None):
        return self._cached("next_token", prompts, {"candidates": list(candidates), "system": system},
                            lambda chunk: self.inner.next_token_logprobs(chunk, candidates, system))

    def continuation_logprobs(self, pairs, system=None):
        if not isinstance(self.inner, ContinuationScorer):
            raise TypeError(f"{self.model_id}: this backend cannot score given replies (use a transformers model)")
        # A pair is (prompt, continuation); the key holds both.
        keys = [json.dumps(list(pair), ensure_ascii=False) for pair in pairs]
        return self._cached("continuation", keys, {"system": system},
                            lambda chunk: self.inner.continuation_logprobs([tuple(json.loads(k)) for k in chunk],
                                                                           system))
