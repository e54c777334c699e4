"""The index commands: `newsrag ingest`, `watch` and `check`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from newsrag.cli_common import (
    EXIT_SKIPPED,
    IndexOption,
    JsonOption,
    fail,
    fail_for,
    load_settings,
)
from newsrag.errors import EXIT_NOTHING, NewsragError


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
