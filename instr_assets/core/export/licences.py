"""The licence of each source, where its files say so: the licence file beside a source file, read for the
licence it names. Nothing is guessed beyond that; a source without one is 'not declared'."""
from __future__ import annotations

from pathlib import Path

# Looked for in the source file's folder, in this order: a separate data licence outranks the code licence.
LICENCE_FILES = ("DATA_LICENSE", "DATA_LICENCE", "LICENSE", "LICENCE", "LICENSE.md", "LICENSE.txt", "COPYING")

# Phrases that identify a licence text, most specific first (the Creative Commons variants share their prefix).
_PHRASES = (
    ("cc-by-nc-sa-4.0", ("Attribution-NonCommercial-ShareAlike 4.0",)),
    ("cc-by-nc-4.0", ("Attribution-NonCommercial 4.0",)),
    ("cc-by-sa-4.0", ("Attribution-ShareAlike 4.0",)),
    ("cc-by-4.0", ("Attribution 4.0 International",)),
    ("apache-2.0", ("Apache License", "Version 2.0")),
    ("mit", ("Permission is hereby granted, free of charge",)),
    ("cc0-1.0", ("CC0 1.0 Universal",)),
)

NOT_DECLARED = "not declared"


def licence_id(text: str) -> str | None:
    """The Hugging Face licence id a licence text names, or None when it names none of the known ones."""
    head = " ".join(text[:4000].split())
    for spdx, phrases in _PHRASES:
        if all(p in head for p in phrases):
            return spdx
    return None


def source_licence(file: str | None) -> dict:
    """{"licence": id | "other" | "not declared", "licence_file": name or None} for a source read from `file`
    (a path, or 'builtin:...' for the generated and bundled seed sources, which declare none)."""
    path = Path(file) if file and not file.startswith("builtin:") else None
    if path is not None:
        for name in LICENCE_FILES:
            candidate = path.parent / name
            if candidate.is_file():
                found = licence_id(candidate.read_text(encoding="utf-8", errors="replace"))
                return {"licence": found or "other", "licence_file": str(candidate)}
    return {"licence": NOT_DECLARED, "licence_file": None}


def dataset_licence(per_source: dict[str, dict]) -> str:
    """The card's one `license:` value: the sources' common licence, 'unknown' when some source declares none,
    'other' when they differ (the card's body then lists each source's)."""
    ids = {v["licence"] for v in per_source.values()}
    if not ids or NOT_DECLARED in ids:
        return "unknown"
    return ids.pop() if len(ids) == 1 else "other"
