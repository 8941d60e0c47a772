"""Parquet per step, published as a whole, with one DuckDB catalog file that exposes every table as a view.

A step (one asset) writes all its tables into a fresh version folder, <root>/steps/<step>/<version_id>/, and
publishes them together by replacing one relative symlink, <root>/published/<step>, so a reader sees the
previous version of every table of the step or the new version of every table, never a mix, and a step that
fails (or whose checks fail) leaves the previous version live. The DuckDB file only holds views over
published/<step>/<table>.parquet, relative to the output root (readers set DuckDB's file_search_path to it),
so the view text does not change between versions, the folder can move, and the catalog can be rebuilt from
the published versions' manifests at any time (`python -m instr_assets.catalog rebuild`). Writing a view is
short and is serialised by a file lock, because DuckDB allows one writing process at a time and Dagster runs
steps in separate processes.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


def read_sql(name: str) -> str:
    path = SQL_DIR / f"{name}.sql"
    if not path.exists():
        raise FileNotFoundError(f"SQL file {path} is missing")
    return path.read_text(encoding="utf-8")


def run_sql(name: str, **frames: pl.DataFrame) -> pl.DataFrame:
    """Run sql/<name>.sql in an in-memory DuckDB with the given frames registered as tables."""
    con = duckdb.connect(":memory:")
    try:
        for table, frame in frames.items():
            con.register(table, frame.to_arrow())
        return pl.from_arrow(con.sql(read_sql(name)).to_arrow_table())
    finally:
        con.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temps(final: Path) -> list[Path]:
    """Remove the temp files and folders a killed writer left beside `final` (".<name>.<pid>.tmp|old", and
    ".<name>.<pid>.tmp.<what>" working folders named after a temp file, of a process that no longer exists);
    a live writer's temps are left alone. Returns what was removed."""
    removed = []
    for p in final.parent.glob(f".{final.name}.*"):
        pid, _, kind = p.name[len(final.name) + 2:].partition(".")
        if kind.split(".")[0] in ("tmp", "old") and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
            removed.append(p)
    return removed


@contextmanager
def new_file(final: Path):
    """Yield a temp path beside `final`; once the block succeeds it replaces `final` in one rename."""
    sweep_stale_temps(final)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        # Flush the data before the rename publishes it: after a power cut the name must not point at an
        # empty file.
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def replace_folder(src: Path, final: Path) -> None:
    """Put folder `src` in place of `final`. os.replace cannot overwrite a non-empty folder, so the old one is
    renamed aside, the new one renamed in, and only then is the old one deleted: a reader, or a writer killed
    at any point, finds the old folder or the new one whole (at worst, between the two renames, none), never
    a half-deleted one such as a resumable checkpoint without its weights."""
    old = final.with_name(f".{final.name}.{os.getpid()}.old")
    shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(final, old)
    except FileNotFoundError:
        old = None
    os.replace(src, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def new_folder(final: Path):
    """Yield an empty temp folder beside `final`; once the block succeeds it replaces `final` as a whole, so
    readers see the old folder or the new one, never half of one."""
    sweep_stale_temps(final)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    yield tmp
    replace_folder(tmp, final)


MANIFEST = "_step.json"  # in each version folder: the step's views, written last, so its presence marks a whole version


def _check_name(kind: str, name: str) -> str:
    """Steps and tables become folder, file and view names: plain names only."""
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name) or name in (".", ".."):
        raise ValueError(f"{kind} name {name!r} is not a plain file name (letters, digits, _ . -)")
    return name


