"""Stage 7: base against fine-tuned model, losses, exact match and the report."""
