"""The project's source list: a YAML file, validated into typed entries with errors that name entry and field."""
from __future__ import annotations

import codecs
import json
import os
import stat
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

PACKAGE_DATA = Path(__file__).resolve().parents[2] / "data"
DEFAULT_SOURCES_FILE = PACKAGE_DATA / "sources.yaml"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The name is also a folder name in the per-source cache: no slash, no leading dot (so not '.' or '..').
    name: str = Field(pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$", max_length=120)
    enabled: bool = True
    # Free-form labels carried onto every pair (e.g. domain) so later stages can use them.
    domain: str | None = None
    # An evaluation set (e.g. MT-bench questions): its pairs never become training data, and the cleaning
    # stage rejects training pairs whose prompts share a long n-gram with them ('contaminated').
    evaluation: bool = False


class _FileEntry(_Entry):
    path: str = Field(description="The file (or datasets save_to_disk folder) to read: relative to the sources "
                                  "file's folder, or under a data root")
    encoding: str | None = Field(default=None, description="Declared text encoding (e.g. utf-16); none: UTF-8")
    records_key: str | None = Field(default=None, description="For a wrapped JSON document ({\"data\": [...]}): "
                                                              "the key of its list of records")
    max_depth: int = Field(default=64, ge=1, le=10_000, description="Deepest JSON nesting a record may have; a "
                                                                    "deeper record is rejected, not read")
    # An unreadable source becomes one rejected-source row (unify rejects it as 'source_unreadable') and the
    # other sources are read. 'reject': the blocking raw_sources_readable check fails, so nothing is published
    # and the run stops, naming every unreadable source; 'warn': that check only warns and the run goes on with
    # the other sources; 'stop': the step fails at once on this source, naming it and its file.
    on_error: Literal["reject", "warn", "stop"] = Field(
        default="reject", description="What an unreadable source does: 'reject' (a rejected source; the "
                                      "raw_sources_readable check fails and blocks), 'warn' (a rejected source; the "
                                      "check warns, the run goes on with the other sources) or 'stop' (fail at once)")
    splits: list[str] | None = Field(default=None, description="For a datasets save_to_disk folder holding a "
                                                               "DatasetDict: the splits to read (default: all)")
    # Where the sources file allows this entry's file to be; set by load_sources, not part of the options.
    _allowed_roots: tuple[Path, ...] = PrivateAttr(default=())

    @field_validator("path")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("path must not be empty")
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"unknown text encoding {v!r}") from None
        return v


class AlpacaSource(_FileEntry):
    format: Literal["alpaca"]


class ShareGPTSource(_FileEntry):
    format: Literal["sharegpt"]
    conversations_key: str = "conversations"


class MessagesSource(_FileEntry):
    format: Literal["messages"]
    messages_key: str = "messages"


class SquadSource(_FileEntry):
    format: Literal["squad"]


class SelfInstructSource(_FileEntry):
    format: Literal["self_instruct"]


class KeyedTurnsSource(_FileEntry):
    """A list of turns, each one object holding a user message and its answer under two keys (Firefly's
    `conversation: [{"human": ..., "assistant": ...}]`); without user_key/assistant_key the pair of keys is
    recognised per record among the usual ones."""

    format: Literal["keyed_turns"]
    conversation_key: str = "conversation"
    user_key: str | None = None
    assistant_key: str | None = None

    @model_validator(mode="after")
    def _both_or_neither(self):
        if (self.user_key is None) != (self.assistant_key is None):
            raise ValueError("set user_key and assistant_key together, or neither")
        return self


class OpenAssistantSource(_FileEntry):
    """OpenAssistant message trees: nested trees (`prompt` with `replies`) or flat messages with
    `message_tree_id`/`parent_id`; every root-to-leaf path is one conversation."""

    format: Literal["oasst"]
    # A nested tree is two JSON levels (message, replies) per message: long conversations need more than 64.
    max_depth: int = Field(default=256, ge=1, le=10_000, description="Deepest JSON nesting a record may have; a "
                                                                     "deeper record is rejected, not read")
    langs: list[str] | None = Field(default=None, description="Keep only conversations whose messages are all in "
                                                              "these languages (their `lang` field); none: all")
    branches: Literal["all", "best"] = Field(default="all", description="'all': every root-to-leaf path; 'best': "
                                                                        "only paths through best-ranked replies")


