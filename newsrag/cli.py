"""Command line: `newsrag ingest / search / stats` (and the commands later stages add)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from newsrag.cli_help import FlagsAsFlags, describe_settings_error
from newsrag.config import Settings
from newsrag.errors import EXIT_ENGINE, EXIT_INDEX, EXIT_NOTHING, NewsragError, outcome

app = typer.Typer(
    cls=FlagsAsFlags,
    name="newsrag",
    help="Chat and Q&A over a corpus of news articles, every claim cited to its passage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Exit codes, shared by every command (an error's code comes from its class: errors.py).
EXIT_OK = 0
EXIT_SKIPPED = 1  # --strict and something was skipped
__all__ = ["EXIT_ENGINE", "EXIT_INDEX", "EXIT_NOTHING", "EXIT_OK", "EXIT_SKIPPED", "app", "main"]


def fail(message: str, code: int) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def fail_for(error: NewsragError) -> typer.Exit:
    """Print the error's one line and return the Exit its class maps to (docs/errors.md)."""
    found = outcome(error)
    assert found is not None  # a NewsragError always has an outcome
    return fail(found.message, found.exit_code)


def load_settings(**overrides: Any) -> Settings:
    """Settings from env/.env with command-line overrides (None means: not given)."""
    from pydantic import ValidationError

    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as error:  # one line naming the variable, not pydantic's dump
        raise fail(describe_settings_error(error, given), EXIT_NOTHING) from error


IndexOption = Annotated[
    Path | None,
    typer.Option("--index", help="Index folder (default: NEWSRAG_INDEX_DIR or index/)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
# The question's filters, the same on search, ask and chat (make_question checks them).
SinceOption = Annotated[str | None, typer.Option(help="Only articles on/after YYYY-MM-DD.")]
UntilOption = Annotated[str | None, typer.Option(help="Only articles on/before YYYY-MM-DD.")]
SourceOption = Annotated[
    list[str] | None, typer.Option("--source", help="Only this outlet (repeatable).")
]
AnswerKOption = Annotated[int | None, typer.Option("-k", "--k", help="Passages to answer from.")]


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Files or folders (default: the corpus folder).")
    ] = None,
    index: IndexOption = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete articles whose files are gone.")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Delete the index and embed everything again.")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any file, line or row was skipped.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    as_json: JsonOption = False,
    url: Annotated[
        list[str] | None,
        typer.Option("--url", help="Fetch this article page into corpus/feeds/ (repeatable)."),
    ] = None,
    feed: Annotated[
        list[str] | None,
        typer.Option(
            "--feed",
            help="Fetch every new item of this RSS/Atom feed; `watch` keeps it (repeatable).",
        ),
    ] = None,
) -> None:
    """Index articles: new and changed ones are embedded, unchanged ones skipped.

    With --url/--feed, the pages are fetched first (text by trafilatura) and saved as Markdown under CORPUS/feeds/, then only those files are ingested (plus any PATHS given).

    Exit codes: 0 done; 1 something skipped (with --strict); 2 nothing could be read;
    3 index problem (locked by another ingest, other model, store unreachable).
    """
    from newsrag.ingest import ingest as run_ingest

    settings = load_settings(index_dir=index)
    fetched_skips: list[Any] = []
    targets: list[Path] = list(paths or [])
    if url or feed:
        from newsrag.feeds import fetch_sources, remember_feeds

        fetched = fetch_sources(urls=url or (), feeds=feed or (), settings=settings)
        remember_feeds(feed or (), settings=settings)
        fetched_skips = fetched.skipped
        for item in fetched_skips:
            typer.echo(f"skipped: {item.message()}", err=True)
        typer.echo(fetched.summary(), err=as_json)
        targets.extend(fetched.saved)
        if not targets and not fetched.known:
            raise fail(
                "nothing could be fetched from " + ", ".join([*(url or ()), *(feed or ())]),
                EXIT_NOTHING,
            )
        if not targets:
            return  # every link was fetched before: the index already has them
    targets = targets or [Path(settings.corpus_dir)]
    missing = [str(path) for path in targets if not path.exists()]
    if missing:
        raise fail(f"no such file or folder: {', '.join(missing)}", EXIT_NOTHING)
    try:
        report = run_ingest(
            targets, settings=settings, prune=prune, rebuild=rebuild, progress=not quiet
        )
    except NewsragError as error:
        raise fail_for(error) from error
    for item in report.warnings:
        typer.echo(f"warning: {item.message()}", err=True)
    for item in report.skipped:
        typer.echo(f"skipped: {item.message()}", err=True)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(report.summary())
    if report.ingested == 0 and report.removed == 0:
        raise fail("nothing could be read from " + ", ".join(map(str, targets)), EXIT_NOTHING)
    if strict and (report.skipped or fetched_skips):
        raise typer.Exit(EXIT_SKIPPED)


