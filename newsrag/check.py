"""Index consistency: the manifest, Chroma and BM25 agree (`newsrag check [--repair]`)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsrag.articles import iter_corpus
from newsrag.config import Settings
from newsrag.embedding import model_identity
from newsrag.errors import InputError
from newsrag.index import (
    IndexLayout,
    generation_matches,
    good_vectors,
    incomplete_articles,
    leftover_paths,
)
from newsrag.keyword import KeywordIndex, KeywordIndexError
from newsrag.manifest import Manifest, ManifestError, ingest_lock
from newsrag.store import StoreError, StoreMissingError, VectorStore

REPAIR_HINT = "`newsrag check --repair`"
EXAMPLES = 3  # ids named in a message


@dataclass(frozen=True)
class Finding:
    """One thing check found: a problem (makes the index inconsistent) or a harmless note."""

    code: str  # short stable name, e.g. "orphans_in_store"
    message: str  # one line: what is wrong and what to run
    problem: bool = True

    def line(self) -> str:
        """`problem: ...` or `note: ...`."""
        return f"{'problem' if self.problem else 'note'}: {self.message}"


@dataclass
class CheckReport:
    """What check found (after repairs, when asked to repair) and what it repaired."""

    index_dir: str
    findings: list[Finding] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    articles: int = 0
    manifest_chunks: int = 0
    store_chunks: int = 0
    keyword_chunks: int = 0
    model: str | None = None

    @property
    def problems(self) -> list[Finding]:
        """Findings that make the index inconsistent."""
        return [finding for finding in self.findings if finding.problem]

    @property
    def consistent(self) -> bool:
        """True when the manifest, Chroma and BM25 agree (notes allowed)."""
        return not self.problems

    def lines(self) -> list[str]:
        """The text `newsrag check` prints."""
        lines = [
            f"check: {self.index_dir} holds {self.articles} articles, {self.manifest_chunks} "
            f"chunks (chroma {self.store_chunks}, bm25 {self.keyword_chunks}); "
            f"model {self.model or '-'}"
        ]
        lines += [f"repaired: {repair}" for repair in self.repairs]
        lines += [finding.line() for finding in self.findings]
        if self.consistent:
            lines.append("ok: the manifest, Chroma and BM25 agree")
        return lines

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "index_dir": self.index_dir,
            "consistent": self.consistent,
            "articles": self.articles,
            "manifest_chunks": self.manifest_chunks,
            "store_chunks": self.store_chunks,
            "keyword_chunks": self.keyword_chunks,
            "model": self.model,
            "repairs": list(self.repairs),
            "findings": [
                {"code": item.code, "message": item.message, "problem": item.problem}
                for item in self.findings
            ],
        }


# ---- inspection -------------------------------------------------------------------------------


@dataclass
class _State:
    """What is on disk, read without changing anything."""

    manifest: Manifest | None = None
    store: VectorStore | None = None
    store_ids: set[str] = field(default_factory=set)
    store_damaged: bool = False
    keyword: KeywordIndex | None = None
    keyword_ids: set[str] = field(default_factory=set)
    keyword_damaged: bool = False
    generation_problem: str = ""
    findings: list[Finding] = field(default_factory=list)

    def add(self, code: str, message: str, *, problem: bool = True) -> None:
        self.findings.append(Finding(code, " ".join(message.split()), problem))


def _examples(items: Sequence[str] | set[str]) -> str:
    listed = sorted(items)
    more = f", ... ({len(listed) - EXAMPLES} more)" if len(listed) > EXAMPLES else ""
    return ", ".join(listed[:EXAMPLES]) + more


def _inspect(settings: Settings, corpus: Sequence[Path] | None) -> _State:
    index_dir = Path(settings.index_dir)
    state = _State()
    try:
        state.manifest = Manifest.load(index_dir)
    except ManifestError as error:
        state.add("manifest_unreadable", str(error))
    if state.manifest is not None and state.manifest.model is not None:
        wanted = model_identity(settings)
        if state.manifest.model != wanted:
            state.add(
                "model_mismatch",
                f"the index was built with embedding model {state.manifest.model!r}, the "
                f"settings ask for {wanted!r}: run `newsrag ingest --rebuild` (or set "
                "NEWSRAG_EMBEDDING_MODEL back); check cannot repair this",
            )
        elif (state.manifest.chunk_size, state.manifest.chunk_overlap) != (
            settings.chunk_size,
            settings.chunk_overlap,
        ):
            state.add(
                "chunking_changed",
                f"the index was chunked with size {state.manifest.chunk_size} / overlap "
                f"{state.manifest.chunk_overlap}, the settings say {settings.chunk_size} / "
                f"{settings.chunk_overlap}: run `newsrag ingest --rebuild` to apply them",
                problem=False,
            )
    _inspect_store(settings, state)
    _inspect_keyword(index_dir, state)
    if state.manifest is not None and not IndexLayout(index_dir).manifest.exists():
        if state.store_ids or state.keyword_ids:
            # Without a manifest no chunk can be judged an orphan: ingest rebuilds it, reusing them.
            state.add(
                "manifest_missing",
                f"{index_dir} holds {len(state.store_ids)} Chroma and {len(state.keyword_ids)} "
                "BM25 chunks but no manifest: run `newsrag ingest` to rebuild it (stored "
                "vectors are reused), or `newsrag ingest --rebuild` if they were made with "
                "another embedding model",
            )
    elif state.manifest is not None:
        _compare(state, state.manifest)
    if state.manifest is not None and corpus is not None:
        _compare_corpus(settings, state.manifest, corpus, state)
    _find_leftovers(index_dir, state)
    return state


def _inspect_store(settings: Settings, state: _State) -> None:
    try:
        state.store = VectorStore.open(settings=settings, create=False)
        state.store_ids = set(state.store.all_ids())
    except StoreMissingError:
        pass  # no vectors yet: every chunk the manifest lists is missing
    except StoreError as error:
        state.store_damaged = not settings.chroma_host
        fix = (
            f"{REPAIR_HINT} removes it, then `newsrag ingest` re-embeds"
            if state.store_damaged
            else "check the server, or run `newsrag ingest --rebuild`"
        )
        message = str(error)
        state.add("store_unreadable", message if "newsrag" in message else f"{message}: {fix}")
    except Exception as error:  # Chroma raises its own errors on damaged files
        state.store_damaged = not settings.chroma_host
        state.add(
            "store_unreadable",
            f"the Chroma index cannot be read ({type(error).__name__}: {error}): "
            f"{REPAIR_HINT} removes it, then `newsrag ingest` re-embeds",
        )


def _inspect_keyword(index_dir: Path, state: _State) -> None:
    keyword = KeywordIndex(index_dir, load=False)
    state.keyword = keyword
    if not keyword.root.exists():
        return
    try:
        state.keyword_ids = keyword.document_ids()
    except sqlite3.Error as error:
        state.keyword_damaged = True
        state.add(
            "keyword_unreadable",
            f"the BM25 documents in {keyword.root} cannot be read ({error}): {REPAIR_HINT} "
            "removes them, then `newsrag ingest` re-adds them (no re-embedding)",
        )
        return
    if not keyword.exists():
        if state.keyword_ids:
            state.generation_problem = "missing"
            state.add(
                "keyword_generation_missing",
                f"the BM25 index in {keyword.root} has documents but no built generation: "
                f"{REPAIR_HINT} rebuilds it",
            )
        return
    try:
        len(keyword)  # loads the generation searches would use
        listed = keyword.generation_ids() or []
    except (KeywordIndexError, ValueError, KeyError, OSError) as error:
        state.generation_problem = "unreadable"
        state.add(
            "keyword_generation_unreadable",
            f"the BM25 generation in {keyword.root} cannot be read ({error}): "
            f"{REPAIR_HINT} rebuilds it from its documents",
        )
        return
    if set(listed) != state.keyword_ids or len(listed) != len(state.keyword_ids):
        state.generation_problem = "stale"
        state.add(
            "keyword_generation_stale",
            f"the BM25 generation lists {len(listed)} chunks, its documents {len(state.keyword_ids)} "
            f"(an interrupted update): {REPAIR_HINT} rebuilds it",
        )


def _compare(state: _State, manifest: Manifest) -> None:
    owner: dict[str, str] = {}
    duplicated: set[str] = set()
    for article_id, record in manifest.articles.items():
        for chunk in record.chunk_ids:
            if chunk in owner:
                duplicated.add(chunk)
            owner[chunk] = article_id
    if duplicated:
        state.add(
            "duplicate_chunks",
            f"{len(duplicated)} chunk ids are listed under more than one article "
            f"({_examples(duplicated)}): {REPAIR_HINT} drops those articles for re-indexing",
        )
    expected = set(owner)
    spare = set(manifest.spare_chunks) & state.store_ids
    if spare:
        state.add(
            "spare_chunks",
            f"{len(spare)} embedded chunks in Chroma are kept for articles not indexed yet "
            "(an interrupted ingest's work): the next `newsrag ingest` reuses or removes them",
            problem=False,
        )
    sides = [("store", "Chroma", state.store_ids - spare, state.store_damaged)]
    sides.append(("keyword", "BM25", state.keyword_ids, state.keyword_damaged))
    for name, label, present, damaged in sides:
        if damaged:
            continue  # already reported as unreadable
        missing = expected - present
        if missing:
            articles = {owner[chunk] for chunk in missing}
            state.add(
                f"missing_in_{name}",
                f"{len(missing)} chunks of {len(articles)} indexed articles are missing from "
                f"{label} (articles {_examples(articles)}): {REPAIR_HINT} drops them from the "
                "manifest, then `newsrag ingest` indexes them again",
            )
        orphans = present - expected
        if orphans:
            state.add(
                f"orphans_in_{name}",
                f"{len(orphans)} chunks in {label} belong to no indexed article (left by an "
                f"interrupted ingest: {_examples(orphans)}): {REPAIR_HINT} or the next "
                "`newsrag ingest` deletes them",
            )


def _compare_corpus(
    settings: Settings, manifest: Manifest, corpus: Sequence[Path], state: _State
) -> None:
    hashes: dict[str, tuple[str, str]] = {}
    for _path, result in iter_corpus(corpus, settings=settings):
        for article in result.articles:
            hashes.setdefault(article.id, (article.content_hash, article.path))
    stale = [
        path
        for article_id, (content_hash, path) in hashes.items()
        if (record := manifest.articles.get(article_id)) is None
        or record.content_hash != content_hash
    ]
    if stale:
        state.add(
            "corpus_not_indexed",
            f"{len(stale)} articles of the corpus are not indexed or changed since "
            f"({_examples(stale)}): run `newsrag ingest`",
        )
    gone = [article_id for article_id in manifest.articles if article_id not in hashes]
    if gone:
        state.add(
            "not_in_corpus",
            f"{len(gone)} indexed articles are not in the corpus given ({_examples(gone)}): "
            "`newsrag ingest --prune` removes them",
            problem=False,
        )


def _find_leftovers(index_dir: Path, state: _State) -> None:
    leftovers = leftover_paths(index_dir)
    if leftovers:
        state.add(
            "leftover_files",
            f"{len(leftovers)} temporary files or folders of interrupted writes "
            f"({_examples([path.name for path in leftovers])}): harmless; {REPAIR_HINT} "
            "removes them",
            problem=False,
        )


# ---- repair -----------------------------------------------------------------------------------


def _repair(settings: Settings, state: _State, repairs: list[str]) -> None:
    index_dir = Path(settings.index_dir)
    if any(finding.code == "manifest_missing" for finding in state.findings):
        return  # only an ingest can rebuild the manifest
    if state.manifest is None:
        # Keep the vectors: without a manifest no chunk can be judged an orphan; ingest reuses them.
        broken = IndexLayout(index_dir).broken_manifest
        os.replace(IndexLayout(index_dir).manifest, broken)
        repairs.append(
            f"moved the unreadable manifest to {broken}; run `newsrag ingest` to rebuild it "
            "(stored vectors are reused), or `newsrag ingest --rebuild` if the index was built "
            "with another embedding model"
        )
        return
    if state.store_damaged:
        shutil.rmtree(IndexLayout(index_dir).chroma)
        repairs.append(f"removed the damaged Chroma folder {IndexLayout(index_dir).chroma}")
    if state.keyword_damaged:
        shutil.rmtree(IndexLayout(index_dir).keyword)
        repairs.append(f"removed the damaged BM25 folder {IndexLayout(index_dir).keyword}")
    if state.store_damaged or state.keyword_damaged:
        state = _inspect(settings, None)
    manifest = state.manifest
    if manifest is None:
        return
    keyword = state.keyword if state.keyword is not None else KeywordIndex(index_dir, load=False)
    store = state.store
    dropped = set(incomplete_articles(manifest, store=store, keyword=keyword))
    dropped |= _articles_with_duplicate_chunks(manifest)
    if dropped:
        for article_id in dropped:
            del manifest.articles[article_id]
        manifest.save(index_dir)
        repairs.append(
            f"dropped {len(dropped)} articles with missing chunks from the manifest "
            f"({_examples(dropped)}): run `newsrag ingest` to index them again"
        )
    expected = {chunk for record in manifest.articles.values() for chunk in record.chunk_ids}
    if store is None and IndexLayout(index_dir).chroma.exists():
        store = VectorStore.open(settings=settings, create=True)
    if store is not None:
        _keep_spare_vectors(index_dir, manifest, expected, store, repairs)
    if store is not None or keyword.root.exists():
        _remove_all_orphans(expected, set(manifest.spare_chunks), store, keyword, repairs)
    for path in leftover_paths(index_dir):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        repairs.append(f"removed leftover {path}")


def _articles_with_duplicate_chunks(manifest: Manifest) -> set[str]:
    owners: dict[str, list[str]] = {}
    for article_id, record in manifest.articles.items():
        for chunk in record.chunk_ids:
            owners.setdefault(chunk, []).append(article_id)
    return {article for names in owners.values() if len(names) > 1 for article in names}


def _keep_spare_vectors(
    index_dir: Path, manifest: Manifest, owned: set[str], store: VectorStore, repairs: list[str]
) -> None:
    """Keep stored chunks no article owns yet but whose vectors are whole, listed as spare.

    They are an interrupted ingest's work: deleting them made the next ingest embed them again.
    """
    unowned = sorted(set(store.all_ids()) - owned)
    keep = tuple(sorted(good_vectors(store, unowned, manifest.dimension))) if unowned else ()
    if keep == manifest.spare_chunks:
        return
    added = len(set(keep) - set(manifest.spare_chunks))
    manifest.spare_chunks = keep
    manifest.save(index_dir)
    if added:
        repairs.append(
            f"kept {added} embedded chunks that no indexed article owns yet (their vectors are "
            "whole) as spare in the manifest: the next `newsrag ingest` reuses them instead of "
            "embedding again"
        )


def _remove_all_orphans(
    expected: set[str],
    spare: set[str],
    store: VectorStore | None,
    keyword: KeywordIndex,
    repairs: list[str],
) -> None:
    if store is not None:  # spare chunks stay in Chroma; BM25 documents are cheap to redo
        orphans = sorted(set(store.all_ids()) - expected - spare)
        if orphans:
            store.delete_chunks(orphans)
            repairs.append(f"deleted {len(orphans)} orphan chunks from Chroma")
    documents = keyword.document_ids()
    orphans = sorted(documents - expected)
    if orphans:
        keyword.delete_chunks(orphans)
        repairs.append(f"deleted {len(orphans)} orphan chunks from BM25 and rebuilt it")
    elif not generation_matches(keyword, documents) or _unloadable(keyword):
        keyword.rebuild()
        repairs.append(f"rebuilt the BM25 index from its {len(documents)} documents")


def _unloadable(keyword: KeywordIndex) -> bool:
    try:
        KeywordIndex(keyword.root.parent)  # loads the current generation, if any
    except KeywordIndexError:
        return True
    return False


# ---- entry point ------------------------------------------------------------------------------


def check_index(
    settings: Settings, *, repair: bool = False, corpus: Sequence[Path] | None = None
) -> CheckReport:
    """Verify that the manifest, Chroma and BM25 agree (and the corpus, if given); repair on request.

    Holds the ingest lock (IngestLockedError while an ingest runs). With repair=True the report
    lists the repairs made and describes the index as it is afterwards.
    """
    index_dir = Path(settings.index_dir)
    if repair and settings.chroma_host:
        # The server's chunks would be judged against this folder's copy of the manifest (which
        # may be behind) while another machine ingests: repairs are not safe there.
        raise InputError(
            "check --repair does not repair an index on a Chroma server (NEWSRAG_CHROMA_HOST): "
            "run `newsrag ingest --rebuild` to rebuild it, or `newsrag check` without --repair"
        )
    report = CheckReport(index_dir=str(index_dir))
    if not index_dir.is_dir():
        report.findings.append(
            Finding("no_index", f"no index in {index_dir}: run `newsrag ingest` to build one")
        )
        return report
    with ingest_lock(index_dir) as lock_notes:
        state = _inspect(settings, corpus)
        if repair and any(
            finding.problem or finding.code == "leftover_files" for finding in state.findings
        ):
            _repair(settings, state, report.repairs)
            state = _inspect(settings, corpus)
    report.findings = state.findings + [
        Finding("lock_taken_over", note, problem=False) for note in lock_notes
    ]
    if state.manifest is not None:
        report.articles = len(state.manifest.articles)
        report.manifest_chunks = state.manifest.chunk_count
        report.model = state.manifest.model
    report.store_chunks = len(state.store_ids)
    report.keyword_chunks = len(state.keyword_ids)
    return report
