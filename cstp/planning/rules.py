"""Small things the Snakefile's rules need from the library: the cells a job serves as a message,
and the effective config as a file named by its content."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from cstp.errors import CstpError
from cstp.files import write_text_atomic
from cstp.specs.base import spec_hash, spec_json
from cstp.specs.registry import row_names, scheme_names

log = logging.getLogger(__name__)

STUDY_DIR = Path("runs/study")
# What torchrun forwards to its processes: its own defaults plus SIGUSR1, which Slurm sends before
# a time limit (the profile's --signal=USR1@300). Without it in the list the launcher dies of the
# signal and leaves its processes training as orphans. The processes then agree on a step, the
# first writes the checkpoint, all exit; the launcher waits SHUTDOWN_SECONDS for that before it
# kills them.
TORCHRUN_SIGNALS = "SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"
SHUTDOWN_SECONDS = 120
LOST_DIR = Path("runs/lost")


class Untracked:
    """Text for a rule's `message` or shell that must not re-run jobs when it changes: the cells a
    job serves ('table1 Exp 4 (seed 0), table2 Exp 1 (seed 0)'), or a runtime option such as
    `--cache DIR` that changes no number. Deliberately not a str: Snakemake keeps only params it
    can represent (str, numbers, containers) in its params rerun trigger, so adding a table that
    shares a job re-runs nothing, nor does a changed option (the frame cache, being a new input
    when switched on, still re-runs the jobs once: docs/data.md).
    """

    def __init__(self, text: str):
        self.text = text

    def __str__(self) -> str:
        return self.text


def pretrain_launch(processes: int) -> str:
    """The command that starts `cstp pretrain`: itself, or torchrun with `processes` processes on
    this node."""
    if processes == 1:
        return "cstp"
    return (
        f"torchrun --standalone --nproc-per-node {processes} --signals-to-handle "
        f"{TORCHRUN_SIGNALS} --shutdown-timeout {SHUTDOWN_SECONDS} -m cstp"
    )


def runtime_options(resources, threads: int, processes: int = 1) -> str:
    """How one process of a job runs (`cstp` runtime options, never part of a spec): its share of
    the job's cores as torch threads, data-loader workers capped to that share less one (the
    threads, like the GPUs, are already capped to the machine), and the fast path."""
    cores = max(1, threads // processes)
    workers = min(resources.workers, cores - 1)
    return f"--threads {cores} --workers {workers} --compile {resources.compile}"


def typed_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """--config values as YAML reads them. Snakemake parses a list or mapping given on the command
    line with YAML's BaseLoader, which leaves every number in it a string (`seeds=[0,1,2]` gives
    ['0', '1', '2']); scalars it already types itself."""

    def typed(value):
        if isinstance(value, str):
            return yaml.safe_load(value) if value.strip() else value
        if isinstance(value, list):
            return [typed(v) for v in value]
        if isinstance(value, dict):
            return {k: typed(v) for k, v in value.items()}
        return value

    return {k: typed(v) for k, v in overrides.items() if isinstance(v, list | dict)}


def schema_error(config: Mapping[str, Any], schema_path: Path) -> str | None:
    """The config's first violation of the JSON schema (with the registries' enums) as one line
    naming the key, or None."""
    import jsonschema

    return _first_error(jsonschema.Draft202012Validator, config, schema_path)


def check_config(config: dict[str, Any], schema_path: Path) -> None:
    """Check `config` against the schema in one pass that also fills in the defaults the schema
    gives for keys it leaves out; CstpError, one line naming the key, on a violation."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    properties = base.VALIDATORS["properties"]

    def with_defaults(validator, wanted, instance, schema):
        if isinstance(instance, dict):
            for key, sub in wanted.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from properties(validator, wanted, instance, schema)

    filler = jsonschema.validators.extend(base, {"properties": with_defaults})
    problem = _first_error(filler, config, schema_path)
    if problem:
        raise CstpError(problem)


def _first_error(validator, config: Mapping[str, Any], schema_path: Path) -> str | None:
    import jsonschema

    schema = with_components(yaml.safe_load(Path(schema_path).read_text()))
    error = jsonschema.exceptions.best_match(validator(schema).iter_errors(config))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return f"{where}: {message}"


