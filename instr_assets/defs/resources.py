from __future__ import annotations

import dagster as dg
from pydantic import Field

from instr_assets.core.storage import DataStore


class DataStoreResource(dg.ConfigurableResource):
    """Where Parquet, the DuckDB catalog, checkpoints and reports are written."""

    # definitions.py binds it to dg.EnvVar("INSTR_ASSETS_OUTPUT"), so the UI shows where it comes from.
    root: str = Field(default="output", description="output folder (INSTR_ASSETS_OUTPUT in the code location)")

    def store(self) -> DataStore:
        return DataStore(self.root)


def model_cache(store: DataStore):
    """The runtime's content cache of every model output, one SQLite file in the output folder."""
    from instr_assets.core.models.runtime.cache import OutputCache

    return OutputCache.in_folder(store.root)


def cached_embedder(store: DataStore):
    """multilingual-e5-small behind the runtime's content cache, so a rebuild embeds nothing it has seen."""
    from instr_assets.core.models.runtime.embeddings import Embedder

    return Embedder(cache=model_cache(store))


def query_embedder(store: DataStore):
    """texts -> unit vectors, embedded as e5 queries (short texts compared with each other), cached."""
    embedder = cached_embedder(store)
    return lambda texts: embedder.embed(texts, "query")