@app.command()
def watch(
    feed: Annotated[
        list[str] | None,
        typer.Option("--feed", help="Also re-read this RSS/Atom feed (repeatable)."),
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between runs.")
    ] = 300.0,
    runs: Annotated[
        int | None, typer.Option("--runs", min=1, help="Stop after N runs (default: never).")
    ] = None,
    index: IndexOption = None,
) -> None:
    """Re-read feeds (--feed and those of `ingest --feed`) and the corpus folder on an interval.

    Each run fetches only links not fetched before, ingests only new or changed files, and prints one log line. Stop it with Ctrl-C.
    """
    from newsrag.embedding import Embedder
    from newsrag.feeds import watch as run_watch

    settings = load_settings(index_dir=index)
    embedder = Embedder.load(settings=settings)  # once, not per run
    try:
        run_watch(
            settings=settings,
            feeds=feed or (),
            interval=interval,
            runs=runs,
            log=lambda line: typer.echo(line),
            embedder=embedder,
        )
    except NewsragError as error:
        raise fail_for(error) from error
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def open_retriever(settings: Settings) -> Any:
    """Open the retriever or exit with a one-line reason."""
    from newsrag.retrieval import Retriever

    try:
        return Retriever.open(settings)
    except NewsragError as error:
        raise fail_for(error) from error


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    k: Annotated[int | None, typer.Option("-k", "--k", help="Number of passages.")] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or keyword.")] = "hybrid",
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Asked on YYYY-MM-DD: newer news ranks higher (soft)."),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Show dense and BM25 ranks/scores and each prior per hit."),
    ] = False,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the best-matching passages with title, outlet, date and score."""

    if mode not in ("hybrid", "dense", "keyword"):
        raise fail(f"--mode must be hybrid, dense or keyword, not {mode!r}", EXIT_NOTHING)
    settings = load_settings(index_dir=index)
    retriever = open_retriever(settings)
    try:
        hits = retriever.search(
            query,
            k,
            since=since,
            until=until,
            sources=source,
            mode=mode,
            as_of=as_of,
            explain=explain,
        )
    except NewsragError as error:
        raise fail_for(error) from error
    if as_json:
        typer.echo(json.dumps([hit.to_dict() for hit in hits], indent=2, ensure_ascii=False))
        return
    if not hits:
        typer.echo("No passages match.")
        return
    for rank, hit in enumerate(hits, start=1):
        meta = hit.article
        facts = " · ".join(part for part in (meta.source, meta.date or "undated") if part)
        typer.echo(f"[{rank}] {meta.title} — {facts}  (score {hit.score:.4f})")
        if meta.url:
            typer.echo(f"    {meta.url}")
        if explain:
            typer.echo("    " + explain_line(hit))
        typer.echo("    " + " ".join(hit.chunk.text.split()))
        typer.echo("")


def explain_line(hit: Any) -> str:
    """One line on why a hit ranked where it did (search --explain)."""

    def side(rank: int | None, score: float | None, normalised: float | None) -> str:
        if rank is None or score is None:
            return "not listed"
        return f"#{rank} score {score:.4f}" + (
            f" (normalised {normalised:.3f})" if normalised is not None else ""
        )

    why = hit.explain or {}
    priors = ", ".join(f"{name} {value:+.4f}" for name, value in why.get("priors", {}).items())
    return (
        f"dense {side(hit.dense_rank, hit.dense_score, why.get('dense_normalised'))}; "
        f"BM25 {side(hit.keyword_rank, hit.keyword_score, why.get('keyword_normalised'))}; "
        f"{why.get('fusion', '?')} {why.get('fused', 0.0):.4f}; "
        f"priors: {priors or 'none'}" + (f" (as of {why['as_of']})" if why.get("as_of") else "")
    )


@app.command()
def stats(index: IndexOption = None, as_json: JsonOption = False) -> None:
    """Show articles, chunks, model, date span, index size and the last ingest."""
    settings = load_settings(index_dir=index)
    facts = open_retriever(settings).facts()
    if as_json:
        typer.echo(json.dumps(facts.to_dict(), indent=2, ensure_ascii=False))
        return
    last = facts.last_ingest
    lines = [
        f"articles:    {facts.articles}",
        f"chunks:      {facts.chunks}",
        f"model:       {facts.model}",
        f"dates:       {facts.date_from or '-'} .. {facts.date_to or '-'}",
        f"outlets:     {', '.join(facts.sources) or '-'}",
        f"store:       {facts.store}",
        f"index size:  {facts.size_bytes / 1_000_000:.1f} MB",
        f"last ingest: {last.get('finished_at', '-')} ({last.get('added', 0)} added, "
        f"{last.get('updated', 0)} updated, {last.get('removed', 0)} removed, "
        f"{last.get('skipped_count', 0)} skipped)",
    ]
    typer.echo("\n".join(lines))


@app.command()
def serve(
    api_only: Annotated[
        bool, typer.Option("--api-only", help="Serve the HTTP API without the web UI.")
    ] = False,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default: NEWSRAG_HOST or 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: NEWSRAG_PORT or 7860).")] = None,
    index: IndexOption = None,
) -> None:
    """Serve the HTTP API (/api, /v1, docs at /docs) and the web UI until Ctrl-C.

    Exit codes: 2 refused settings (public address without NEWSRAG_API_KEY); 3 index problem.
    """
    from newsrag.server import run_server

    settings = load_settings(index_dir=index, host=host, port=port)
    try:
        run_server(settings, api_only=api_only)
    except NewsragError as error:
        raise fail_for(error) from error


@app.command()
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Corpus files or folders to compare with the index (optional)."),
    ] = None,
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix what can be fixed and say what was done.")
    ] = False,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Verify that the manifest, Chroma and BM25 agree (and the corpus, if given).

    Exit codes: 0 consistent; 1 problems found (or left after --repair); 3 an ingest is running.
    """
    from newsrag.check import check_index

    settings = load_settings(index_dir=index)
    missing = [str(path) for path in paths or [] if not path.exists()]
    if missing:
        raise fail(f"no such file or folder: {', '.join(missing)}", EXIT_NOTHING)
    try:
        report = check_index(settings, repair=repair, corpus=paths or None)
    except NewsragError as error:
        raise fail_for(error) from error
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo("\n".join(report.lines()))
    if not report.consistent:
        raise typer.Exit(EXIT_SKIPPED)


