"""Folders written by Hugging Face `datasets`' `save_to_disk`, read with pyarrow alone (no `datasets` at run time).

A Dataset's folder holds `state.json` (which names its Arrow files, in order), `dataset_info.json` and
`data-*.arrow` files in Arrow's IPC stream format. A DatasetDict's folder holds `dataset_dict.json` (its split
names) and one such folder per split. Each row is one record, located as "row 3" or, in a DatasetDict,
"train row 3".
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from .json_reader import RawRecord
from .table_reader import row_record
from ..versioning import file_sha, json_digest

STATE_FILE = "state.json"
DICT_FILE = "dataset_dict.json"


class DatasetFolderError(ValueError):
    """A folder that is not a readable save_to_disk folder, or a split that it does not have."""


def is_dataset_folder(path: Path) -> bool:
    return path.is_dir() and ((path / STATE_FILE).is_file() or (path / DICT_FILE).is_file())


def _json_file(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetFolderError(f"{path} cannot be read as JSON: {e}") from None
    if not isinstance(value, dict):
        raise DatasetFolderError(f"{path} holds a JSON {type(value).__name__}, expected an object")
    return value


def split_folders(folder: Path, splits: list[str] | None = None) -> list[tuple[str | None, Path]]:
    """(split name, its folder) for a DatasetDict's chosen splits (all when `splits` is None), or (None, folder)
    for a single Dataset."""
    if (folder / STATE_FILE).is_file():
        if splits:
            raise DatasetFolderError(f"{folder} is a single Dataset, without splits; remove 'splits' "
                                     f"(asked for {', '.join(splits)})")
        return [(None, folder)]
    names = _json_file(folder / DICT_FILE).get("splits")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetFolderError(f"{folder / DICT_FILE} has no 'splits' list of names")
    missing = [s for s in splits or () if s not in names]
    if missing:
        raise DatasetFolderError(f"{folder} has no split {', '.join(map(repr, missing))} (its splits: "
                                 f"{', '.join(names)})")
    return [(name, folder / name) for name in names if splits is None or name in splits]


def arrow_files(split_folder: Path) -> list[Path]:
    """The split's Arrow files in the order `state.json` lists them."""
    state = _json_file(split_folder / STATE_FILE)
    entries = state.get("_data_files")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("filename"), str)
                                                for e in entries):
        raise DatasetFolderError(f"{split_folder / STATE_FILE} has no '_data_files' list of {{'filename': ...}}")
    files = [split_folder / e["filename"] for e in entries]
    for f in files:
        if f.resolve().parent != split_folder.resolve() or not f.is_file():
            raise DatasetFolderError(f"{split_folder / STATE_FILE} names {f.name!r}, which is not a file in "
                                     f"{split_folder}")
    return files


def dataset_records(folder: Path, splits: list[str] | None = None) -> Iterator[RawRecord]:
    """Every row of the chosen splits, split by split, in file and row order."""
    for split, split_folder in split_folders(folder, splits):
        prefix = f"{split} row" if split is not None else "row"
        i = 0
        for f in arrow_files(split_folder):
            try:
                reader = pa.ipc.open_stream(pa.memory_map(str(f)))
                for batch in reader:
                    for record in batch.to_pylist():
                        yield row_record(f"{prefix} {i}", record)
                        i += 1
            except pa.ArrowInvalid as e:
                raise DatasetFolderError(f"{f} is not an Arrow IPC stream as save_to_disk writes: {e}") from None


def folder_files(folder: Path) -> list[Path]:
    """Every file that decides what the folder holds: the JSON descriptions and the Arrow files of every split."""
    found = [folder / DICT_FILE] if (folder / DICT_FILE).is_file() else []
    subfolders = [folder] if (folder / STATE_FILE).is_file() else [
        p for p in sorted(folder.iterdir()) if (p / STATE_FILE).is_file()]
    for sub in subfolders:
        found += sorted(p for p in sub.iterdir() if p.is_file() and (p.suffix == ".arrow" or p.suffix == ".json"))
    return found


def folder_sha(folder: Path) -> str:
    """One hash of the folder's content: which files it has and what each holds."""
    return json_digest([(str(p.relative_to(folder)), file_sha(p)) for p in folder_files(folder)], 64)
