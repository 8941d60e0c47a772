"""Stage 1: read every raw source and unify it into instruction/response pairs."""
