"""Every job's message names its log, so a silent minutes-long job says where to look."""

import re
from pathlib import Path

RULES = Path(__file__).resolve().parents[1] / "workflow" / "rules"


def test_every_rule_with_a_log_says_where_the_log_is_in_its_message():
    checked = 0
    for path in sorted(RULES.glob("*.smk")):
        for rule, body in re.findall(r"^rule (\w+):\n((?:[ \n].*\n?)*)", path.read_text(), re.M):
            if "    log:" not in body:
                continue
            message = re.search(r"    message:\n\s+(\".*\")", body)
            assert message and "(log: {log})" in message[1], f"{path.name}: rule {rule}"
            checked += 1
    assert checked >= 10
