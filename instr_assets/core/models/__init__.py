"""The model runtime shared by stages: loading tokenizers and models."""
