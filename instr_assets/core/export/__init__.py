"""Exports of the stratified splits to the files other training tools read: Hugging Face datasets Parquet with a
dataset card, OpenAI-style messages JSONL, ShareGPT and Alpaca JSON with a LLaMA-Factory dataset_info.json, and
Axolotl dataset config snippets."""
