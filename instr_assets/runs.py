"""Runs whose processes died (`kill -9`, an out-of-memory kill, a lost machine) without recording an end.

Dagster keeps such a run STARTED for ever: it keeps its place under `max_concurrent_runs`, so every queued run
waits behind it, and any concurrency slot it held stays taken. Two ways out, both judging a run by the processes
that executed it (the run worker and its step processes, as recorded in the run's events). A pid means something
only on the machine that ran it: runs are judged on the machine named by their `instr_assets/host` tag (set by
the scripts and the launcher below), or, untagged, only when the instance is a SQLite one that no other machine
writes to.

- `python -m instr_assets.runs reap` marks every such run failed and frees its slots; the scripts run it before
  they start a run or the UI.
- `DeadRunCheckingLauncher`, the run launcher in dagster.yaml, lets the daemon's run monitoring (which the default
  launcher does not support) find such runs while the UI is up.
"""
from __future__ import annotations

import argparse
import logging
import socket
import sys
from dataclasses import dataclass

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, LaunchRunContext, WorkerStatus
from dagster._core.storage.runs import SqliteRunStorage

log = logging.getLogger("instr_assets.runs")

HOST_TAG = "instr_assets/host"  # the machine whose processes run the run

# Events logged by the processes that execute a run, not by the webserver or daemon that queue or launch it.
_EXECUTION_EVENTS = {dg.DagsterEventType.RUN_START, dg.DagsterEventType.STEP_WORKER_STARTED,
                     dg.DagsterEventType.STEP_START}
_UNFINISHED = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
# A process's start time (from the boot clock, in ticks) and an event's timestamp may disagree by a little; a pid
# whose process started later than this after the event was logged has been reused by another process.
_CLOCK_SLACK_S = 2.0


@dataclass(frozen=True)
class RunProcesses:
    """The processes that executed a run: pid -> when it first logged an event (epoch seconds)."""
    first_seen: dict[int, float]

    def alive(self) -> list[int]:
        return [pid for pid, seen in self.first_seen.items() if _same_process_alive(pid, seen)]


def _same_process_alive(pid: int, seen: float) -> bool:
    """Whether `pid` is a live process that already existed when it logged at `seen` (not a reused pid)."""
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.create_time() <= seen + _CLOCK_SLACK_S
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:  # someone else's process: alive, and not ours to judge
        return True


def run_processes(instance: dg.DagsterInstance, run_id: str) -> RunProcesses:
    first_seen: dict[int, float] = {}
    for entry in instance.all_logs(run_id, of_type=_EXECUTION_EVENTS):
        pid = entry.dagster_event.pid if entry.dagster_event else None
        if pid is not None:
            first_seen.setdefault(pid, entry.timestamp)
    return RunProcesses(first_seen)


def judged_here(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether this machine can tell from pids if the run lives."""
    host = run.tags.get(HOST_TAG)
    if host is not None:
        return host == socket.gethostname()
    return isinstance(instance.run_storage, SqliteRunStorage)


def dead_run_reason(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """Why the run is dead ("its processes … are gone"), or None while any of them lives, none is recorded yet (a
    run still starting is the run monitor's start timeout to judge) or the run is another machine's to judge."""
    if not judged_here(instance, run):
        return None
    processes = run_processes(instance, run.run_id)
    if not processes.first_seen or processes.alive():
        return None
    pids = ", ".join(map(str, sorted(processes.first_seen)))
    return f"its processes (pid {pids}) are gone without recording an end (killed?)"


def reap_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark every unfinished run whose processes are all gone as failed (canceled if it was canceling) and free
    any concurrency slot it holds; returns their run ids."""
    reaped = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=_UNFINISHED)):
        run = record.dagster_run
        if not judged_here(instance, run):
            log.info("run %s (%s) is %s on %s: left to that machine", run.run_id, run.job_name, run.status.value,
                     run.tags.get(HOST_TAG))
            continue
        reason = dead_run_reason(instance, run)
        if reason is None:
            log.info("run %s (%s) is %s: a process of it lives, or none is recorded yet", run.run_id, run.job_name,
                     run.status.value)
            continue
        if instance.get_run_by_id(run.run_id).status != run.status:  # it recorded its end meanwhile
            continue
        message = f"Marked ended by instr_assets.runs: {reason}."
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, message)
        else:
            instance.report_run_failed(run, message)
        # An ended run keeps its slots until something frees them (the daemon does only when configured to).
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        log.warning("run %s (%s) was %s but %s: marked ended, its slots freed", run.run_id, run.job_name,
                    run.status.value, reason)
        reaped.append(run.run_id)
    return reaped


class DeadRunCheckingLauncher(DefaultRunLauncher):
    """The default launcher, plus the worker health check that run monitoring calls for each STARTED run: a run
    whose processes are all gone is reported FAILED, and the monitor marks it failed. Each run it launches is
    tagged with this machine, where the default launcher starts it (local code servers, as in workspace.yaml)."""

    def launch_run(self, context: LaunchRunContext) -> None:
        self._instance.add_run_tags(context.dagster_run.run_id, {HOST_TAG: socket.gethostname()})
        super().launch_run(context)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        reason = dead_run_reason(self._instance, run)
        if reason is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        return CheckRunHealthResult(WorkerStatus.FAILED, f"Run {run.run_id}: {reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instr_assets.runs", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["reap"], help="reap: mark runs whose processes died as ended")
    parser.parse_args(argv)
    # Our lines only: the instance's own loggers (alembic's migrations among them) stay quiet.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    with dg.DagsterInstance.get() as instance:
        reaped = reap_dead_runs(instance)
    log.info("%d dead run(s) marked ended", len(reaped))
    return 0


if __name__ == "__main__":
    sys.exit(main())
