"""Print what the latest pipeline run produced: per-stage rows and time, check results, where things are.

Exits non-zero when the run failed or a check did not pass, so scripts can rely on it.
"""
import argparse
import os
import sys

import dagster as dg
from dagster._core.events import DagsterEventType

from instr_assets.core.storage import DataStore

STAGE_TABLES = ["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs", "stratified_splits",
                "tokenized_shards", "finetuned_checkpoint", "eval_report"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--since", type=float, default=0.0, help="only runs started after this UNIX time")
    args = parser.parse_args()
    instance = dg.DagsterInstance.get()
    records = instance.get_run_records(limit=1)
    if not records or (records[0].start_time or 0) < args.since:
        print("no pipeline run found")
        return 1
    run = records[0].dagster_run
    print(f"run {run.run_id} ({run.job_name}): {run.status.value}")
    print("\nstage                   seconds  status")
    for s in instance.get_run_step_stats(run.run_id):
        took = (s.end_time or 0) - (s.start_time or 0)
        print(f"  {s.step_key:22s} {took:7.1f}  {s.status.value if s.status else '?'}")
    failed_checks = 0
    print("\nchecks")
    for rec in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        ev = rec.dagster_event.event_specific_data
        failed_checks += 0 if ev.passed else 1
        print(f"  {'PASS' if ev.passed else 'FAIL'} {ev.asset_key.to_user_string()}:{ev.check_name}")
    store = DataStore(os.environ.get("INSTR_ASSETS_OUTPUT", "output"))
    if store.duckdb_path.exists():
        print("\nrows per stage (DuckDB)     live version")
        for t in STAGE_TABLES:
            live = store.published(t)
            try:
                n = store.query(f'SELECT count(*) AS n FROM "{t}"')["n"][0]
                print(f"  {t:22s} {n:>7}  {live.version_id if live else '-'}")
            except Exception as e:  # a stage that did not run has no view yet
                print(f"  {t:22s} - ({type(e).__name__})")
    elif store.published_dir.exists():
        print(f"\nno DuckDB catalog: `python -m instr_assets.catalog rebuild --root {store.root}` recreates it")
    report = store.root / "published" / "eval_report" / "eval_report.md"
    print(f"\nreport: {report}" + ("" if report.exists() else " (not written)"))
    print(f"duckdb: {store.duckdb_path}")
    if report.exists():
        print("\n" + "\n".join(report.read_text(encoding="utf-8").splitlines()[:12]))
    ok = run.status == dg.DagsterRunStatus.SUCCESS and failed_checks == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
