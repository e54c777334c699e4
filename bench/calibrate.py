"""Choose the refusal settings by cross-validation over the weeks of a bench run of answers.py.

answers.py answers every question once with refusals off and records the features the refusal
rule reads (evidence, expected type found, predicate coverage of the answer's sentence and of the
passages). Here every rule of the grid is scored on all weeks but one and tested on that week
(leave-one-week-out); the figures quoted are the held-out weeks' pooled. The objective is the
balanced accuracy of refusing (unanswerable refused + answerable answered) / 2, among the rules
that refuse at most --max-refused-answerable of the answerable questions on the training weeks.

    .venv/bin/python bench/calibrate.py bench/results/answers-rtqa-dev.json
    .venv/bin/python bench/calibrate.py bench/results/answers-rtqa-dev.json \\
        --apply bench/results/answers-rtqa-2022-aug-dec.json   # the chosen rule on held-out data
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TYPES_WITH_ENTITIES = {"person", "number", "money", "percent", "date", "age", "duration"}
GRID = {
    "refusal_threshold": [0.25, 0.3, 0.35, 0.4, 0.45, 0.5],
    "answer_needs_type": [False, True],
    "answer_min_coverage": [0.0, 0.2, 0.3, 0.4, 0.5],
    "answer_min_passage_coverage": [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    "answer_min_similarity": [0.0, 0.4, 0.45, 0.5, 0.55],
}


def refused(outcome: dict[str, Any], rule: dict[str, Any]) -> bool:
    """Would the assistant refuse this question under the rule? (Assistant.answerable)"""
    if not outcome["has_hits"] or outcome["evidence"] < rule["refusal_threshold"]:
        return True
    if (
        rule["answer_needs_type"]
        and outcome["answer_type"] in TYPES_WITH_ENTITIES
        and not outcome["short_typed"]
    ):
        return True
    return (
        outcome["coverage"] < rule["answer_min_coverage"]
        or outcome["passage_coverage"] < rule["answer_min_passage_coverage"]
        # Results files written before "similarity" was recorded: this test never refuses.
        or outcome.get("similarity", 1.0) < rule["answer_min_similarity"]
    )


def figures(outcomes: Sequence[dict[str, Any]], rule: dict[str, Any]) -> dict[str, float]:
    """Refusal rates and containment of the answered under a rule."""
    answerable = [item for item in outcomes if item["answerable"]]
    unanswerable = [item for item in outcomes if not item["answerable"]]

    def share(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    kept = [item for item in answerable if not refused(item, rule)]
    refused_answerable = share(len(answerable) - len(kept), len(answerable))
    refused_unanswerable = share(sum(refused(i, rule) for i in unanswerable), len(unanswerable))
    return {
        "refused_answerable": refused_answerable,
        "refused_unanswerable": refused_unanswerable,
        "balanced": (refused_unanswerable + 1 - refused_answerable) / 2,
        "short_answer_containment": share(sum(i["short_contains"] for i in kept), len(answerable)),
        "answer_containment": share(sum(i["contains"] for i in kept), len(answerable)),
        "citation_contains_answer": share(
            sum(i["citation_contains"] for i in kept), len(answerable)
        ),
    }


def rules() -> list[dict[str, Any]]:
    """Every rule of the grid."""
    names = list(GRID)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*GRID.values())]


def best_rule(outcomes: Sequence[dict[str, Any]], ceiling: float) -> dict[str, Any]:
    """The rule with the best balanced accuracy among those under the answerable ceiling."""
    scored = [(figures(outcomes, rule), rule) for rule in rules()]
    allowed = [item for item in scored if item[0]["refused_answerable"] <= ceiling] or scored
    return max(allowed, key=lambda item: (item[0]["balanced"], -item[0]["refused_answerable"]))[1]


def main(argv: list[str] | None = None) -> int:
    """Print the cross-validated figures and the rule chosen on all weeks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="bench/results/answers-<dataset>.json")
    parser.add_argument("--max-refused-answerable", type=float, default=0.15)
    parser.add_argument("--apply", type=Path, nargs="*", default=[], help="results to score")
    args = parser.parse_args(argv)
    outcomes = json.loads(args.results.read_text())["outcomes"]
    weeks = sorted({item["week"] for item in outcomes})
    held_out: list[dict[str, Any]] = []
    refused_flags: list[tuple[dict[str, Any], bool]] = []
    for week in weeks:
        train = [item for item in outcomes if item["week"] != week]
        test = [item for item in outcomes if item["week"] == week]
        rule = best_rule(train, args.max_refused_answerable)
        held_out += test
        refused_flags += [(item, refused(item, rule)) for item in test]
        print(f"fold {week}: {len(test)} questions, rule {rule}")
    # Pooled held-out figures: each question judged by the rule chosen without its week.
    answerable = [(i, r) for i, r in refused_flags if i["answerable"]]
    unanswerable = [(i, r) for i, r in refused_flags if not i["answerable"]]
    cv = {
        "refused_answerable": sum(r for _, r in answerable) / max(1, len(answerable)),
        "refused_unanswerable": sum(r for _, r in unanswerable) / max(1, len(unanswerable)),
        "short_answer_containment": sum(i["short_contains"] and not r for i, r in answerable)
        / max(1, len(answerable)),
        "answer_containment": sum(i["contains"] and not r for i, r in answerable)
        / max(1, len(answerable)),
        "citation_contains_answer": sum(i["citation_contains"] and not r for i, r in answerable)
        / max(1, len(answerable)),
    }
    print("cross-validated (leave one week out):", json.dumps(cv, indent=1))
    chosen = best_rule(outcomes, args.max_refused_answerable)
    print("rule chosen on all weeks:", chosen)
    print("its figures on these weeks:", json.dumps(figures(outcomes, chosen), indent=1))
    for path in args.apply:
        other = json.loads(path.read_text())["outcomes"]
        print(f"applied to {path}:", json.dumps(figures(other, chosen), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
