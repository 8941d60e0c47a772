"""Stage 4: domain, task and difficulty labels, sampling to a mixture and leak-free splits."""