def with_components(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with the enums that the component registries own: a row's scheme and pretext
    tasks, and a column's `pretext.NAME`."""
    defs = schema["$defs"]
    defs["row"]["properties"]["contrastive"]["enum"] = list(scheme_names())
    defs["row"]["properties"]["pretext"]["items"]["enum"] = row_names()
    show = defs["table"]["properties"]["columns"]["items"]["properties"]["show"]
    show["enum"] = show["enum"] + [f"pretext.{name}" for name in row_names()]
    return schema


def study_file(config: dict[str, Any], root: Path = Path(".")) -> str:
    """Write the effective config to runs/study/<hash>.json (once) and return its path: the table
    jobs read it, and a changed config is a new file, so they rebuild."""
    path = STUDY_DIR / f"{spec_hash(config)}.json"
    if not (root / path).exists():
        write_text_atomic(root / path, spec_json(config))
    return str(path)


def dataset_at(plan, name: str, split: int):
    """The plan's dataset named `name` (its identity in run specs) at `split`, for the rules
    that index or cache it; a WorkflowError when no job reads it."""
    for dataset in plan.datasets():
        if dataset.name == name and dataset.split == split:
            return dataset
    from snakemake.exceptions import WorkflowError

    raise WorkflowError(f"data/index/{name}_split{split}.csv: no job of the plan reads it")


CELLS_DIR = Path("runs/cells")  # rule cell_runs: a stamp per cell of a table


def lost_marker(plan, table: str, root: Path = Path(".")) -> str:
    """runs/lost/<table>.json, an input of the table job and of its cells' stamps, rewritten (a
    new generation) when the table or a cell's stamp is built but a run it was built from has
    lost an output since (a failed re-run, a folder deleted by hand); left alone otherwise, so
    that it re-runs nothing by itself.

    Snakemake redoes a missing intermediate file only for a job that runs anyway: with all the
    table's files present it would print "Nothing to be done" over a lost run that `cstp plan
    --list` calls missing. The new generation makes the table job out of date, and Snakemake then
    redoes the missing runs it reads (their outputs are its inputs) and what was built from them.
    """
    path = LOST_DIR / f"{table}.json"
    missing = [str(p) for p in plan.table_inputs(table) if not (root / p).exists()]
    # Built from them: the table, or a cell's stamp (rule cell_runs), which hides a lost run
    # from Snakemake as the table does.
    built = (root / "results" / f"{table}.csv").exists()
    stamped = any((root / CELLS_DIR / table).glob("row*.done"))
    lost = bool(missing) and (built or stamped)
    try:
        generation = json.loads((root / path).read_text())["generation"]
    except (OSError, ValueError, KeyError, TypeError):
        generation = None
    if generation is None or lost:
        generation = 0 if generation is None else int(generation) + 1
        record = {"generation": generation, "missing": missing[:20]}
        write_text_atomic(root / path, json.dumps(record, indent=1) + "\n")
    if lost:
        more = f" and {len(missing) - 1} more files" if len(missing) > 1 else ""
        log.warning(
            "%s: %s%s missing although the table %s (a failed job, outputs deleted by "
            "hand, or runs new to the config); they run, and what was built from them",
            *(table, missing[0], more, "exists" if built else "has cells built"),
        )
    return str(path)


def read_config(path: str | Path) -> dict[str, Any]:
    """A config file (YAML or JSON) as a mapping; one line naming the file when it is missing, is
    not YAML, or holds something other than a mapping of keys (a list, a single value, nothing).
    """
    path = Path(path)
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise CstpError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CstpError(f"{path}: cannot read the config file: {err}") from None
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise CstpError(f"{path}: not valid YAML{line}") from None
    if not isinstance(config, dict):
        raise CstpError(
            f"{path}: a config file holds a mapping of keys (preset:, seeds:, presets:, "
            f"tables:), not {_kind(config)}"
        )
    return config


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    return f"a single value ({value!r:.40})"
