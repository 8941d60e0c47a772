"""The project's source list: a YAML file, validated into typed entries with errors that name entry and field."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PACKAGE_DATA = Path(__file__).resolve().parents[2] / "data"
DEFAULT_SOURCES_FILE = PACKAGE_DATA / "sources.yaml"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.\-]+$")
    enabled: bool = True
    # Free-form labels carried onto every pair (e.g. domain) so later stages can use them.
    domain: str | None = None
    # An evaluation set (e.g. MT-bench questions): its pairs never become training data, and the cleaning
    # stage rejects training pairs whose prompts share a long n-gram with them ('contaminated').
    evaluation: bool = False


class _FileEntry(_Entry):
    path: str

    @field_validator("path")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("path must not be empty")
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
        TabularSource, SeedSource, GeneratedSource,
    ],
    Field(discriminator="format"),
]


class SourcesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
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
                field = ".".join(str(x) for x in loc[3:]) or ".".join(str(x) for x in loc[2:]) or "(entry)"
            lines.append(f"  entry #{idx} ({name or 'unnamed'}), field '{field}': {item['msg']}")
        else:
            lines.append(f"  {where or '(top level)'}: {item['msg']}")
    return "\n".join(lines)


def evaluation_sources(options_json: list[str]) -> tuple[str, ...]:
    """Names of the sources marked `evaluation: true`, from the entries' JSON as raw_sources stores them."""
    entries = [json.loads(o) for o in options_json]
    return tuple(e["name"] for e in entries if e.get("evaluation"))


def resolve_path(base: Path, p: str) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else (base / q).resolve()
