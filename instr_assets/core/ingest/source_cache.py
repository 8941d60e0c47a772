"""Per-source incremental ingest, and the snapshot of source files that the source sensor watches.

raw_sources and unified_pairs keep one Parquet file per source in a cache under the output folder, keyed by
what decides that source's output: its entry options, its file's path and content hash, and the stage's code
version (unify's key uses the source's raw rows instead of the file). A rebuild reads and converts only the
sources whose key is new, and concatenates the cached rest. The result is identical to reading everything,
in the same row order. Sources no longer listed drop out of the output and out of the cache.

This does per source what Dagster partitions would do, but keeps one unpartitioned asset: cleaning dedups
across sources, and augmenting, splitting and training need the whole set. A partitioned unified_pairs would
make every downstream stage depend on all partitions anyway, and each new source would be a partition to add
by hand before it could run.
"""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from . import source_config as sc
from .dataset_folder import folder_files, folder_sha, is_dataset_folder
from .raw_sources import RAW_SCHEMA, raw_row, read_source
from ..progress import Progress
from ..storage import new_file, sweep_stale_temps
from .unify import unify
from ..versioning import file_sha, frame_version, json_digest

_log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------ file snapshots
def source_file(entry, base_dir: Path) -> Path | None:
    """The file a source entry reads; None for generated sources. A path that cannot be resolved (a symlink
    loop) is returned as written: reading it reports why."""
    if entry.format == "builtin_generated":
        return None
    if entry.format == "builtin_seed":
        return (sc.PACKAGE_DATA / "seed_pairs.jsonl").resolve()
    try:
        return sc.resolve_path(base_dir, entry.path)
    except (RuntimeError, OSError):
        return Path(base_dir) / entry.path


def _regular_file_sha(path: Path, known: dict[str, str] | None = None) -> str | None:
    """The content hash of a readable regular file or datasets save_to_disk folder; None for anything else
    (absent, another folder, a FIFO, which would block a read, or unreadable): reading the source reports which."""
    try:
        if is_dataset_folder(path):
            return folder_sha(path)
        if not path.is_file():
            return None
        return (known or {}).get(str(path)) or file_sha(path)
    except OSError:
        return None


def watched_files(sources_file: str | Path) -> list[Path]:
    """The sources YAML and every file its enabled entries read. Raises SourceConfigError for a bad YAML."""
    yaml_path = Path(sources_file).resolve()
    entries, base = sc.load_sources(yaml_path)
    files = [yaml_path]
    for path in (source_file(e, base) for e in entries):
        # A save_to_disk folder is watched through the files that make it up.
        files += folder_files(path) if path is not None and is_dataset_folder(path) else [path] if path else []
    return list(dict.fromkeys(files))


def snapshot(paths: list[Path], previous: dict | None = None) -> dict[str, dict]:
    """{path: {mtime_ns, size, sha}} ({missing: True} for an absent file).

    A file whose mtime and size match `previous` keeps its recorded hash, so a tick that finds nothing new
    reads no file contents; any other file is hashed, so a touch without a change is not a change.
    """
    previous = previous or {}
    out = {}
    for p in paths:
        key = str(p)
        try:
            st = p.stat()
        except FileNotFoundError:
            out[key] = {"missing": True}
            continue
        except OSError as e:  # a symlink loop, a folder without permission: watched, unreadable
            out[key] = {"unreadable": e.strerror or str(e)}
            continue
        old = previous.get(key) or {}
        if old.get("mtime_ns") == st.st_mtime_ns and old.get("size") == st.st_size and old.get("sha"):
            out[key] = old
        else:
            out[key] = {"mtime_ns": st.st_mtime_ns, "size": st.st_size, "sha": _regular_file_sha(p)}
    return out


def snapshot_digest(snap: dict[str, dict]) -> str:
    """One hash of which files are watched and what they hold (mtimes left out: content is what counts)."""
    return json_digest(sorted((path, s.get("sha")) for path, s in snap.items()))


def changed_files(old: dict[str, dict], new: dict[str, dict]) -> dict[str, list[str]]:
    """Paths added, changed (content) and removed between two snapshots."""
    return {
        "added": sorted(p for p in new if p not in old),
        "changed": sorted(p for p in new if p in old and new[p].get("sha") != old[p].get("sha")),
        "removed": sorted(p for p in old if p not in new),
    }


# ------------------------------------------------------------------------------------------ unreadable sources
class SourceReadError(RuntimeError):
    """A source set to `on_error: stop` could not be read; the message names the source, its file and why."""


def _display_file(entry, base_dir: Path) -> str:
    path = source_file(entry, base_dir)
    return str(path) if path is not None else f"builtin:{entry.format}"


def unreadable_reason(entry, base_dir: Path, error: Exception) -> str:
    """What stopped a source, naming the source, its file and the error."""
    # A refused or missing path already says "source 'x': field 'path': <file> why"; a reader error does not.
    if isinstance(error, sc.SourceConfigError):
        return str(error)
    file = _display_file(entry, base_dir)
    return f"source {entry.name!r}: file {file} could not be read: {type(error).__name__}: {error}"


def unreadable_source(entry, base_dir: Path, reason: str) -> pl.DataFrame:
    """The one raw row that stands for a source that could not be read, with the reason as its parse_error;
    unify rejects it as 'source_unreadable', so the source is accounted for."""
    row = raw_row(entry, _display_file(entry, base_dir), sc.UNREADABLE_SOURCE_LOCATOR, None, "", reason)
    return pl.DataFrame([row], schema=RAW_SCHEMA)


# ------------------------------------------------------------------------------------------ per-source cache
@dataclass(frozen=True)
class SourceBuild:
    """What a cached stage did for one source."""

    source: str
    key: str
    reused: bool
    rows: int



