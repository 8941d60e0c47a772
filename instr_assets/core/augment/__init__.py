"""Stage 3: seeded augmentation of cleaned pairs."""
