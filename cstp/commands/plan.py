"""`cstp plan`: cells and unique jobs per table, their states and cost; the config options that
`cstp table` and `cstp figure` share."""

from __future__ import annotations

import argparse
from pathlib import Path

from cstp.errors import CstpError

COLUMNS = """\
columns of the counts (one row per table; `all`: the tables together):
  cells                rows of the table, as the paper prints them
  cells_that_pretrain  of those, the cells that pretrain (the others train from scratch)
  pretrain, finetune,  unique jobs of each kind over seeds and splits; equal cells, in this
  evaluate, features   table or another, are one job (features: frozen-feature probe and
                       retrieval)
  shared pretrain      of this table's pretraining jobs, how many another table of the config
                       also needs (run once for both)
  shared features      the same for its feature jobs

--list states: done (outputs present, same code), stale (and why: code changed, an input run
not done), missing (not run, or failed), running (a job holds the run folder's lock now)."""


def register(sub: argparse._SubParsersAction) -> None:
    plan = sub.add_parser(
        "plan",
        help="how many cells and unique pretrain / fine-tune / evaluate jobs each table needs",
        description="Expand the tables of a config into cells and unique jobs (equal cells of "
        "different tables are one job) and print the counts per table and for all of them.",
        epilog=COLUMNS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    config_options(plan)
    plan.add_argument("tables", nargs="*", help="tables or their files, e.g. results/table2.csv")
    plan.add_argument(
        "--list",
        action="store_true",
        help="one line per job: kind, id, state (done / stale / missing / running, and why) "
        "and its cells",
    )
    plan.add_argument(
        "--estimate",
        action="store_true",
        help="device-hours and wall time of the target's jobs at measured rates (see --bench)",
    )
    plan.add_argument(
        "--bench",
        type=Path,
        help="a `cstp bench step --out` file of the target machine (default: H100 anchors)",
    )
    plan.add_argument("--gpus", type=int, default=1, help="devices working in parallel (1)")
    plan.add_argument(
        "--splits",
        help="average the named tables (default: all) over these official splits, e.g. 1,2,3, "
        "as `splits:` on a table in the config does",
    )
    plan.set_defaults(func=run_plan)


def config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("config.yaml"),
        help="config file (YAML or JSON; the workflow passes runs/study/<hash>.json)",
    )
    parser.add_argument("--preset", help="override the config's preset")


def load_config(args: argparse.Namespace) -> dict:
    """The config of --config, with --preset applied."""
    from cstp.planning.rules import read_config

    config = read_config(args.config)
    if args.preset:
        config["preset"] = args.preset
    return config


def load_plan(args: argparse.Namespace, check_paths: bool = True):
    from cstp.planning.plan import Plan

    return Plan.from_config(load_config(args), check_paths)


def run_plan(args: argparse.Namespace) -> int:
    import pandas as pd

    from cstp.planning.plan import Plan

    config = load_config(args)
    tables = config.get("tables", {})
    names = [Path(t).stem for t in args.tables] or list(tables)
    if "all" in names:  # rule `all`: every table (the figures reuse Table 2's runs)
        names = list(tables)
    unknown = [n for n in names if n not in tables]
    if unknown:
        raise CstpError(f"{unknown[0]}: no such table; tables: {', '.join(tables)}")
    if args.splits:
        for name in names:
            tables[name]["splits"] = _splits(args.splits)
    plan = Plan.from_config(config, check_paths=False)  # counting and estimating read no data
    if args.list:
        return _list_jobs(plan, names)
    if args.estimate:
        return _estimate(plan, names, args.bench, args.gpus)
    # Per table, also the jobs it shares with the other tables of the config (equal cells).
    rows = {name: plan.counts([name]) | plan.shared(name) for name in names}
    if len(names) > 1:
        rows["all"] = plan.counts(names)
    study = plan.study
    print(f"preset {study.preset_name}, seeds {list(study.seeds)}")
    print(pd.DataFrame(rows).T.astype("Int64").astype(object).fillna("-").to_string())
    for name in names:
        _print_splits(plan, name)
    return 0


def _splits(text: str) -> list[int]:
    try:
        splits = [int(s) for s in text.split(",")]
    except ValueError:
        splits = []
    if not splits or not set(splits) <= {1, 2, 3} or len(set(splits)) < len(splits):
        raise CstpError(f"--splits {text}: expected official splits among 1, 2, 3, e.g. 1,2,3")
    return splits


def _print_splits(plan, table: str) -> None:
    """For a table averaged over splits: which, and the jobs its later splits add."""
    added = plan.added_by_splits(table)
    if added is None:
        return
    splits = plan.study.tables[table].splits
    jobs = ", ".join(f"{n} {kind}" for kind, n in added.items() if n and kind != "pretrain")
    pretrain = f"{added['pretrain']} pretraining" if added["pretrain"] else "no pretraining"
    print(
        f"{table}: each cell the mean over splits {', '.join(map(str, splits))}; splits "
        f"{', '.join(map(str, splits[1:]))} add {jobs or 'no'} jobs and {pretrain} (every "
        "split starts from the encoder pretrained on the preset's split: "
        "docs/interpretations.md, T10)"
    )


def _estimate(plan, names: list[str], bench: Path | None, gpus: int) -> int:
    import pandas as pd

    from cstp.planning.estimate import Rates, estimate

    if gpus < 1:
        raise CstpError(f"--gpus {gpus}: expected a number of devices >= 1")
    rates = Rates.from_bench(bench) if bench is not None else None
    result = estimate(plan, names, rates, gpus)
    study = plan.study
    print(f"estimate: {' + '.join(names)}, preset {study.preset_name}, seeds {list(study.seeds)}")
    table = pd.DataFrame(result["rows"]).T
    table["hours"] = table["hours"].round(2)
    print(table.to_string())
    print(
        f"total {result['total_hours']:.2f} device-hours; wall time on {gpus} device(s) "
        f"{result['wall_hours']:.2f} h (longest job {result['longest_hours']:.2f} h)"
    )
    print(
        "rates: the bare backbone's clips/s x the step's efficiency x the loader's share (other "
        "clip shapes scaled by voxels)"
    )
    for used, jobs in sorted(result["rates"].items(), key=lambda item: -item[1]):
        print(
            f"  {used.backbone}, {used.step}: {used.clips_per_s:.1f} x {used.efficiency:.3f} x "
            f"{used.loader_share:.2f}, {jobs} job(s)"
        )
    print(f"  from: {'; '.join(sorted({used.source for used in result['rates']}))}")
    if rates is not None and rates not in result["rates"]:
        print(f"  (--bench {bench} measured {rates.backbone}, which no job here uses)")
    print(f"videos: {'; '.join(result['sizes'])}")
    epochs = result["epochs"]
    print(f"epochs: pretraining {epochs['pretrain']}, fine-tuning {epochs['finetune']}")
    return 0


def _list_jobs(plan, names: list[str]) -> int:
    from cstp.planning.status import job_states

    runs = plan.runs_of(names)
    states = job_states(plan, runs)
    for kind, kind_runs in runs.items():
        for run in kind_runs:
            state = states[(kind, run.id)]
            why = f" ({state.why})" if state.why else ""
            print(f"{kind:8} {run.id}  {state.word}{why}: {run.describe()}")
    counts = {}
    for state in states.values():
        counts[state.word] = counts.get(state.word, 0) + 1
    print(
        ", ".join(f"{n} {word}" for word, n in sorted(counts.items())) + f" of {len(states)} jobs"
    )
    return 0
