"""`cstp figure`: draw one of the config's qualitative figures (the workflow's figure job)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cstp.commands.plan import config_options, load_config
from cstp.errors import CstpError


def register(sub: argparse._SubParsersAction) -> None:
    text = "draw a qualitative figure of the config: retrieval examples or activation maps"
    figure = sub.add_parser(
        "figure",
        help=text,
        description=f"{text[0].upper()}{text[1:]}, from the runs of the cells it names "
        "(config.yaml, figures), into OUT_DIR/FIGURE.png.",
    )
    figure.add_argument("figure", help="e.g. figure5")
    config_options(figure)
    figure.add_argument("--out-dir", type=Path, default=Path("results"))
    figure.add_argument("--runs-root", type=Path, default=Path("."), help="where runs/ is")
    figure.set_defaults(func=run_figure)


def run_figure(args: argparse.Namespace) -> int:
    from cstp.planning.figures import load_figures
    from cstp.planning.plan import Plan
    from cstp.reporting.figure_plots import draw

    config = load_config(args)
    plan = Plan.from_config(config)
    figures = load_figures(config, plan)
    if args.figure not in figures:
        known = ", ".join(figures) or "none"
        raise CstpError(f"{args.figure}: no such figure in {args.config}; figures: {known}")
    out = args.out_dir / f"{args.figure}.png"
    shown = draw(plan, figures[args.figure], out, args.runs_root)
    if shown["kind"] == "retrieval":
        print(f"{out}: {shown['cell']}")
        for query in shown["queries"]:
            marks = " ".join("hit" if h else "miss" for h in query["hits"])
            print(f"  {query['query']} ({query['class']}): {marks}")
    else:
        print(f"{out}: {', '.join(shown['videos'])}")
    return 0
