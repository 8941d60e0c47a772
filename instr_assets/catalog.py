"""Rebuild the DuckDB catalog from the published step versions.

    python -m instr_assets.catalog rebuild [--root output]

Use it after deleting instr_assets.duckdb, after a step warned that it could not write its views (another
program held the file), or to check a copied output folder. The views read paths relative to the output
root, so the rebuilt catalog reads the folder it lies in. Programs that keep the old file open see the old
views until they reconnect.
"""
import argparse
import os
import sys

from instr_assets.core.storage import DataStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instr_assets.catalog", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser("rebuild", help="recreate instr_assets.duckdb from <root>/published")
    rebuild.add_argument("--root", default=os.environ.get("INSTR_ASSETS_OUTPUT", "output"), help="the output folder")
    args = parser.parse_args(argv)
    store = DataStore(args.root)
    if not store.published_dir.is_dir():
        print(f"nothing published under {store.root} (no {store.published_dir} folder)", file=sys.stderr)
        return 1
    problems = store.rebuild_catalog()
    views = store.query("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1")["view_name"].to_list()
    print(f"{store.duckdb_path}: {len(views)} views ({', '.join(views)})")
    for p in problems:
        print(f"could not create view {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
