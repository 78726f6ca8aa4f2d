"""Other methods' rows of a table (the paper's Table 6 lists them beside its own): printed from
config as the paper's numbers only, marked as such, never a cell and never a job.

A peer gives what the paper prints: its method name (and a `short` one for the LaTeX where the
paper's is too long for a column), citation, backbone, pretraining dataset, protocol (the
"Freeze" tick) and accuracy per dataset; a table column may show a peer's `backbone`,
`pretrain_on` or `protocol.linear`, in the words the paper prints.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cstp.reporting.tables import CHECK, CROSS, flag_name

SOURCE_RUN, SOURCE_PAPER = "regenerated", "paper"


def peer_value(peer: dict[str, Any], show: str) -> Any:
    """What a peer prints in a column: the paper's words for backbone and dataset, a tick."""
    if show == "backbone":
        return peer.get("backbone", "-")
    if show == "pretrain_on":
        return peer.get("pretrain_on", "-")
    return peer.get("protocol", "finetune") == "linear"


def peer_rows(plan, table: str):
    """The peers as rows of the regenerated table: the flag columns and the paper's numbers,
    every measured column empty, `source` saying where the numbers come from."""
    spec = plan.study.tables[table]
    rows = []
    for peer in spec.peers:
        row: dict[str, Any] = {"Exp.": peer["method"]}
        for column in spec.columns:
            value = peer_value(peer, column["show"])
            tick = CHECK if value else CROSS
            row[flag_name(column)] = tick if isinstance(value, bool) else value
        for key in spec.datasets:
            row[f"{plan.study.datasets[key].label}: paper"] = peer.get("paper", {}).get(key)
        rows.append(row | {"source": SOURCE_PAPER, "reference": peer.get("cite", "")})
    return pd.DataFrame(rows)


def with_peers(plan, table: str, summary):
    """The table as its CSV holds it: our cells (source `regenerated`), then the peers (source
    `paper`), in the paper's order, with the same columns; the summary itself without peers."""
    peers = peer_rows(plan, table)
    if peers.empty:
        return summary
    ours = summary.assign(source=SOURCE_RUN, reference="")
    table = pd.concat([ours, peers], ignore_index=True)[list(ours.columns)]
    return table.astype({"seeds": "Int64"})  # a count, empty for the peers (not 1.0)


def peer_notes(plan, table: str) -> list[str]:
    """The paper's footnotes on its peers (e.g. CoCLR's optical flow), once each."""
    return list(dict.fromkeys(p["note"] for p in plan.study.tables[table].peers if p.get("note")))
