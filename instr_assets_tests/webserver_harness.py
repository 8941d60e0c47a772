"""Helpers for test_webserver.py: a `dagster dev` server on a temporary instance, its GraphQL API, and
headless Chromium (the Debian `chromium` package) pointed at the UI. Standard library only."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# Checks that are plain comparisons, not Great Expectations validations (the others report "evaluated");
# mix_drift is one on a first build, which has no previous version to validate against.
PLAIN_CHECKS = {"finetuned_beats_base", "raw_sources_readable", "unified_not_empty", "cleaned_not_empty",
                "exports_match_splits", "mix_drift"}

REPO_ROOT = Path(__file__).resolve().parents[1]
WORKSPACE_YAML = REPO_ROOT / "workspace.yaml"
INSTANCE_YAML = REPO_ROOT / "dagster.yaml"
LOCATION = "instr_assets"
REPOSITORY = "__repository__"


def skip_or_fail(message: str) -> None:
    """Skip a test whose system package is missing, except in CI: .ci/run installs it, so there it must fail."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def _process_group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _default_interrupts() -> None:
    # A shell runs background jobs with SIGINT ignored, and children inherit that. Dagster maps SIGTERM onto
    # SIGINT's handler, so such a dagster dev would ignore both and never stop: restore the default first.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class DagsterDevServer:
    """`dagster dev -w <repo>/workspace.yaml` on 127.0.0.1, with DAGSTER_HOME and cwd in a temporary folder.

    dagster.yaml is copied into that folder; its relative paths (.dagster/...) resolve against the server's
    cwd, so the instance, the run storage and the compute logs stay out of the repository. Pipeline outputs
    go to `output_dir` through INSTR_ASSETS_OUTPUT.
    """

    def __init__(self, home: Path, output_dir: Path, port: int | None = None):
        self.home = Path(home)
        self.output_dir = Path(output_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "dagster_dev.log"
        self.proc: subprocess.Popen | None = None
        self.stop_seconds: float | None = None
        self.needed_sigkill = False
        self.left_running = ""

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "DAGSTER_HOME": str(self.home),
            "INSTR_ASSETS_OUTPUT": str(self.output_dir),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "GX_ANALYTICS_ENABLED": "false",
            "DAGSTER_DISABLE_TELEMETRY": "1",
            # The daemon must not start the nightly SmolLM2 rebuild in the middle of a test.
            "INSTR_ASSETS_NIGHTLY": "off",
            # workspace.yaml's `working_directory: .` is taken relative to the cwd (the temporary folder), not
            # to the workspace file, so put this checkout on the path for the code location explicitly.
            "PYTHONPATH": os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p),
        })
        return env

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(INSTANCE_YAML, self.home / "dagster.yaml")
        dagster = Path(sys.executable).with_name("dagster")
        cmd = [str(dagster) if dagster.exists() else "dagster", "dev", "-w", str(WORKSPACE_YAML),
               "-h", "127.0.0.1", "-p", str(self.port)]
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(cmd, cwd=self.home, env=self.env(), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, preexec_fn=_default_interrupts)
        finally:
            log.close()

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {self.proc.returncode}:\n{self.log_tail()}")

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Wait until /server_info answers and the code location is LOADED; return the seconds it took."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            self._check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url}/server_info not up after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.5)
        query = ("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                 "locationOrLoadError { __typename ... on PythonError { message } } } } } }")
        while True:
            self._check_alive()
            entries = self.graphql(query)["workspaceOrError"]["locationEntries"]
            entry = next((e for e in entries if e["name"] == LOCATION), None)
            if entry and entry["loadStatus"] == "LOADED":
                err = entry["locationOrLoadError"]
                if err["__typename"] == "PythonError":
                    raise RuntimeError(f"code location failed to load: {err['message']}")
                return time.monotonic() - t0
            if time.monotonic() > deadline:
                raise TimeoutError(f"code location {LOCATION} not loaded after {timeout}s: {entries}")
            time.sleep(0.5)

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60.0) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            payload = json.loads(r.read())
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def stop(self, timeout: float = 90.0) -> None:
        """Ctrl-C, as in a terminal: SIGINT to the whole process group (dagster dev, webserver, daemon, code
        servers), so that dagster dev runs its own orderly shutdown; wait, then SIGKILL what is left."""
        if self.proc is None or self.stop_seconds is not None:
            return
        pgid = self.proc.pid  # start_new_session=True: the leader's pid is the group id
        t0 = time.monotonic()
        if _process_group_alive(pgid):
            os.killpg(pgid, signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        while _process_group_alive(pgid) and time.monotonic() < t0 + timeout:
            time.sleep(0.2)
        if _process_group_alive(pgid):
            self.needed_sigkill = True
            # Which process did not stop, for the failure message.
            self.left_running = subprocess.run(["ps", "-o", "pid,etime,args", "-g", str(pgid)],
                                               capture_output=True, text=True).stdout
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            kill_deadline = time.monotonic() + 10
            while _process_group_alive(pgid) and time.monotonic() < kill_deadline:
                time.sleep(0.2)
        self.stop_seconds = time.monotonic() - t0

    def group_alive(self) -> bool:
        return self.proc is not None and _process_group_alive(self.proc.pid)

    # --- runs -----------------------------------------------------------------------------------------

    def launch_job(self, job_name: str) -> str:
        mutation = """
        mutation($params: ExecutionParams!) {
          launchRun(executionParams: $params) {
            __typename
            ... on LaunchRunSuccess { run { runId status } }
            ... on PythonError { message stack }
            ... on RunConfigValidationInvalid { errors { message } }
            ... on InvalidSubsetError { message }
            ... on PipelineNotFoundError { message }
          }
        }"""
        params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                               "jobName": job_name}, "runConfigData": {}}
        result = self.graphql(mutation, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launchRun failed: {result}")
        return result["run"]["runId"]

    def wait_for_run(self, run_id: str, timeout: float = 600.0, poll: float = 2.0) -> dict:
        query = """
        query($runId: ID!) {
          runOrError(runId: $runId) {
            __typename
            ... on Run { runId status startTime endTime stepStats { stepKey status } }
            ... on PythonError { message }
            ... on RunNotFoundError { message }
          }
        }"""
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            run = self.graphql(query, {"runId": run_id})["runOrError"]
            if run["__typename"] != "Run":
                raise RuntimeError(f"runOrError: {run}")
            if run["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run['status']} after {timeout}s: {run['stepStats']}")
            time.sleep(poll)


# --- headless Chromium -----------------------------------------------------------------------------------

def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """One-shot headless Chromium runs (`--dump-dom`, `--screenshot`) against the local UI."""

    def __init__(self, binary: str, profile_root: Path):
        self.binary = binary
        self.profile_root = Path(profile_root)
        self.profile_root.mkdir(parents=True, exist_ok=True)
        self._n = 0

    def _run(self, args: list[str], window: tuple[int, int], budget_ms: int, timeout: float) -> bytes:
        self._n += 1
        profile = self.profile_root / f"profile{self._n}"
        cmd = [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
               f"--window-size={window[0]},{window[1]}", f"--virtual-time-budget={budget_ms}", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise TimeoutError(f"chromium did not finish in {timeout}s: {' '.join(cmd)}")
        finally:
            try:  # helper processes (renderer, zygote) share the group: leave none behind
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            shutil.rmtree(profile, ignore_errors=True)
        if proc.returncode != 0:
            raise RuntimeError(f"chromium exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
        return out

    def dump_dom(self, url: str, window=(1400, 900), budget_ms: int = 15000, timeout: float = 90.0) -> str:
        return self._run(["--dump-dom", url], window, budget_ms, timeout).decode(errors="replace")

    def page_text(self, url: str, expect: list[str] = (), attempts: int = 3, **kw) -> str:
        """The visible text of the rendered page; retried (with more virtual time) until every `expect` shows."""
        budget = kw.pop("budget_ms", 15000)
        text = ""
        for _ in range(attempts):
            text = dom_text(self.dump_dom(url, budget_ms=budget, **kw))
            if all(e in text for e in expect):
                return text
            budget *= 2
        return text

    def screenshot(self, url: str, path: Path, window=(1400, 900), budget_ms: int = 15000,
                   timeout: float = 90.0) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._run([f"--screenshot={path}", url], window, budget_ms, timeout)
        return path


def dom_text(dom: str) -> str:
    dom = re.sub(r"<(script|style|noscript)\b[^>]*>.*?</\1>", " ", dom, flags=re.S | re.I)
    text = html.unescape(re.sub(r"<[^>]+>", " ", dom))
    return " ".join(text.split())


def png_size(path: Path) -> tuple[int, int]:
    data = Path(path).read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", data[16:24])
