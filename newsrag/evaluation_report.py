"""Evaluation reports: the table, JUnit XML, comparison with a baseline report, report files.

Reports are the plain dicts of `evaluation.run_evaluation` (JSON-ready), so a baseline read back
from an earlier run's `--json-report` renders and compares the same as the run at hand.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from newsrag.evaluation import REPORT_FORMAT


def _format_value(value: float | None, metric: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}s" if metric.startswith("latency") else f"{value:.3f}"


def failure_summary(result: dict[str, Any]) -> str:
    """One line: the failed checks of a golden's runs (empty when it passed)."""
    failed: dict[str, str] = {}
    for run in result["runs"]:
        for check in run["checks"]:
            if not check["passed"]:
                failed.setdefault(check["name"], check["detail"])
    return "; ".join(f"{name}: {detail}" if detail else name for name, detail in failed.items())


def render_table(report: dict[str, Any]) -> str:
    """The human summary: pass/fail per golden, then metrics with their gates."""
    results = report["results"]
    width = max([len(result["id"]) for result in results] + [2])
    lines = [f"{'#':>3}  {'id':<{width}}  result  detail"]
    for result in results:
        verdict = "PASS" if result["passed"] else "FAIL"
        if report.get("repeat", 1) > 1:
            verdict += f" {result['runs_passed']}/{len(result['runs'])}"
        detail = failure_summary(result) or ("" if result["stable"] else "answers vary by run")
        gold = result["runs"][0]["parts"]["gold"]
        if gold is not None and not detail:  # bench questions: where the gold answer turned up
            depth = len(result["runs"][0]["ranking"])
            found = f"rank {gold['rank']}" if gold["rank"] else f"not in the top {depth}"
            detail = f"gold answer: {found}{', in the answer' if gold['in_answer'] else ''}"
        lines.append(
            f"{result['entry']:>3}  {result['id']:<{width}}  {verdict:<6}  {detail}".rstrip()
        )
    counts = report["counts"]
    lines += [
        "",
        f"goldens: {counts['goldens']}, passed {counts['passed']}, failed {counts['goldens'] - counts['passed']}, errors {counts['errors']}",
        "",
    ]
    gates = {gate["metric"]: gate for gate in report["gates"]}
    lines.append(f"{'metric':<26} {'value':>9}  gate")
    for metric, value in report["metrics"].items():
        gate = gates.get(metric)
        if value is None and gate is None:
            continue  # nothing in this file measures it (e.g. answer_recall@k without gold answers)
        verdict = (
            ""
            if gate is None
            else f"{gate['gate'].split(' ', 1)[1]:<10} {'ok' if gate['passed'] else 'FAILED'}"
        )
        lines.append(f"{metric:<26} {_format_value(value, metric):>9}  {verdict}".rstrip())
    return "\n".join(lines)


def failed_gate_lines(report: dict[str, Any]) -> list[str]:
    """'gate failed: hit_at_k = 0.000, needs >= 0.9' for each failing gate."""
    lines = []
    for gate in report["gates"]:
        if not gate["passed"]:
            value = _format_value(gate["value"], gate["metric"])
            why = "not measured (no golden measures it)" if gate["value"] is None else f"= {value}"
            lines.append(
                f"gate failed: {gate['metric']} {why}, needs {gate['gate'].split(' ', 1)[1]}"
            )
    return lines


def render_junit(report: dict[str, Any]) -> str:
    """JUnit XML: one testcase per golden and one per gate (CI dashboards read it)."""
    suites = ElementTree.Element("testsuites", name="newsrag eval")
    suite_name = f"goldens: {report['file']}"
    goldens = ElementTree.SubElement(
        suites, "testsuite", name=suite_name, timestamp=report["created"]
    )
    failures = errors = 0
    total_time = 0.0
    for result in report["results"]:
        seconds = sum(sum(run["latencies"]) for run in result["runs"])
        total_time += seconds
        case = ElementTree.SubElement(
            goldens,
            "testcase",
            classname="newsrag.goldens",
            name=result["id"],
            time=f"{seconds:.3f}",
        )
        error = next((run["error"] for run in result["runs"] if run["error"]), None)
        if error:
            errors += 1
            ElementTree.SubElement(
                case, "error", message=error, type="AskError"
            ).text = failure_summary(result)
        elif not result["passed"]:
            failures += 1
            summary = failure_summary(result)
            ElementTree.SubElement(
                case, "failure", message=summary, type="GoldenFailed"
            ).text = summary
        first = result["runs"][0]["answer"]
        ElementTree.SubElement(
            case, "system-out"
        ).text = f"question: {result['question']}\nanswer: {first['text'] if first else ''}"
    goldens.set("tests", str(len(report["results"])))
    goldens.set("failures", str(failures))
    goldens.set("errors", str(errors))
    goldens.set("time", f"{total_time:.3f}")
    gate_suite = ElementTree.SubElement(
        suites, "testsuite", name="gates", timestamp=report["created"]
    )
    gate_failures = 0
    for gate in report["gates"]:
        case = ElementTree.SubElement(
            gate_suite, "testcase", classname="newsrag.gates", name=gate["gate"], time="0"
        )
        if not gate["passed"]:
            gate_failures += 1
            message = f"{gate['metric']} = {_format_value(gate['value'], gate['metric'])}"
            ElementTree.SubElement(
                case, "failure", message=message, type="GateFailed"
            ).text = message
    gate_suite.set("tests", str(len(report["gates"])))
    gate_suite.set("failures", str(gate_failures))
    gate_suite.set("errors", "0")
    suites.set("tests", str(len(report["results"]) + len(report["gates"])))
    suites.set("failures", str(failures + gate_failures))
    suites.set("errors", str(errors))
    ElementTree.indent(suites)
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        + ElementTree.tostring(suites, encoding="unicode")
        + "\n"
    )


