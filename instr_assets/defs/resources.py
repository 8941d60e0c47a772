from __future__ import annotations

import os

import dagster as dg

from instr_assets.core.storage import DataStore


class DataStoreResource(dg.ConfigurableResource):
    """Where Parquet, the DuckDB catalog, checkpoints and reports are written."""

    root: str = os.environ.get("INSTR_ASSETS_OUTPUT", "output")

    def store(self) -> DataStore:
        return DataStore(self.root)
