"""The code location: the assets, their checks, the full-rebuild jobs, the nightly schedule and the source sensor."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# The output root is dg.EnvVar("INSTR_ASSETS_OUTPUT") below, resolved by Dagster when a run starts; unset, it is
# `output` in the working directory.
os.environ.setdefault("INSTR_ASSETS_OUTPUT", "output")

import socket  # noqa: E402

import dagster as dg  # noqa: E402

from instr_assets.core.augment.augmentation import RULE_OPERATORS  # noqa: E402
from instr_assets.defs.augment_assets import AugmentConfig, augmented_pairs  # noqa: E402
from instr_assets.defs.clean_assets import cleaned_pairs  # noqa: E402
from instr_assets.defs.ingest_assets import raw_sources, unified_pairs  # noqa: E402
from instr_assets.defs.split_assets import SplitConfig, stratified_splits  # noqa: E402
from instr_assets.defs.export_assets import dataset_exports  # noqa: E402
from instr_assets.defs.evaluate_assets import eval_report  # noqa: E402
from instr_assets.defs.train_assets import TrainConfig, finetuned_checkpoint, tokenized_shards  # noqa: E402
from instr_assets.defs.resources import DataStoreResource  # noqa: E402
from instr_assets.defs.sensors import source_files_sensor  # noqa: E402
from instr_assets.runs import HOST_TAG  # noqa: E402

ALL_ASSETS = [raw_sources, unified_pairs, cleaned_pairs, augmented_pairs, stratified_splits, dataset_exports,
              tokenized_shards, finetuned_checkpoint, eval_report]
# A run launched in process (`dg launch`, which takes no --tags) carries the machine that loaded this code, where
# it runs: the reaper judges a run by its pids only there. The UI's launcher re-tags the runs it starts.
RUN_HERE = {HOST_TAG: socket.gethostname()}

instruction_pipeline = dg.define_asset_job(
    "instruction_pipeline", selection=dg.AssetSelection.assets(*ALL_ASSETS), tags=RUN_HERE,
    description="Materialize the whole graph on SmolLM2-135M-Instruct: raw sources to eval report.",
)
# The same graph on a tiny random model of the same family, for a quick look: difficulty scored by it too, and
# only the rule operators augment (the generation model would take most of the run's minutes).
instruction_pipeline_tiny = dg.define_asset_job(
    "instruction_pipeline_tiny", selection=dg.AssetSelection.assets(*ALL_ASSETS), tags=RUN_HERE,
    config=dg.RunConfig(ops={
        "augmented_pairs": AugmentConfig(operators=list(RULE_OPERATORS), generation_enabled=False, judge_quota_cpu=0),
        "stratified_splits": SplitConfig(difficulty_model="tiny"),
        "finetuned_checkpoint": TrainConfig(base_model="tiny", max_steps=20, lr=1e-3)}),
    description="The whole graph with a tiny randomly initialised model and the rule augmenters only (minutes, "
                "not quality).",
)

nightly_rebuild = dg.ScheduleDefinition(
    name="nightly_rebuild", job=instruction_pipeline,
    cron_schedule=os.environ.get("INSTR_ASSETS_NIGHTLY_CRON", "0 2 * * *"),
    execution_timezone=os.environ.get("INSTR_ASSETS_TIMEZONE", "UTC"),
    # On by default so `dagster dev` rebuilds nightly; INSTR_ASSETS_NIGHTLY=off leaves it stopped (tests, ad-hoc UIs).
    default_status=(dg.DefaultScheduleStatus.STOPPED if os.environ.get("INSTR_ASSETS_NIGHTLY") == "off"
                    else dg.DefaultScheduleStatus.RUNNING),
    description="Rebuild every asset nightly (cron and time zone from INSTR_ASSETS_NIGHTLY_CRON / INSTR_ASSETS_TIMEZONE).",
)

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[instruction_pipeline, instruction_pipeline_tiny],
    schedules=[nightly_rebuild],
    sensors=[source_files_sensor],
    resources={"data_store": DataStoreResource(root=dg.EnvVar("INSTR_ASSETS_OUTPUT"))},
)
