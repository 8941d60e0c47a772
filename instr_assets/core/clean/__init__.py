"""Stage 2: normalize, filter and deduplicate pairs, each removal with a reason code."""
