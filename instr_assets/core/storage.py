"""Parquet per stage, with one DuckDB catalog file that exposes every stage as a view.

Each stage writes its own Parquet file atomically (temp file + rename), so a reader never sees half a file.
The DuckDB file only holds views over those files; writing a view is short and is serialised by a file
lock, because DuckDB allows one writing process at a time and Dagster runs steps in separate processes.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
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


class DataStore:
    """Where stage outputs live: <root>/parquet/<table>.parquet and <root>/instr_assets.duckdb."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()
        self.parquet_dir = self.root / "parquet"
        self.duckdb_path = self.root / "instr_assets.duckdb"

    def path(self, *parts: str) -> Path:
        p = self.root.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def table_path(self, table: str) -> Path:
        return self.parquet_dir / f"{table}.parquet"

    @contextmanager
    def writing_table(self, table: str):
        """Yield a temp path to write a table's Parquet file to; once the block succeeds the file replaces the
        table's and its view is registered. For writers that stream their rows out instead of holding a frame."""
        self.parquet_dir.mkdir(parents=True, exist_ok=True)
        final = self.table_path(table)
        with new_file(final) as tmp:
            yield tmp
        self.register_view(table, f"SELECT * FROM read_parquet('{_sql_str(final)}')")

    def write_table(self, table: str, df: pl.DataFrame) -> Path:
        with self.writing_table(table) as tmp:
            # Row groups of modest size let a reader (cleaning's workers) take the file a slice at a time.
            df.write_parquet(tmp, row_group_size=20_000)
        return self.table_path(table)

    def write_glob_view(self, table: str, pattern: Path) -> None:
        self.register_view(table, f"SELECT * FROM read_parquet('{_sql_str(pattern)}', union_by_name=true)")

    def read_table(self, table: str) -> pl.DataFrame:
        path = self.table_path(table)
        if not path.exists():
            raise FileNotFoundError(f"table {table!r} has not been materialized yet ({path} is missing)")
        return pl.read_parquet(path)

    def write_json(self, rel: str, obj) -> Path:
        final = self.path(rel)
        with new_file(final) as tmp:
            tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        return final

    @contextmanager
    def _catalog_lock(self, timeout_s: float = 120.0):
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".duckdb.lock", "w") as fh:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"could not lock the DuckDB catalog {self.duckdb_path} in {timeout_s}s")
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def register_view(self, table: str, select_sql: str) -> None:
        with self._catalog_lock():
            deadline = time.monotonic() + 60
            while True:
                try:
                    con = duckdb.connect(str(self.duckdb_path))
                    break
                except duckdb.IOException:
                    # Another program (a user's DuckDB shell, say) holds the file; wait for it, then say so.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            try:
                con.execute(f'CREATE OR REPLACE VIEW "{table}" AS {select_sql}')
            finally:
                con.close()

    def query(self, sql: str) -> pl.DataFrame:
        con = duckdb.connect(str(self.duckdb_path), read_only=True)
        try:
            return pl.from_arrow(con.sql(sql).to_arrow_table())
        finally:
            con.close()


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")
