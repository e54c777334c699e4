"""The retrieval commands: `newsrag search` (with --explain) and `stats`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from newsrag.cli_common import (
    IndexOption,
    JsonOption,
    SinceOption,
    SourceOption,
    UntilOption,
    fail,
    fail_for,
    load_settings,
    open_retriever,
)
from newsrag.errors import EXIT_NOTHING, NewsragError


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
