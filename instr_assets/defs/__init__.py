"""Dagster orchestration shell: assets, checks, resources, jobs and schedules over instr_assets.core."""
