"""source_files_sensor: rebuild the graph when a source file or the sources YAML changes.

The cursor holds a snapshot of the watched files ({path: mtime_ns, size, sha}). A tick re-hashes only files
whose mtime or size moved, and requests a run only when some content differs, so saving a file unchanged
does nothing. The run is the pipeline job; raw_sources and unified_pairs then re-read only the changed
sources (see instr_assets/core/source_cache.py).

The first tick has no cursor. It compares the files with the `source_files_digest` that the latest
raw_sources materialization recorded: a match means the assets already reflect these files, so the tick
records them and requests nothing; no materialization, or one made from other file contents, requests a run.
Turning the sensor on thus brings the assets up to date once, and never rebuilds what is already current.
"""

import json
import os
from pathlib import Path

import dagster as dg

from instr_assets.core.ingest.source_cache import changed_files, snapshot, snapshot_digest, watched_files
from instr_assets.core.ingest.source_config import DEFAULT_SOURCES_FILE, SourceConfigError

JOB_NAME = "instruction_pipeline"


def _default_status() -> dg.DefaultSensorStatus:
    # Stopped unless asked for: a run trains SmolLM2 for minutes, and Dagster users expect to switch sensors
    # on themselves (Automation tab). INSTR_ASSETS_SOURCE_SENSOR=on starts it with `dagster dev`.
    on = os.environ.get("INSTR_ASSETS_SOURCE_SENSOR", "").strip().lower() in ("on", "1", "true", "yes")
    return dg.DefaultSensorStatus.RUNNING if on else dg.DefaultSensorStatus.STOPPED


def _last_build_digest(context: dg.SensorEvaluationContext) -> str | None:
    event = context.instance.get_latest_materialization_event(dg.AssetKey("raw_sources"))
    mat = event.asset_materialization if event else None
    value = mat.metadata.get("source_files_digest") if mat else None
    return getattr(value, "value", value)


def build_source_files_sensor(sources_file: str | Path = DEFAULT_SOURCES_FILE, job_name: str = JOB_NAME,
                              name: str = "source_files_sensor", minimum_interval_seconds: int = 30,
                              default_status: dg.DefaultSensorStatus | None = None) -> dg.SensorDefinition:
    """A sensor on `sources_file` and the files it lists, requesting `job_name` with that sources file."""
    sources_file = Path(sources_file).resolve()
    run_config = {"ops": {"raw_sources": {"config": {"sources_file": str(sources_file)}}}}

    @dg.sensor(
        name=name, job_name=job_name, minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status or _default_status(),
        description=f"Runs {job_name} when {sources_file.name} or a source file it lists changes (content hash). "
                    "The first tick runs only if raw_sources was not built from the current files.",
    )
    def _sensor(context: dg.SensorEvaluationContext):
        cursor = json.loads(context.cursor) if context.cursor else None
        previous = cursor.get("files", {}) if cursor else {}
        try:
            files = snapshot(watched_files(sources_file), previous)
        except SourceConfigError as e:
            # The cursor stays put, so the change is still seen once the file is fixed.
            return dg.SkipReason(f"{sources_file} is not valid, no run until it is fixed: {e}")
        missing = sorted(p for p, f in files.items() if f.get("missing"))
        if missing:
            return dg.SkipReason(f"listed source files do not exist (no run until they do): {missing}")
        digest = snapshot_digest(files)
        runs = cursor.get("runs", 0) if cursor else 0
        if cursor is None:
            if _last_build_digest(context) == digest:
                context.update_cursor(json.dumps({"files": files, "digest": digest, "runs": runs}))
                return dg.SkipReason(f"first tick: {len(files)} files recorded; raw_sources was built from them")
            changes = {"added": sorted(files), "changed": [], "removed": []}
        else:
            changes = changed_files(previous, files)
            if not any(changes.values()):
                # mtimes may have moved with the content the same: record them so the next tick hashes nothing.
                context.update_cursor(json.dumps({"files": files, "digest": digest, "runs": runs}))
                return dg.SkipReason("no source file changed")
        touched = [Path(p).name for kind in ("added", "changed", "removed") for p in changes[kind]]
        context.log.info(f"source files changed: {json.dumps(changes)}")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(
                # The counter makes a return to earlier contents (A, B, A) a new run rather than a duplicate key.
                run_key=f"sources-{runs + 1}-{digest}", run_config=run_config,
                tags={"instr_assets/trigger": "source_files_sensor",
                      "instr_assets/changed_files": ", ".join(touched)[:200]},
            )],
            cursor=json.dumps({"files": files, "digest": digest, "runs": runs + 1}),
        )

    return _sensor


source_files_sensor = build_source_files_sensor()
