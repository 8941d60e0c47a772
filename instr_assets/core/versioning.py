"""Code versions and data versions, so that Dagster can tell which stages are stale.

A stage's code version hashes the source of the core modules it runs: its entry modules, every module they
import from this package (followed transitively), and the SQL files they name in `run_sql("...")`. Editing
that code shows the stage as stale in the UI. A data version hashes a stage's output content, so a stage
rebuilt with the same result keeps its version and its downstream stays fresh.
"""
from __future__ import annotations

import ast
import hashlib
import json
from functools import lru_cache
from pathlib import Path

import polars as pl

from .storage import SQL_DIR

CORE_DIR = Path(__file__).resolve().parent

# Entry modules (dotted paths under core/) and extra SQL files (run from defs/, so not found by the import walk)
# of each stage.
STAGE_CODE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "raw_sources": (("ingest.raw_sources",), ()),
    "unified_pairs": (("ingest.unify",), ()),
    "cleaned_pairs": (("clean.cleaning", "clean.semantic_dedup"), ()),
    "augmented_pairs": (("augment.augmentation",), ()),
    "stratified_splits": (("stratify.split", "stratify.model_labels"), ("split_stats",)),
    "tokenized_shards": (("train.tokenize_pack", "models.modeling"), ()),
    "finetuned_checkpoint": (("train.finetune",), ()),
    "eval_report": (("evaluate.evaluation", "models.modeling"), ()),
    "dataset_exports": (("export.exports",), ()),
}

# Data files (under instr_assets/data/) a stage reads as part of its method: written examples, not inputs.
STAGE_DATA: dict[str, tuple[str, ...]] = {"stratified_splits": ("label_prototypes.yaml",)}
DATA_DIR = CORE_DIR.parent / "data"

# Raise a stage's number to mark it stale for a change its core files do not show: a dependency upgrade, or an
# edit in defs/ that changes what the stage writes.
BUMP: dict[str, int] = dict.fromkeys(STAGE_CODE, 1)


def _module_file(dotted: str) -> Path | None:
    path = CORE_DIR.joinpath(*dotted.split("."))
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    return path / "__init__.py" if (path / "__init__.py").is_file() else None


def _imports_and_sql(module: str) -> tuple[set[str], set[str]]:
    """Core modules imported by relative imports (`from .x import`, `from ..pkg import mod`), as dotted paths
    under core/, and the SQL names in run_sql("...") calls."""
    path = _module_file(module)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module.split(".")[:-1]
    modules, sql = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            base = package[:len(package) - (node.level - 1)]
            if node.module:
                modules.add(".".join(base + node.module.split(".")))
            # `from . import x` / `from ..pkg import x`: x may be a module, or a name in the package.
            prefix = base + (node.module.split(".") if node.module else [])
            modules.update(".".join(prefix + [a.name]) for a in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "run_sql"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            sql.add(node.args[0].value)
    return {m for m in modules if m and _module_file(m) is not None}, sql


def code_files(modules: tuple[str, ...], sql: tuple[str, ...] = ()) -> list[Path]:
    """The core modules reachable from `modules` (dotted under core/) by relative imports, and the SQL they run."""
    seen: set[str] = set()
    sql_names = set(sql)
    todo = list(modules)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        deps, names = _imports_and_sql(m)
        sql_names |= names
        todo.extend(deps - seen)
    return sorted(_module_file(m) for m in seen) + sorted(SQL_DIR / f"{n}.sql" for n in sql_names)


@lru_cache(maxsize=None)
def stage_code_version(stage: str) -> str:
    """`<bump>-<hash>`: the hash of the stage's code files, names and bytes, so any edit shows as a new version."""
    modules, sql = STAGE_CODE[stage]
    h = hashlib.sha256()
    for path in code_files(modules, sql) + [DATA_DIR / name for name in STAGE_DATA.get(stage, ())]:
        name = path.relative_to(CORE_DIR).as_posix() if path.is_relative_to(CORE_DIR) else path.name
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return f"{BUMP[stage]}-{h.hexdigest()[:12]}"


def frame_version(*frames: pl.DataFrame) -> str:
    """A hash of the frames' schemas and row contents, independent of how they are chunked in memory.

    Row hashes come from polars, which keeps them stable within one polars version; an upgrade may give new
    versions (and so a one-off rebuild downstream), never a wrong "unchanged".
    """
    h = hashlib.sha256()
    for df in frames:
        h.update(repr(list(df.schema.items())).encode() + f"#{df.height}".encode())
        if df.height:
            h.update(df.hash_rows(seed=0).to_numpy().tobytes())
    return h.hexdigest()[:16]


def json_digest(obj, n: int = 16) -> str:
    """A hash of a JSON-able value (keys sorted, anything else as its str): cache keys, request ids, digests."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def file_sha(path: Path, n: int = 64) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n]


def files_version(paths: list[Path]) -> str:
    """A hash over several files' names and contents (a saved model's weight files, say)."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode() + b"\0" + file_sha(p).encode())
    return h.hexdigest()[:16]
