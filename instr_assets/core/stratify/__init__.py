"""Stage 4: domain, task and difficulty labels, balanced sampling and leak-free splits."""
