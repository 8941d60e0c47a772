"""A killed run wedges nothing: after `kill -9` of a run's process group the next run, started the way
scripts/run_pipeline.sh starts one, completes without manual steps, and the dead run is marked ended (so it keeps
no place in the run queue) by `python -m instr_assets.runs reap` or by the daemon's run monitoring."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent
from dagster._core.launcher import WorkerStatus

from instr_assets.runs import HOST_TAG, DeadRunCheckingLauncher, RunProcesses, reap_dead_runs

REPO_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOB = "instruction_pipeline_tiny"
# Two data stages: the run is killed in the second, the next run builds both (about a minute here).
STEPS = "raw_sources,unified_pairs"


def _instance_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME with the project's dagster.yaml, used as cwd so its relative folders land in it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def _script_env(home: Path, output: Path) -> dict:
    # What scripts/env.sh sets, with the instance and the outputs in the test's folder.
    return dict(os.environ, DAGSTER_HOME=str(home), INSTR_ASSETS_OUTPUT=str(output), HF_HUB_OFFLINE="1",
                TRANSFORMERS_OFFLINE="1", GX_ANALYTICS_ENABLED="false", DAGSTER_DISABLE_TELEMETRY="1",
                PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))


def _job_execute() -> list[str]:
    # The command scripts/run_pipeline.sh runs, limited to two steps.
    return [str(BIN / "dagster"), "job", "execute", "-m", "instr_assets.definitions", "-j", JOB, "-o", STEPS,
            "--tags", json.dumps({HOST_TAG: socket.gethostname()})]


def _started_steps(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {e.step_key for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_START)}


def _only_run_id(instance: dg.DagsterInstance) -> str | None:
    runs = instance.get_runs()
    return runs[0].run_id if runs else None


@pytest.mark.timeout(600)
def test_next_run_completes_after_the_previous_run_is_killed(tmp_path, monkeypatch):
    home, output = _instance_home(tmp_path), tmp_path / "output"
    env = _script_env(home, output)
    monkeypatch.chdir(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))

    # The first run, in its own process group, is SIGKILLed while its second step runs.
    with open(tmp_path / "killed.log", "wb") as log:
        proc = subprocess.Popen(_job_execute(), cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    with dg.DagsterInstance.get() as instance:
        try:
            deadline = time.monotonic() + 300
            run_id = None
            while run_id is None or "unified_pairs" not in _started_steps(instance, run_id):
                assert proc.poll() is None, (tmp_path / "killed.log").read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "the first run did not reach its second step in 300 s"
                time.sleep(0.2)
                run_id = run_id or _only_run_id(instance)
            os.killpg(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # killed mid-run
        # The dead run holds no concurrency slot that the next run's steps would wait for.
        storage = instance.event_log_storage
        held = {key: info.claimed_slots for key in storage.get_concurrency_keys()
                if (info := storage.get_concurrency_info(key)).claimed_slots}
        assert held == {}

    # The next run, as scripts/run_pipeline.sh starts it: first the reaper, then `dagster job execute`.
    t0 = time.monotonic()
    reap = subprocess.run([sys.executable, "-m", "instr_assets.runs", "reap"], cwd=home, env=env,
                          capture_output=True, text=True, timeout=120)
    assert reap.returncode == 0 and f"run {run_id}" in reap.stderr, reap.stderr
    with open(tmp_path / "next.log", "wb") as log:
        next_run = subprocess.run(_job_execute(), cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=360)
    assert next_run.returncode == 0, (tmp_path / "next.log").read_text(errors="replace")[-3000:]
    print(f"next run after the killed one: {time.monotonic() - t0:.1f}s (reaper included)")

    with dg.DagsterInstance.get() as instance:
        killed = instance.get_run_record_by_id(run_id)
        assert killed.dagster_run.status == dg.DagsterRunStatus.FAILURE
        failure = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert "are gone without recording an end" in failure[-1].dagster_event.message
        (latest,) = [r for r in instance.get_runs() if r.run_id != run_id]
        assert latest.status == dg.DagsterRunStatus.SUCCESS
        # Nothing is left in progress to hold the run queue (max_concurrent_runs: 1).
        assert not instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))


# --- judging a run by its processes, on a fabricated run ------------------------------------------------------

def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _started_run(instance: dg.DagsterInstance, pid: int, tags: dict | None = None) -> str:
    """A run marked STARTED whose start event was logged by process `pid`."""
    @dg.op
    def noop():
        pass

    job = dg.GraphDefinition(name="one_op", node_defs=[noop]).to_job()
    run = instance.create_run_for_job(job_def=job, tags=tags)
    instance.report_dagster_event(DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=job.name, pid=pid),
                                  run_id=run.run_id)
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    return run.run_id


def test_reaper_ends_only_runs_whose_processes_are_gone_and_frees_their_slots(tmp_path, monkeypatch):
    home = _instance_home(tmp_path)
    monkeypatch.chdir(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        dead, alive = _started_run(instance, _dead_pid()), _started_run(instance, os.getpid())
        storage = instance.event_log_storage
        storage.set_concurrency_slots("some_pool", 1)
        assert storage.claim_concurrency_slot("some_pool", dead, "noop").is_claimed

        assert reap_dead_runs(instance) == [dead]
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive).status == dg.DagsterRunStatus.STARTED
        assert storage.get_concurrency_info("some_pool").claimed_slots == []
        assert reap_dead_runs(instance) == []  # the live run is left alone


def test_a_run_of_another_machine_is_left_to_it(tmp_path, monkeypatch):
    """Its pid says nothing here: the process it names on this machine is not the run's."""
    home = _instance_home(tmp_path)
    monkeypatch.chdir(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        elsewhere = _started_run(instance, _dead_pid(), tags={HOST_TAG: socket.gethostname() + "-other"})
        here = _started_run(instance, _dead_pid(), tags={HOST_TAG: socket.gethostname()})
        assert reap_dead_runs(instance) == [here]
        assert instance.get_run_by_id(elsewhere).status == dg.DagsterRunStatus.STARTED
        launcher = instance.run_launcher
        assert launcher.check_run_worker_health(instance.get_run_by_id(elsewhere)).status == WorkerStatus.RUNNING


def test_a_pid_reused_by_a_later_process_is_not_the_run_s_process():
    me = os.getpid()
    assert RunProcesses({me: time.time()}).alive() == [me]
    # Logged an hour ago by a process with this pid: this process started later, so that one is gone.
    assert RunProcesses({me: time.time() - 3600}).alive() == []
    assert RunProcesses({_dead_pid(): time.time()}).alive() == []


def test_project_instance_lets_run_monitoring_find_dead_runs(tmp_path, monkeypatch):
    """dagster.yaml's launcher answers the monitor's health check, which the default launcher does not support."""
    home = _instance_home(tmp_path)
    monkeypatch.chdir(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, DeadRunCheckingLauncher) and instance.run_monitoring_enabled
        dead, alive = _started_run(instance, _dead_pid()), _started_run(instance, os.getpid())
        assert launcher.check_run_worker_health(instance.get_run_by_id(dead)).status == WorkerStatus.FAILED
        assert launcher.check_run_worker_health(instance.get_run_by_id(alive)).status == WorkerStatus.RUNNING