EXIT_GATE_FAILED = 1  # eval: a gate failed (the failing metric is named on stderr)


@app.command("eval")
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


EngineOption = Annotated[
    str | None,
    typer.Option("--engine", help="extractive, openai or ollama (default: NEWSRAG_ENGINE)."),
]


def open_assistant(settings: Settings) -> Any:
    """Open the index and the answer engine or exit with a one-line reason."""
    from newsrag.assistant import Assistant

    retriever = open_retriever(settings)
    try:
        return Assistant.open(settings, retriever=retriever)
    except NewsragError as error:
        raise fail_for(error) from error


def _as_of_date(value: str | None) -> Any:
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as error:
        raise fail(f"--as-of {value!r} is not a date: use YYYY-MM-DD", EXIT_NOTHING) from error


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    k: AnswerKOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Read 'last week' etc. from YYYY-MM-DD.")
    ] = None,
    engine: EngineOption = None,
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Answer a question from the articles, each sentence cited [n], sources listed below.

    Exit codes: 0 answered or refused; 2 bad question or option; 3 index problem;
    4 the LLM endpoint is down, failing or too slow.
    """
    from newsrag.answer_text import render_answer_text

    settings = load_settings(index_dir=index, engine=engine)
    day = _as_of_date(as_of)
    assistant = open_assistant(settings)
    try:
        answer = assistant.ask(question, k=k, since=since, until=until, sources=source, as_of=day)
    except NewsragError as error:
        raise fail_for(error) from error
    if as_json:
        typer.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        text = render_answer_text(answer)
        if sys.stdout.isatty():  # wrapped for a person; piped output keeps one line per claim
            from newsrag.chat_terminal import terminal_width, wrap

            text = wrap(text, terminal_width())
        typer.echo(text)


@app.command()
def chat(
    k: AnswerKOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    source: SourceOption = None,
    engine: EngineOption = None,
    index: IndexOption = None,
) -> None:
    """A conversation in the terminal: follow-ups keep context, arrows recall earlier lines.

    Commands: /help, /sources, /since DATE, /until DATE, /new, /quit. History is kept in
    NEWSRAG_CHAT_HISTORY_FILE. Exit codes: 0 /quit or Ctrl-D; 130 Ctrl-C; 2 bad option; 3 index.
    """
    import datetime as dt

    from newsrag.chat_terminal import ChatSession, run_chat

    settings = load_settings(index_dir=index, engine=engine)
    days: dict[str, dt.date | None] = {}
    for name, value in (("since", since), ("until", until)):
        try:
            days[name] = dt.date.fromisoformat(value) if value else None
        except ValueError as error:
            raise fail(f"--{name} {value!r} is not a date: use YYYY-MM-DD", EXIT_NOTHING) from error
    session = ChatSession(open_assistant(settings))
    history = Path(settings.chat_history_file).expanduser() if settings.chat_history_file else None
    run_chat(
        session,
        errors=(NewsragError,),
        history_file=history,
        k=k,
        sources=source,
        **days,
    )


def main() -> None:
    """Console-script entry point; a newsrag error no command caught is still one line."""
    try:
        app(prog_name="newsrag")
    except NewsragError as error:
        sys.exit(fail_for(error).exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