def _fsync_tree(folder: Path) -> None:
    """Flush a version's files and folders before the switch publishes it: after a power cut the published
    link must not point at empty files."""
    for dirpath, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as fh:
                os.fsync(fh.fileno())
        fd = os.open(dirpath, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class StepVersion:
    """One version of a step: a folder of its tables (<table>.parquet) and any other files it wrote."""

    def __init__(self, store: "DataStore", step: str, version_id: str):
        self.store, self.step, self.version_id = store, _check_name("step", step), version_id
        self.folder = store.steps_dir / step / version_id
        self.catalog_warning: str | None = None  # set when the data is live but a view could not be written

    def table_path(self, table: str) -> Path:
        return self.folder / f"{_check_name('table', table)}.parquet"

    def read_table(self, table: str, columns: list[str] | None = None) -> pl.DataFrame:
        path = self.table_path(table)
        if not path.exists():
            raise FileNotFoundError(f"table {table!r} is not in version {self.version_id} of step {self.step!r} ({path})")
        return pl.read_parquet(path, columns=columns)


class Stage(StepVersion):
    """A step's version being written. Every table written here (or whose path was handed out) becomes a view
    when the step publishes; nothing is visible to readers before that."""

    def __init__(self, store: "DataStore", step: str, version_id: str):
        super().__init__(store, step, version_id)
        self.views: dict[str, str] = {}  # view name -> Parquet path or glob, relative to the output root
        self.abandoned: str | None = None
        self.published = False

    def table_path(self, table: str) -> Path:
        """Where to write table `table` (for writers that stream rows out instead of holding a frame)."""
        self.views[table] = f"published/{self.step}/{table}.parquet"
        return super().table_path(table)

    def write_table(self, table: str, df: pl.DataFrame) -> Path:
        path = self.table_path(table)
        # Row groups of modest size let a reader (cleaning's workers) take the file a slice at a time.
        df.write_parquet(path, row_group_size=20_000)
        return path

    def add_view(self, name: str, pattern: str) -> None:
        """A view over the Parquet files of this version matching `pattern` (a glob relative to its folder)."""
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ValueError(f"step {self.step!r}: view {name!r} must read files inside its version folder, not {pattern!r}")
        self.views[_check_name("view", name)] = f"published/{self.step}/{Path(pattern).as_posix()}"

    def abandon(self, reason: str) -> None:
        """Leave the block without publishing: the previous version stays live and this one is deleted."""
        self.abandoned = reason


@contextmanager
def file_lock(path: Path, timeout_s: float, what: str):
    """An exclusive flock on `path`, waited for up to `timeout_s`: the kernel drops it when its process dies, so a
    killed run never leaves it held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not lock {what} in {timeout_s}s")
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class DataStore:
    """Where stage outputs live: <root>/steps/<step>/<version>/ (every version kept a while),
    <root>/published/<step> (a relative link to the live version) and <root>/instr_assets.duckdb (views)."""

    keep_versions = 3  # newest published versions kept per step (the live one always): a run still reading one finds it

    def __init__(self, root: str | os.PathLike, catalog_wait_s: float = 10.0):
        self.root = Path(root).resolve()
        self.steps_dir = self.root / "steps"
        self.published_dir = self.root / "published"
        self.duckdb_path = self.root / "instr_assets.duckdb"
        # How long a step waits for another program holding the DuckDB file before it publishes anyway and warns.
        self.catalog_wait_s = catalog_wait_s

    # -- publication -----------------------------------------------------------------------------------
    @contextmanager
    def publishing(self, step: str):
        """Yield a Stage for a new version of `step`. When the block ends normally, every table of the step is
        published in one switch of its link (unless the stage was abandoned); when it raises, nothing changes."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        stage = Stage(self, step, f"{stamp}-{os.getpid()}-{secrets.token_hex(2)}")
        stage.folder.mkdir(parents=True)
        try:
            yield stage
            if stage.abandoned is None:
                self._publish(stage)
        finally:
            if not stage.published:
                shutil.rmtree(stage.folder, ignore_errors=True)

    def _publish(self, stage: Stage) -> None:
        missing = [t for t, rel in stage.views.items()
                   if rel == f"published/{stage.step}/{t}.parquet" and not stage.table_path(t).exists()]
        if missing:
            raise FileNotFoundError(f"step {stage.step!r}: table(s) {missing} were never written to {stage.folder}")
        (stage.folder / MANIFEST).write_text(json.dumps(
            {"step": stage.step, "version_id": stage.version_id, "views": stage.views, "published_at": time.time()},
            indent=2), encoding="utf-8")
        _fsync_tree(stage.folder)
        self.published_dir.mkdir(parents=True, exist_ok=True)
        link = self.published_dir / stage.step
        sweep_stale_temps(link)
        tmp = link.with_name(f".{stage.step}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(f"../steps/{stage.step}/{stage.version_id}", tmp)
        os.replace(tmp, link)  # the one switch: readers see the old version of every table or the new one
        stage.published = True
        stage.catalog_warning = self._ensure_views(stage.views)
        self._prune(stage.step)

    def published(self, step: str) -> StepVersion | None:
        """The live version of `step`, or None when it was never published."""
        link = self.published_dir / _check_name("step", step)
        try:
            target = os.readlink(link)
        except FileNotFoundError:
            return None
        return StepVersion(self, step, Path(target).name)

    def version(self, step: str, version_id: str) -> StepVersion:
        """A given version of `step`, which must still exist (published once, not pruned yet)."""
        v = StepVersion(self, step, version_id)
        if not (v.folder / MANIFEST).exists():
            raise FileNotFoundError(f"version {version_id} of step {step!r} is not in {v.folder.parent} "
                                    f"(never published, or pruned since)")
        return v

    def _published_manifests(self) -> list[dict]:
        """The live version of every step, oldest publication first."""
        out = []
        for link in sorted(self.published_dir.glob("[!.]*")) if self.published_dir.exists() else []:
            try:
                out.append(json.loads((link / MANIFEST).read_text(encoding="utf-8")))
            except FileNotFoundError:
                continue  # a link whose version was removed by hand: nothing of it can be read
        return sorted(out, key=lambda m: m["published_at"])

    def _prune(self, step: str) -> None:
        """Delete old versions of `step`: never the live one, nor the `keep_versions` newest, nor a version
        a live process is still writing; a dead writer's unfinished version goes."""
        live = self.published(step)
        versions = sorted(p for p in (self.steps_dir / step).iterdir() if p.is_dir())
        finished = [p for p in versions if (p / MANIFEST).exists()]
        for p in finished[:-self.keep_versions]:
            if live is None or p.name != live.version_id:
                shutil.rmtree(p, ignore_errors=True)
        for p in versions:
            pid = p.name.split("-")[1] if p.name.count("-") == 2 else ""
            if p not in finished and pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(p, ignore_errors=True)

    # -- tables by name (the live version) ----------------------------------------------------------------
    def table_path(self, table: str) -> Path:
        """The live Parquet file of `table` (inside its version folder, so a reader keeps one version even if
        the step publishes again meanwhile); a path that does not exist when no step has published it."""
        for m in reversed(self._published_manifests()):
            if m["views"].get(table) == f"published/{m['step']}/{table}.parquet":
                return StepVersion(self, m["step"], m["version_id"]).table_path(table)
        return self.published_dir / _check_name("table", table) / f"{table}.parquet"

    def read_table(self, table: str) -> pl.DataFrame:
        path = self.table_path(table)
        if not path.exists():
            raise FileNotFoundError(f"table {table!r} has not been materialized yet (no published step under "
                                    f"{self.published_dir} holds it)")
        return pl.read_parquet(path)

    def write_table(self, table: str, df: pl.DataFrame) -> Path:
        """Publish one table as a step of its own."""
        with self.publishing(table) as stage:
            path = stage.write_table(table, df)
        return path

    # -- the DuckDB catalog ----------------------------------------------------------------------------
    def _catalog_lock(self, timeout_s: float = 120.0):
        return file_lock(self.root / ".duckdb.lock", timeout_s, f"the DuckDB catalog {self.duckdb_path}")

    def _connect(self, path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
        """A connection that resolves the views' relative paths against the output root; waits up to `wait_s`
        while another program (a user's DuckDB shell, say) holds the file."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        con.execute(f"SET file_search_path = '{_sql_str(self.root)}'")
        return con

    def _ensure_views(self, views: dict[str, str]) -> str | None:
        """Create or repoint `views`; the whole catalog when the DuckDB file is missing. Returns a warning
        instead of raising: the data is published either way, and `rebuild_catalog` mends the views later."""
        try:
            with self._catalog_lock(timeout_s=max(self.catalog_wait_s, 1.0)):
                if not self.duckdb_path.exists():
                    problems = self._rebuild_locked()
                    return f"rebuilt the missing catalog {self.duckdb_path}, except: {problems}" if problems else None
                con = self._connect(self.duckdb_path, read_only=True, wait_s=self.catalog_wait_s)
                try:
                    existing = dict(con.execute("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
                finally:
                    con.close()
                stale = {n: p for n, p in views.items() if f"'{_sql_str(p)}'" not in existing.get(n, "")}
                if stale:
                    con = self._connect(self.duckdb_path, read_only=False, wait_s=self.catalog_wait_s)
                    try:
                        for name, rel in stale.items():
                            con.execute(_view_sql(name, rel))
                    finally:
                        con.close()
        except (duckdb.Error, TimeoutError) as e:
            return (f"the data is published, but the DuckDB views {sorted(views)} could not be written to "
                    f"{self.duckdb_path} ({type(e).__name__}: {str(e).splitlines()[0]}); run "
                    f"`python -m instr_assets.catalog rebuild --root {self.root}` once no other program holds it")
        return None

    def _rebuild_locked(self) -> list[str]:
        """Write a new catalog with a view for every table of every live step, then put it in place in one
        rename. Returns the views that could not be created, with why."""
        problems = []
        with new_file(self.duckdb_path) as tmp:
            con = self._connect(tmp, read_only=False, wait_s=0)
            try:
                for m in self._published_manifests():  # oldest first, so a table a later step took over is its
                    for name, rel in m["views"].items():
                        try:
                            con.execute(_view_sql(name, rel))
                        except duckdb.Error as e:
                            problems.append(f"{name} ({m['step']} {m['version_id']}): {str(e).splitlines()[0]}")
                con.execute("CHECKPOINT")
            finally:
                con.close()
        return problems

    def ensure_catalog(self) -> str | None:
        """Rebuild the DuckDB file when it is missing (a step that keeps its live version publishes nothing, so
        would never notice); returns a warning, as publishing does, instead of raising."""
        return self._ensure_views({})

    def rebuild_catalog(self) -> list[str]:
        """Recreate the DuckDB file from the published versions (after it was deleted, or the folder moved).
        Returns the views that could not be created; the others are in place either way."""
        with self._catalog_lock():
            return self._rebuild_locked()

    def query(self, sql: str) -> pl.DataFrame:
        if not self.duckdb_path.exists():
            raise FileNotFoundError(f"no DuckDB catalog at {self.duckdb_path}: run "
                                    f"`python -m instr_assets.catalog rebuild --root {self.root}`")
        con = self._connect(self.duckdb_path, read_only=True, wait_s=self.catalog_wait_s)
        try:
            return pl.from_arrow(con.sql(sql).to_arrow_table())
        finally:
            con.close()


def _view_sql(name: str, rel: str) -> str:
    return f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM read_parquet('{_sql_str(rel)}', union_by_name = true)"


def _sql_str(path: Path | str) -> str:
    return str(path).replace("'", "''")
