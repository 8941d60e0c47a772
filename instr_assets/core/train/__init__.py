"""Stages 5-6: chat-template tokenization and packing, and the training loop."""
