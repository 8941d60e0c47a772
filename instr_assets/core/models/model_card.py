"""The model card (README.md with Hugging Face YAML front matter) saved with a fine-tuned checkpoint."""
from __future__ import annotations

from .base_models import BaseModel

MODEL_CARD = "README.md"
ADAPTER_DIR = "adapter"  # LoRA adapters on their own (peft save_pretrained), beside the merged model

_DATA_NOTE = ("Built locally by instr-assets from the configured instruction sources (English and Chinese): unified, "
              "cleaned (deduplication, PII and quality filters, decontamination), augmented and split by stratum. It "
              "is not a published dataset, so the front matter lists none.")
_INTENDED = ("A small instruction-following model for experiments with this pipeline: comparing data, cleaning and "
             "training settings, and as a starting point for further fine-tuning. Not for production use.")
_LIMITS = ("Trained on a small instruction set for few steps; it inherits the base model's limits and biases and can "
           "state wrong facts confidently. Quality in Chinese is lower than in English. Check outputs before use.")


def front_matter(base: BaseModel, lora: bool) -> dict:
    """The card's metadata, in the fields the Hugging Face Hub reads."""
    meta = {"library_name": "transformers", "license": base.licence, "language": ["en", "zh"],
            "pipeline_tag": "text-generation", "tags": ["instr-assets", "sft"] + (["lora", "peft"] if lora else [])}
    if base.card_id:
        meta = {"base_model": base.card_id, **meta}
    return meta


def _table(rows: list[list], header: list[str]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]


def render_model_card(base: BaseModel, template_note: str, settings: dict, result: dict, data_counts: dict,
                      lora: dict | None, shards_version: str | None = None) -> str:
    """The card as Markdown.

    settings: the TrainSettings fields; result: run_finetune's result (history, best_step, best_val_loss, ...);
    data_counts: split -> {"samples", "sequences", "tokens"}; lora: {"r", "alpha"} or None for full fine-tuning."""
    import yaml

    history = result["history"]
    initial = history[0]["val_loss"] if history else None
    method = (f"LoRA (r {lora['r']}, alpha {lora['alpha']}) on all linear layers, merged into the weights; the "
              f"adapters alone are in `{ADAPTER_DIR}/`" if lora else "full fine-tuning of every weight")
    lines = ["---", yaml.safe_dump(front_matter(base, bool(lora)), sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {base.card_id or base.name} fine-tuned by instr-assets", "",
             f"**Base model:** {base.description}. Licence of the base: {base.licence}.", "",
             f"**Chat template:** {template_note}.", "",
             "## Training data", "", _DATA_NOTE + (f" Tokenized shard version `{shards_version}`." if shards_version else ""), "",
             *_table([[split, c["samples"], c["sequences"], c["tokens"]] for split, c in data_counts.items()],
                     ["split", "conversations", "packed sequences", "tokens"]), "",
             "## Training settings", "", f"Method: {method}. Loss: negative log-likelihood of the response tokens only.", "",
             *_table([[k, v] for k, v in settings.items()], ["setting", "value"]), "",
             "## Results", "",
             f"Best validation loss {result['best_val_loss']:.4f} at step {result['best_step']} (from "
             + (f"{initial:.4f} before training; " if initial is not None else "")
             + f"on the first {settings.get('eval_max_sequences', '?')} validation sequences, nats per response "
               "token), after "
             f"{history[-1]['step'] if history else 0} steps on {result.get('device', '?')}. Test metrics are not "
             "known when the checkpoint is saved: the pipeline's eval_report scores base and fine-tuned models on "
             "the validation and test splits.", "",
             "## Intended use and limits", "", _INTENDED, "", _LIMITS, ""]
    return "\n".join(lines)
