"""The evaluation command: `newsrag eval` (goldens or bench questions, metrics, gates, CI reports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from newsrag.cli_common import (
    EXIT_GATE_FAILED,
    IndexOption,
    fail,
    fail_for,
    load_settings,
)
from newsrag.errors import EXIT_NOTHING, NewsragError


def eval_command(
    goldens: Annotated[
        Path, typer.Argument(help="Golden YAML file, or a bench questions.jsonl file.")
    ],
    index: IndexOption = None,
    json_report: Annotated[
        Path | None, typer.Option("--json-report", help="Write the full report as JSON.")
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML (a testcase per golden/gate).")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline", help="Compare with an earlier --json-report (answers, metrics)."
        ),
    ] = None,
    minimum: Annotated[
        list[str] | None, typer.Option("--min", help="Gate METRIC=VALUE: at least (repeatable).")
    ] = None,
    maximum: Annotated[
        list[str] | None, typer.Option("--max", help="Gate METRIC=VALUE: at most (repeatable).")
    ] = None,
    repeat: Annotated[
        int,
        typer.Option("--repeat", min=1, max=100, help="Ask every golden N times (LLM engines)."),
    ] = 1,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only goldens with this tag (repeatable).")
    ] = None,
    retrieval: Annotated[
        str | None,
        typer.Option(
            help="Judge hit@k/MRR/answer-recall on the assistant's search ('assistant') or the raw "
            "question ('question'); default: assistant, question for bench files."
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not cache LLM replies under INDEX/eval-cache/.")
    ] = False,
    questions_from: Annotated[
        str | None,
        typer.Option(
            "--questions-from", help="Bench files: only questions asked on/after YYYY-MM-DD."
        ),
    ] = None,
    questions_until: Annotated[
        str | None,
        typer.Option(
            "--questions-until", help="Bench files: only questions asked on/before YYYY-MM-DD."
        ),
    ] = None,
    bench_as_of: Annotated[
        bool,
        typer.Option(
            "--as-of/--no-as-of",
            help="Bench files: ask each question as of its own date (recency prior, relative dates).",
        ),
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No per-question progress.")] = False,
) -> None:
    """Run golden questions: pass/fail per question, metrics and gates; reports for CI.

    Exit codes: 0 every gate holds; 1 a gate failed (named on stderr); 2 bad golden file or
    arguments; 3 index problem; 4 the LLM engine cannot be reached.
    """
    from dataclasses import replace

    from newsrag import evaluation, evaluation_report
    from newsrag.assistant import Assistant
    from newsrag.goldens import GoldenFileError, load_goldens, parse_gate_option, select

    if retrieval not in (None, "assistant", "question"):
        raise fail(f"--retrieval must be assistant or question, not {retrieval!r}", EXIT_NOTHING)
    settings = load_settings(index_dir=index)
    try:
        golden_set = load_goldens(
            goldens,
            questions_from=questions_from,
            questions_until=questions_until,
            as_of=bench_as_of,
        )
        gates = [parse_gate_option(text, bound="min") for text in minimum or []]
        gates += [parse_gate_option(text, bound="max") for text in maximum or []]
        previous = evaluation_report.load_report(baseline) if baseline else None
    except (GoldenFileError, ValueError) as error:
        raise fail(str(error), EXIT_NOTHING) from error
    chosen = select(golden_set.goldens, tag or [])
    if not chosen:
        raise fail(f"no golden in {goldens} has the tag(s) {', '.join(tag or [])}", EXIT_NOTHING)
    try:
        assistant = Assistant.open(settings)
    except NewsragError as error:
        raise fail_for(error) from error

    def progress(position: int, total: int, result: dict[str, Any]) -> None:
        verdict = "PASS" if result["passed"] else "FAIL"
        typer.echo(f"[{position}/{total}] {result['id']} {verdict}", err=True)

    report = evaluation.run_evaluation(
        replace(golden_set, goldens=chosen),
        assistant,
        gates=gates,
        repeat=repeat,
        retrieval=retrieval,
        progress=None if quiet else progress,
        cache_dir=None if no_cache else Path(settings.index_dir) / "eval-cache",
    )
    if previous is not None:
        report["baseline"] = evaluation_report.compare_reports(report, previous)
    typer.echo(evaluation_report.render_table(report))
    if previous is not None:
        typer.echo("\n" + evaluation_report.render_comparison(report["baseline"]))
    if json_report:
        text = json.dumps(report, indent=2, ensure_ascii=False, default=str)
        evaluation_report.write_text_file(json_report, text + "\n")
    if junit:
        evaluation_report.write_text_file(junit, evaluation_report.render_junit(report))
    for line in evaluation_report.failed_gate_lines(report):
        typer.echo(line, err=True)
    if not report["passed"]:
        raise typer.Exit(EXIT_GATE_FAILED)