class NaturalInstructionsSource(_FileEntry):
    """A Natural Instructions task file: its Definition is the instruction of every instance."""

    format: Literal["natural_instructions"]
    outputs: Literal["first", "each"] = Field(default="first", description="'first': one pair per instance, its "
                                                                           "first output; 'each': one per output")


class AutoSource(_FileEntry):
    """A file whose record format is told from the file itself (format_detection.py says how)."""

    format: Literal["auto"]


class ColumnMap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    instruction: str
    response: str
    input: str | None = None
    system: str | None = None
    lang: str | None = None
    domain: str | None = None


class TabularSource(_FileEntry):
    """Generic JSON/JSONL/CSV/Parquet with a column map onto instruction/input/response."""

    format: Literal["tabular"]
    columns: ColumnMap


class SeedSource(_Entry):
    """The hand-written seed set that ships with the project."""

    format: Literal["builtin_seed"]


class GeneratedSource(_Entry):
    """Rule/template generator of verifiable tasks whose answers are computed."""

    format: Literal["builtin_generated"]
    per_kind_per_lang: int = Field(default=20, ge=1, le=100_000)
    seed: int = 7
    langs: list[Literal["en", "zh"]] = ["en", "zh"]


SourceEntry = Annotated[
    Union[
        AlpacaSource, ShareGPTSource, MessagesSource, SquadSource, SelfInstructSource,
        TabularSource, KeyedTurnsSource, OpenAssistantSource, NaturalInstructionsSource, AutoSource,
        SeedSource, GeneratedSource,
    ],
    Field(discriminator="format"),
]


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data_roots: list[str] = Field(default=[], description="Folders besides this file's own where source files may "
                                                          "be (relative to this file's folder, or absolute)")
    sources: list[SourceEntry]

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, v: list) -> list:
        seen: set[str] = set()
        for e in v:
            if e.name in seen:
                raise ValueError(f"source name {e.name!r} is used twice")
            seen.add(e.name)
        return v


class SourceConfigError(ValueError):
    pass


def load_sources(path: str | Path) -> tuple[list, Path]:
    """Parse and validate a sources YAML; returns (enabled entries, base dir for relative paths)."""
    path = Path(path)
    if not path.exists():
        raise SourceConfigError(f"sources file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SourceConfigError(f"{path}: not valid YAML: {e}") from e
    try:
        parsed = SourcesFile.model_validate(raw)
    except ValidationError as e:
        raise SourceConfigError(_explain(path, raw, e)) from None
    roots = _allowed_roots(path, parsed.data_roots)
    for i, entry in enumerate(parsed.sources):
        if isinstance(entry, _FileEntry):
            entry._allowed_roots = roots
            if entry.enabled:
                _check_inside_roots(entry, path.parent, f"{path}: entry #{i} ({entry.name}), field 'path'")
    return [s for s in parsed.sources if s.enabled], path.parent


def _explain(path: Path, raw, err: ValidationError) -> str:
    lines = [f"{path}: invalid sources file"]
    for item in err.errors():
        loc = list(item["loc"])
        where = ".".join(str(x) for x in loc)
        if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
            idx = loc[1]
            name = None
            try:
                name = raw["sources"][idx].get("name")
            except (TypeError, KeyError, IndexError, AttributeError):
                pass
            # loc[2] is the discriminator tag (format) for union members; the field follows it.
            if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
                field = "format"
            else:
                # loc[2] is the format's tag; an error of the whole entry (a rule across fields) has nothing after.
                field = ".".join(str(x) for x in loc[3:]) or "(entry)"
            lines.append(f"  entry #{idx} ({name or 'unnamed'}), field '{field}': {item['msg']}")
        else:
            lines.append(f"  {where or '(top level)'}: {item['msg']}")
    return "\n".join(lines)


def evaluation_sources(options_json: list[str]) -> tuple[str, ...]:
    """Names of the sources marked `evaluation: true`, from the entries' JSON as raw_sources stores them."""
    entries = [json.loads(o) for o in options_json]
    return tuple(e["name"] for e in entries if e.get("evaluation"))


def resolve_path(base: Path, p: str) -> Path:
    """`p` made absolute against `base`, with '..' and symlinks resolved (so that what is checked is what is read).
    A symlink loop raises RuntimeError or OSError."""
    return (base / Path(p).expanduser()).resolve()


# ------------------------------------------------------------------------------------------ allowed roots
# The locator of the one raw row that stands for a source that could not be read at all.
UNREADABLE_SOURCE_LOCATOR = "(whole source)"
DATA_ROOTS_ENV = "INSTR_ASSETS_DATA_ROOTS"  # more data roots, separated by os.pathsep, for every sources file
# Kernel and device trees: their "files" are process state or devices, never data, whatever the roots say.
SPECIAL_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))


