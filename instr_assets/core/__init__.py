"""Pure pipeline logic: plain functions over polars frames, tensors and paths, no Dagster import."""
