"""`cstp table`: a table's files regenerated from its finished runs (the workflow's table job)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cstp.commands.plan import config_options, load_plan
from cstp.errors import CstpError


def register(sub: argparse._SubParsersAction) -> None:
    table = sub.add_parser(
        "table",
        help="write a regenerated table: CSV, LaTeX and a plot",
        description="Collect every cell's metrics from the run folders and write "
        "OUT_DIR/TABLE.csv, OUT_DIR/TABLE.tex and OUT_DIR/TABLE.png.",
    )
    table.add_argument("table", help="e.g. table2")
    config_options(table)
    table.add_argument("--out-dir", type=Path, default=Path("results"))
    table.add_argument("--runs-root", type=Path, default=Path("."), help="where runs/ is")
    table.set_defaults(func=run_table)


def _refuse_missing_runs(plan, table: str, root: Path) -> None:
    """A table is built from finished runs only: name the first run with a missing output (a
    failed job, a folder deleted by hand) rather than print a table that hides it."""
    missing = [path for path in plan.table_inputs(table) if not (root / path).exists()]
    if missing:
        more = f" and {len(missing) - 1} more files" if len(missing) > 1 else ""
        raise CstpError(
            f"{table}: {missing[0]}{more} missing, so a run it needs is not finished; run the "
            f"workflow again (snakemake results/{table}.csv), which redoes it"
        )


def run_table(args: argparse.Namespace) -> int:
    from cstp.reporting.report import write_table

    plan = load_plan(args)
    table = args.table
    if table not in plan.tables:
        raise CstpError(f"{table}: no such table; tables: {', '.join(plan.tables)}")
    _refuse_missing_runs(plan, table, args.runs_root)
    printed = write_table(plan, table, args.runs_root, args.out_dir)
    print(printed.to_string(index=False))
    return 0