class SourceCache:
    """<folder>/<stage>/<source>/<key>*.parquet: the last build of each source, one key per source."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _files(self, stage: str, source: str, key: str, parts: tuple[str, ...]) -> list[Path]:
        return [self.folder / stage / source / f"{key}.{part}.parquet" for part in parts]

    def _load(self, stage: str, source: str, key: str, parts: tuple[str, ...]) -> list[pl.DataFrame] | None:
        files = self._files(stage, source, key, parts)
        if not all(f.exists() for f in files):
            return None
        return [pl.read_parquet(f) for f in files]

    def _store(self, stage: str, source: str, key: str, frames: dict[str, pl.DataFrame]) -> None:
        for f, df in zip(self._files(stage, source, key, tuple(frames)), frames.values()):
            f.parent.mkdir(parents=True, exist_ok=True)
            with new_file(f) as tmp:
                df.write_parquet(tmp)

    def prune(self, stage: str, keep: dict[str, str]) -> None:
        """Keep only the current key of each current source: other keys are superseded, other sources removed."""
        root = self.folder / stage
        if not root.exists():
            return
        for src_dir in root.iterdir():
            if src_dir.name not in keep:
                shutil.rmtree(src_dir, ignore_errors=True)
                continue
            for f in src_dir.iterdir():
                if f.name.startswith("."):
                    # A temp file (".<final>.<pid>.tmp") may be another live writer's: only a dead writer's goes.
                    sweep_stale_temps(src_dir / f.name[1:].rsplit(".", 2)[0])
                elif not f.name.startswith(keep[src_dir.name] + "."):
                    f.unlink(missing_ok=True)

    # ----------------------------------------------------------------------------------- raw_sources
    def raw_key(self, entry, base_dir: Path, code_version: str, file_shas: dict[str, str] | None = None) -> str:
        path = source_file(entry, base_dir)
        sha = _regular_file_sha(path, file_shas) if path is not None else None
        # The path is part of the key because raw rows record it (and their raw_id hashes it).
        return json_digest({"options": entry.model_dump(mode="json"), "file": str(path) if path else None, "sha": sha,
                            "code": code_version}, 20)

    def read_sources(self, entries, base_dir: Path, code_version: str,
                     file_shas: dict[str, str] | None = None) -> tuple[pl.DataFrame, list[SourceBuild]]:
        """All raw records, in entry order, reading only sources whose key is not cached.

        A source that cannot be read at all (missing, a folder, refused, a corrupt file, a reader error) becomes
        one rejected-source row and the others are read as usual; with `on_error: stop` it raises
        SourceReadError instead.
        """
        frames, builds, keep = [], [], {}
        progress = Progress(_log, "raw_sources", len(entries), "sources read")
        for entry in entries:
            key = self.raw_key(entry, base_dir, code_version, file_shas)
            cached = self._load("raw", entry.name, key, ("raw",))
            if cached is not None:
                df, reused = cached[0], True
            else:
                reused = False
                try:
                    df = read_source(entry, base_dir)
                except Exception as e:  # noqa: BLE001 - whatever stops one source must not stop the others
                    reason = unreadable_reason(entry, base_dir, e)
                    if getattr(entry, "on_error", "reject") == "stop":
                        raise SourceReadError(reason) from e
                    df = unreadable_source(entry, base_dir, reason)
                else:
                    # Cache only what the key describes: a file that changed while it was read is read again
                    # next time. An unreadable source is not cached: it is tried again on every build.
                    if self.raw_key(entry, base_dir, code_version) == key:
                        self._store("raw", entry.name, key, {"raw": df})
            frames.append(df)
            builds.append(SourceBuild(entry.name, key, reused, df.height))
            keep[entry.name] = key
            progress.advance()
        self.prune("raw", keep)
        raw = pl.concat(frames) if frames else pl.DataFrame(schema=RAW_SCHEMA)
        return raw, builds

    # ----------------------------------------------------------------------------------- unified_pairs
    def unify_sources(self, raw: pl.DataFrame, options_by_source: dict[str, dict],
                      code_version: str) -> tuple[pl.DataFrame, pl.DataFrame, list[SourceBuild]]:
        """unify(raw, options) source by source, converting only sources whose raw rows or options are new."""
        sources = sorted(set(options_by_source) | set(raw["source"].unique().to_list()))
        parts = {s: raw.filter(pl.col("source") == s) for s in sources}
        keys = {s: json_digest({"raw": frame_version(parts[s]), "options": options_by_source.get(s, {}),
                                "code": code_version}, 20) for s in sources}
        done = {s: self._load("unify", s, keys[s], ("unified", "rejected")) for s in sources}
        missed = [s for s in sources if done[s] is None]
        if missed or not sources:
            # One unify call for all missed sources: its SQL costs the same for one source as for many.
            unified, rejected = unify(pl.concat([parts[s] for s in missed]) if missed else raw,
                                      {s: options_by_source.get(s, {}) for s in missed})
            if not sources:
                self.prune("unify", {})
                return unified, rejected, []
            for s in missed:
                done[s] = [unified.filter(pl.col("source") == s), rejected.filter(pl.col("source") == s)]
                self._store("unify", s, keys[s], {"unified": done[s][0], "rejected": done[s][1]})
        self.prune("unify", keys)
        builds = [SourceBuild(s, keys[s], s not in missed, parts[s].height) for s in sources]
        # unify's SQL orders by source first, so per-source results concatenated in source order (names are
        # ASCII, so Python's order is DuckDB's) give the same frames as one call over everything.
        return (pl.concat([done[s][0] for s in sources]), pl.concat([done[s][1] for s in sources]), builds)
