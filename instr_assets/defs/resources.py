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
