"""Metrics by name and the gates on them: thresholds from a golden file or --min/--max, judged."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Metric name -> (higher is better, what it measures). `answer_recall@K` works for any K.
METRICS: dict[str, tuple[bool, str]] = {
    "pass_rate": (True, "share of goldens whose checks all pass"),
    "hit_at_k": (True, "share of goldens with an expected article in the top-k passages"),
    "mrr": (True, "mean reciprocal rank of the first expected article"),
    "contains_rate": (True, "share of contains / not_contains checks that hold"),
    "citation_precision": (True, "share of citations whose passage supports the sentence"),
    "citation_recall": (True, "share of expected articles that are cited"),
    "refusal_accuracy": (True, "share refused when they should be, answered when they should"),
    "unsupported_sentence_rate": (False, "share of answer sentences not supported by citations"),
    "latency_p50": (False, "median seconds per answer"),
    "latency_p95": (False, "95th percentile seconds per answer"),
    "answer_containment": (True, "share of gold answers contained in the answer text"),
    "citation_containment": (True, "share of gold answers contained in a cited passage"),
    "short_answer_rate": (
        True,
        "share of `short` checks: the short answer holds the expected text",
    ),
    "short_answer_containment": (True, "share of gold answers contained in the short answer"),
}
RECALL_METRIC = re.compile(r"answer_recall@([1-9][0-9]?|100)")


def metric_direction(name: str) -> bool:
    """True when a higher value of the metric is better; ValueError for an unknown metric."""
    canonical = canonical_metric(name)
    if RECALL_METRIC.fullmatch(canonical):
        return True
    return METRICS[canonical][0]


def canonical_metric(name: str) -> str:
    """The metric's canonical spelling ('hit-at-k' -> 'hit_at_k'); ValueError when unknown."""
    canonical = name.strip().lower().replace("-", "_")
    if canonical in METRICS or RECALL_METRIC.fullmatch(canonical):
        return canonical
    known = ", ".join([*METRICS, "answer_recall@K"])
    raise ValueError(f"unknown metric {name!r} (known: {known})")


@dataclass(frozen=True)
class Gate:
    """A threshold on one metric: value >= minimum and/or value <= maximum."""

    metric: str
    minimum: float | None = None
    maximum: float | None = None
    origin: str = "file"  # "file", "--min" or "--max"

    def describe(self) -> str:
        """'hit_at_k >= 0.9' style text."""
        parts = []
        if self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        return f"{self.metric} {' and '.join(parts)}"

    def holds(self, value: float | None) -> bool:
        """True when the measured value meets the gate (an unmeasured metric never does)."""
        if value is None:
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        return not (self.maximum is not None and value > self.maximum)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {"metric": self.metric, "min": self.minimum, "max": self.maximum}


def parse_gate_option(text: str, *, bound: str) -> Gate:
    """Parse `metric=value` from --min / --max (bound is 'min' or 'max'); ValueError if bad."""
    name, separator, raw = text.partition("=")
    if not separator:
        raise ValueError(f"--{bound} {text!r}: write METRIC=VALUE, e.g. hit_at_k=0.9")
    metric = canonical_metric(name)
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"--{bound} {text!r}: {raw!r} is not a number") from None
    if bound == "min":
        return Gate(metric, minimum=value, origin="--min")
    return Gate(metric, maximum=value, origin="--max")


def apply_gates(metrics: dict[str, float | None], gates: Sequence[Gate]) -> list[dict[str, Any]]:
    """Judge each gate; a later gate on the same metric and side (command line) wins."""
    merged: dict[str, Gate] = {}
    for gate in gates:
        metric = canonical_metric(gate.metric)
        previous = merged.get(metric)
        if previous is not None:
            gate = Gate(
                metric,
                minimum=gate.minimum if gate.minimum is not None else previous.minimum,
                maximum=gate.maximum if gate.maximum is not None else previous.maximum,
                origin=gate.origin,
            )
        merged[metric] = Gate(metric, gate.minimum, gate.maximum, gate.origin)
    judged = []
    for metric, gate in merged.items():
        value = metrics.get(metric)
        judged.append(
            {**gate.to_dict(), "gate": gate.describe(), "value": value, "passed": gate.holds(value)}
        )
    return judged