def _allowed_roots(sources_file: Path, data_roots: list[str]) -> tuple[Path, ...]:
    """The sources file's folder, the bundled data, the file's `data_roots` and the environment's, resolved."""
    folder = sources_file.resolve().parent
    declared = [(f"{sources_file}: field 'data_roots[{i}]'", resolve_path(folder, r)) for i, r in enumerate(data_roots)]
    env = os.environ.get(DATA_ROOTS_ENV, "")
    declared += [(f"environment variable {DATA_ROOTS_ENV}", Path(r).expanduser().resolve())
                 for r in env.split(os.pathsep) if r.strip()]
    for where, root in declared:
        if not root.is_dir():
            raise SourceConfigError(f"{where}: data root {root} is not an existing folder")
    return tuple(dict.fromkeys([folder, PACKAGE_DATA.resolve()] + [root for _, root in declared]))


def _roots_of(entry, base: Path) -> tuple[Path, ...]:
    # An entry built without load_sources (a test, a script) may read under its base folder and the bundled data.
    return entry._allowed_roots or (Path(base).resolve(), PACKAGE_DATA.resolve())


def _check_inside_roots(entry, base: Path, where: str) -> Path | None:
    """The entry's resolved file, refused (SourceConfigError naming `where`) outside the allowed roots or inside
    /proc, /sys or /dev. None when the path cannot be resolved (a symlink loop): reading it reports that."""
    try:
        path = resolve_path(base, entry.path)
    except (RuntimeError, OSError):
        return None
    roots = _roots_of(entry, base)
    if any(path.is_relative_to(t) for t in SPECIAL_TREES):
        raise SourceConfigError(f"{where}: {entry.path!r} is {path}, a kernel or device file, not data")
    if not any(path.is_relative_to(r) for r in roots):
        raise SourceConfigError(
            f"{where}: {entry.path!r} resolves to {path}, outside the allowed roots ({', '.join(map(str, roots))}); "
            f"add its folder to 'data_roots' in the sources file or to {DATA_ROOTS_ENV}")
    return path


def source_path(entry, base: Path) -> Path:
    """The regular file (or datasets save_to_disk folder) a file-based entry reads, checked as it is now (the
    file may have changed since the sources file was loaded). Raises SourceConfigError naming the source, the
    field and why."""
    where = f"source {entry.name!r}: field 'path'"
    path = _check_inside_roots(entry, base, where)
    if path is None:
        raise SourceConfigError(f"{where}: {Path(base) / entry.path} cannot be resolved (a symlink loop?)")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise SourceConfigError(f"{where}: file {path} does not exist") from None
    except OSError as e:
        raise SourceConfigError(f"{where}: {path}: {e.strerror or e}") from None
    from .dataset_folder import is_dataset_folder  # here: its readers import this module's error class

    if stat.S_ISDIR(mode) and is_dataset_folder(path):
        return path  # a datasets save_to_disk folder, read as its Arrow files
    if not stat.S_ISREG(mode):
        kind = "folder" if stat.S_ISDIR(mode) else "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(
            mode) else "device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "special file"
        raise SourceConfigError(f"{where}: {path} is a {kind}, not a regular file")
    return path
