"""Postgres run and event storage, set up the way docs/scaling.md tells users to, on a throwaway local server.

A PostgreSQL cluster (the Debian `postgresql` package) is created in a temporary folder and listens on 127.0.0.1
only. DAGSTER_HOME gets this project's dagster.yaml with its `storage:` block replaced by the one printed in
docs/scaling.md, so the documented block is what runs. The five data stages are materialized on that instance,
and the run, its materializations and its check results are read back from Postgres, both with SQL and through
a second instance built from the same dagster.yaml, as another machine would build it.
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from instr_assets_tests.webserver_harness import free_port, skip_or_fail

REPO_ROOT = Path(__file__).resolve().parents[1]
SCALING_DOC = REPO_ROOT / "docs" / "scaling.md"
INSTANCE_YAML = REPO_ROOT / "dagster.yaml"
DATA_STAGES = ["raw_sources", "unified_pairs", "cleaned_pairs", "augmented_pairs", "stratified_splits"]
SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")


def find_server_bin() -> Path | None:
    """The folder holding initdb, pg_ctl and postgres: Debian keeps them off PATH, in /usr/lib/postgresql/<v>/bin."""
    def version(d: str) -> int:
        m = re.search(r"/postgresql/(\d+)/bin$", d)
        return int(m.group(1)) if m else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for d in candidates:
        if all(os.access(Path(d) / b, os.X_OK) for b in SERVER_BINARIES):
            return Path(d)
    return None


def doc_storage_block() -> dict:
    """The `storage:` YAML block of the Postgres section of docs/scaling.md, parsed."""
    text = SCALING_DOC.read_text(encoding="utf-8")
    section = text.split("## Run and event storage: Postgres", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.S)
    storage = [yaml.safe_load(b) for b in blocks if b.lstrip().startswith("storage:")]
    assert len(storage) == 1, "docs/scaling.md should show exactly one `storage:` block for Postgres"
    return storage[0]["storage"]


class LocalPostgres:
    """A throwaway cluster: trust on its Unix socket (for setup), scram-sha-256 passwords over TCP on 127.0.0.1."""

    SUPERUSER = "postgres"

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.port = free_port()
        # initdb and postgres refuse to run as root: as root, run them as an unprivileged account instead.
        self.uid = self.gid = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    entry = pwd.getpwnam(name)
                except KeyError:
                    continue
                self.uid, self.gid = entry.pw_uid, entry.pw_gid
                break
            else:
                skip_or_fail("running as root, and no unprivileged 'postgres' or 'nobody' account to run the server")
        # Not pytest's tmp_path: its parent (/tmp/pytest-of-root) is 0700, so another account could not enter it.
        self.root = Path(tempfile.mkdtemp(prefix="instr_assets_pg_"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.sockets.mkdir()
        if self.uid is not None:
            for p in (self.root, self.sockets):
                os.chown(p, self.uid, self.gid)
        self.log = self.root / "server.log"
        self.started = False

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
        extra = {} if self.uid is None else {"user": self.uid, "group": self.gid, "extra_groups": []}
        proc = subprocess.run(args, cwd=self.root, env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, **extra)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}\n"
                               f"{self.log_tail()}")
        return proc

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", self.SUPERUSER, "-E", "UTF8",
                  "--no-locale", "--auth-local=trust", "--auth-host=scram-sha-256")
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as f:
            f.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                    f"unix_socket_directories = '{self.sockets}'\n"
                    # A throwaway cluster: durability only costs time here.
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        self.started = True  # from here on, stop() has something to try
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "start", timeout=90)

    def admin_connect(self):
        import psycopg2

        conn = psycopg2.connect(host=str(self.sockets), port=self.port, user=self.SUPERUSER, dbname="postgres")
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        return conn

    def create_user_and_db(self, user: str, password: str, db_name: str) -> None:
        from psycopg2 import sql

        conn = self.admin_connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(user)), [password])
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db_name),
                                                                          sql.Identifier(user)))
        finally:
            conn.close()

    def stop(self) -> None:
        if self.started:
            try:
                self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "30",
                          "stop", timeout=45)
            except (RuntimeError, subprocess.TimeoutExpired):
                # Last resort: the postmaster's pid is the first line of postmaster.pid.
                try:
                    pid = int((self.data / "postmaster.pid").read_text().split()[0])
                    os.kill(pid, signal.SIGKILL)
                    time.sleep(1)
                except (OSError, ValueError, IndexError):
                    pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres_server():
    # Checked before a server is started for nothing.
    for module in ("dagster_postgres", "psycopg2"):
        try:
            __import__(module)
        except ImportError:
            skip_or_fail(f"{module} is not installed (dagster-postgres is in the `test` extra of pyproject.toml)")
    bin_dir = find_server_bin()
    if bin_dir is None:
        skip_or_fail("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; "
                     "on Debian: apt-get install postgresql")
    server = LocalPostgres(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(240)
def test_postgres_storage_as_documented(postgres_server, tmp_path, monkeypatch):
    import psycopg2
    from dagster._core.events import DagsterEventType
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    from instr_assets.definitions import ALL_ASSETS
    from instr_assets.defs.resources import DataStoreResource

    # The documented block, with only the placeholder host and port pointed at the local server.
    storage = doc_storage_block()
    db = storage["postgres"]["postgres_db"]
    assert set(db) >= {"hostname", "username", "password", "db_name", "port"}
    password_env = db["password"]["env"]  # the doc keeps the password out of the file
    db["hostname"], db["port"] = "127.0.0.1", postgres_server.port
    password = secrets.token_hex(12)
    monkeypatch.setenv(password_env, password)
    postgres_server.create_user_and_db(db["username"], password, db["db_name"])

    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load(INSTANCE_YAML.read_text(encoding="utf-8"))
    config["storage"] = storage
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    # The scripts run with cwd = DAGSTER_HOME; the relative .dagster/ folders must land here, not in the repo.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.chdir(home)

    t0 = time.monotonic()
    instance = dg.DagsterInstance.get()
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        result = dg.materialize(
            [a for a in ALL_ASSETS if a.key.to_user_string() in DATA_STAGES], instance=instance,
            resources={"data_store": DataStoreResource(root=str(tmp_path / "out"))},
        )
    finally:
        instance.dispose()
    run_seconds = time.monotonic() - t0
    assert result.success
    run_id = result.run_id
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)

    # The rows are in Postgres: read them with SQL, over TCP with the documented user and password.
    conn = psycopg2.connect(host="127.0.0.1", port=postgres_server.port, user=db["username"], password=password,
                            dbname=db["db_name"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", [run_id])
            assert cur.fetchall() == [("SUCCESS",)]
            cur.execute("SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s GROUP BY 1", [run_id])
            counts = dict(cur.fetchall())
            assert counts["ASSET_MATERIALIZATION"] == len(DATA_STAGES)
            assert counts["ASSET_CHECK_EVALUATION"] == len(evaluations)
            cur.execute("SELECT check_name, execution_status FROM asset_check_executions WHERE run_id = %s", [run_id])
            executions = cur.fetchall()
            assert sorted(executions) == sorted((e.check_name, "SUCCEEDED") for e in evaluations)
    finally:
        conn.close()
    # No SQLite storage was created on the side.
    assert not list(home.rglob("*.db"))

    # Another instance from the same dagster.yaml (another machine, say) sees the run, its assets and checks.
    other = dg.DagsterInstance.from_config(str(home))
    try:
        assert other.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        for stage in DATA_STAGES:
            latest = other.get_latest_materialization_event(dg.AssetKey(stage))
            assert latest is not None and latest.run_id == run_id
        records = other.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
        assert len(records) == len(evaluations)
        assert all(r.event_log_entry.dagster_event.event_specific_data.passed for r in records)
    finally:
        other.dispose()
    print(f"postgres {postgres_server.bin_dir.parent.name}: {len(DATA_STAGES)} stages, {len(evaluations)} checks, "
          f"instance + run {run_seconds:.1f}s")
