"""Command line: `newsrag ingest / search / stats` (and the commands later stages add)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from newsrag.config import Settings

app = typer.Typer(
    name="newsrag",
    help="Chat and Q&A over a corpus of news articles, every claim cited to its passage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Exit codes, shared by every command.
EXIT_OK = 0
EXIT_SKIPPED = 1  # --strict and something was skipped
EXIT_NOTHING = 2  # nothing could be read, or bad arguments
EXIT_INDEX = 3  # index missing, locked, built with another model, store unreachable


def fail(message: str, code: int) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_settings(**overrides: Any) -> Settings:
    """Settings from env/.env with command-line overrides (None means: not given)."""
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)
    except Exception as error:  # pydantic ValidationError: name the field
        raise fail(f"bad setting: {error}".replace("\n", " "), EXIT_NOTHING) from error


IndexOption = Annotated[
    Path | None,
    typer.Option("--index", help="Index folder (default: NEWSRAG_INDEX_DIR or index/)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


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
) -> None:
    """Index articles: new and changed ones are embedded, unchanged ones skipped.

    Exit codes: 0 done; 1 something skipped (with --strict); 2 nothing could be read;
    3 index problem (locked by another ingest, other model, store unreachable).
    """
    from newsrag.ingest import ingest as run_ingest
    from newsrag.manifest import IngestLockedError, ManifestError
    from newsrag.store import StoreError

    settings = load_settings(index_dir=index)
    targets = list(paths) if paths else [Path(settings.corpus_dir)]
    missing = [str(path) for path in targets if not path.exists()]
    if missing:
        raise fail(f"no such file or folder: {', '.join(missing)}", EXIT_NOTHING)
    try:
        report = run_ingest(
            targets, settings=settings, prune=prune, rebuild=rebuild, progress=not quiet
        )
    except (IngestLockedError, ManifestError, StoreError) as error:
        raise fail(str(error), EXIT_INDEX) from error
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
    if strict and report.skipped:
        raise typer.Exit(EXIT_SKIPPED)


def open_retriever(settings: Settings) -> Any:
    """Open the retriever or exit with a one-line reason."""
    from newsrag.manifest import ManifestError
    from newsrag.retrieval import IndexMissingError, Retriever
    from newsrag.store import StoreError

    try:
        return Retriever.open(settings)
    except (IndexMissingError, ManifestError, StoreError) as error:
        raise fail(str(error), EXIT_INDEX) from error


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    k: Annotated[int | None, typer.Option("-k", "--k", help="Number of passages.")] = None,
    since: Annotated[str | None, typer.Option(help="Only articles on/after YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Only articles on/before YYYY-MM-DD.")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only this outlet (repeatable).")
    ] = None,
    mode: Annotated[str, typer.Option(help="hybrid, dense or keyword.")] = "hybrid",
    index: IndexOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the best-matching passages with title, outlet, date and score."""
    from newsrag.retrieval import QueryError

    if mode not in ("hybrid", "dense", "keyword"):
        raise fail(f"--mode must be hybrid, dense or keyword, not {mode!r}", EXIT_NOTHING)
    settings = load_settings(index_dir=index)
    retriever = open_retriever(settings)
    try:
        hits = retriever.search(query, k, since=since, until=until, sources=source, mode=mode)
    except QueryError as error:
        raise fail(str(error), EXIT_NOTHING) from error
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
        typer.echo("    " + " ".join(hit.chunk.text.split()))
        typer.echo("")


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


def main() -> None:
    """Console-script entry point."""
    app(prog_name="newsrag")


if __name__ == "__main__":  # pragma: no cover
    main()