def _answer_text(result: dict[str, Any]) -> str:
    answer = result["runs"][0]["answer"]
    if answer is None:
        return f"(error: {result['runs'][0]['error']})"
    return ("(refused) " if answer["refused"] else "") + answer["text"]


def _sentence_lines(text: str) -> list[str]:
    """One sentence per line, so a diff shows which sentence changed."""
    return [line + "\n" for line in re.split(r"(?<=[.!?\]])\s+", text.strip()) if line]


def compare_reports(current: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """What changed since the baseline report: answers (unified diffs), pass/fail flips, metrics."""
    old = {result["id"]: result for result in baseline.get("results", [])}
    new = {result["id"]: result for result in current["results"]}
    changed, flipped = [], []
    for golden_id, result in new.items():
        before = old.get(golden_id)
        if before is None:
            continue
        old_text, new_text = _answer_text(before), _answer_text(result)
        if old_text != new_text:
            diff = difflib.unified_diff(
                _sentence_lines(old_text),
                _sentence_lines(new_text),
                f"baseline/{golden_id}",
                f"current/{golden_id}",
                n=1,
            )
            changed.append({"id": golden_id, "diff": "".join(diff)})
        if bool(before["passed"]) != bool(result["passed"]):
            flipped.append(
                {
                    "id": golden_id,
                    "was": "PASS" if before["passed"] else "FAIL",
                    "now": "PASS" if result["passed"] else "FAIL",
                }
            )
    moved = {}
    for metric, value in current["metrics"].items():
        before_value = baseline.get("metrics", {}).get(metric)
        if value is None and before_value is None:
            continue
        delta = None if value is None or before_value is None else value - before_value
        moved[metric] = {"baseline": before_value, "current": value, "delta": delta}
    return {
        "baseline_created": baseline.get("created"),
        "changed_answers": changed,
        "flipped": flipped,
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "metrics": moved,
    }


def render_comparison(comparison: dict[str, Any]) -> str:
    """The baseline comparison as text: flips, metric moves, then the answer diffs."""
    lines = [f"compared with the baseline of {comparison['baseline_created'] or 'unknown date'}:"]
    for flip in comparison["flipped"]:
        lines.append(f"  flipped: {flip['id']}: {flip['was']} -> {flip['now']}")
    for key in ("added", "removed"):
        if comparison[key]:
            lines.append(f"  {key}: {', '.join(comparison[key])}")
    for metric, move in comparison["metrics"].items():
        if move["delta"] is None or abs(move["delta"]) > 1e-12:
            delta = "" if move["delta"] is None else f" ({move['delta']:+.3f})"
            lines.append(
                f"  {metric}: {_format_value(move['baseline'], metric)} -> {_format_value(move['current'], metric)}{delta}"
            )
    lines.append(f"  answers changed: {len(comparison['changed_answers'])}")
    for item in comparison["changed_answers"]:
        lines.append(item["diff"].rstrip("\n"))
    return "\n".join(lines)


def load_report(path: Path) -> dict[str, Any]:
    """A JSON report written earlier (for --baseline); ValueError with a one-line reason."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as problem:
        raise ValueError(f"{path}: cannot read the baseline report ({problem})") from None
    except json.JSONDecodeError as problem:
        raise ValueError(f"{path}:{problem.lineno}: baseline is not JSON ({problem.msg})") from None
    if not (
        isinstance(data, dict)
        and data.get("format") == REPORT_FORMAT
        and isinstance(data.get("results"), list)
        and isinstance(data.get("metrics"), dict)
    ):
        raise ValueError(f"{path}: not a report of `newsrag eval --json-report` ({REPORT_FORMAT})")
    return data


def write_text_file(path: Path, text: str) -> None:
    """Write a report file, creating its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text, encoding="utf-8")
