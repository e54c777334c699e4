"""Crash-safe ingest (SIGKILL at chosen stages), concurrent use, corrupt or foreign indexes.

Subprocess tests load the model in each child: there are four of them, the rest run in-process.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from newsrag.check import check_index
from newsrag.cli import EXIT_INDEX, EXIT_OK, app
from newsrag.config import Settings
from newsrag.ingest import ingest
from newsrag.manifest import ArticleRecord, Manifest
from newsrag.retrieval import Retriever
from tests.conftest import REPO_ROOT, SEEDS_DIR
from tests.test_check import assert_index_matches_corpus

runner = CliRunner()
MAYOR = "Who is the mayor of Makhmour?"
QARACHOKH = "How long did the airstrikes on Qarachokh mountain last?"
WAIT_SECONDS = (
    300  # upper bound for a child to reach a stage on a loaded machine (not a timing test)
)
# Each story is about one chunk; made-up names make presence and absence easy to prove.
STORIES = {
    "harbor": ("Festival fills Portville harbor", "The lantern festival in Portville"),
    "bridge": ("Zorblatt bridge closed", "The Zorblatt bridge over the Varna river"),
    "comet": ("Mount Teller observatory finds a comet", "Astronomers at Mount Teller"),
    "school": ("Glimmerdale opens a school", "The village of Glimmerdale"),
    "wind": ("Osterfield wind farm approved", "Regulators approved the Osterfield wind farm"),
    "ferry": ("Brackwater ferry resumes", "The Brackwater ferry service"),
}


def write_story(corpus: Path, key: str, *, lead: str | None = None) -> None:
    title, opening = STORIES[key]
    body = (
        f"{lead or opening} drew attention on Monday, officials said. Residents described the "
        "news as important for the region, and local leaders promised further updates soon."
    )
    text = f"---\ntitle: {title}\ndate: 2021-03-0{len(key) % 9 + 1}\nsource: Test Wire\n---\n"
    (corpus / f"{key}.md").write_text(text + body + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def base_index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Settings:
    """Seeds plus three stories, ingested once in this process."""
    folder = tmp_path_factory.mktemp("base")
    corpus = folder / "corpus"
    corpus.mkdir()
    for path in SEEDS_DIR.glob("*.txt"):
        shutil.copy(path, corpus / path.name)
    for key in ("harbor", "bridge", "comet"):
        write_story(corpus, key)
    settings = Settings(corpus_dir=corpus, index_dir=folder / "index")
    report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert report.added == 5, report.summary()
    return settings


@pytest.fixture
def base_copy(base_index: Settings, tmp_path: Path) -> tuple[Settings, Path]:
    """A private copy of the base index and its corpus."""
    index_dir, corpus = tmp_path / "index", tmp_path / "corpus"
    shutil.copytree(base_index.index_dir, index_dir, ignore=shutil.ignore_patterns("*.lock"))
    shutil.copytree(base_index.corpus_dir, corpus)
    return Settings(corpus_dir=corpus, index_dir=index_dir), corpus


def change_corpus(corpus: Path) -> None:
    """One update, one deletion, three new stories: 4 chunks to embed, 1 article to prune."""
    write_story(corpus, "harbor", lead="The candle festival in Portville")
    (corpus / "bridge.md").unlink()
    for key in ("school", "wind", "ferry"):
        write_story(corpus, key)


def start_ingest(
    settings: Settings, corpus: Path, marker: Path, *, stages: str, pause_seconds: float
) -> tuple[subprocess.Popen[bytes], Path]:
    """`newsrag ingest --prune` in a child that writes one chunk per Chroma group and pauses."""
    log = marker.with_suffix(".log")
    environment = {
        **os.environ,
        "NEWSRAG_TEST_PAUSE_AT": stages,
        "NEWSRAG_TEST_PAUSE_MARKER": str(marker),
        "NEWSRAG_TEST_PAUSE_SECONDS": str(pause_seconds),
        "HF_HUB_OFFLINE": "1",
    }
    code = "import newsrag.ingest as i; i.WRITE_GROUP = 1; from newsrag.cli import main; main()"
    command = [sys.executable, "-c", code, "ingest", str(corpus), "--prune", "-q"]
    command += ["--index", str(settings.index_dir)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=environment, cwd=REPO_ROOT, stdout=output, stderr=subprocess.STDOUT
        )
    return process, log


def stages_reached(marker: Path) -> list[str]:
    return marker.read_text(encoding="utf-8").split() if marker.exists() else []


def wait_for_stage(process: subprocess.Popen[bytes], marker: Path, log: Path, stage: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while stage not in stages_reached(marker):
        if process.poll() is not None:
            pytest.fail(f"ingest ended ({process.returncode}) before {stage}: {log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"ingest did not reach {stage}: {log.read_text()}")
        time.sleep(0.05)


def top_text(retriever: Retriever, question: str, mode: str = "hybrid") -> str:
    hits = retriever.search(question, 1, mode=mode)
    return hits[0].chunk.text if hits else ""


def assert_seed_answers(retriever: Retriever) -> None:
    assert "Rizgar Mohammed" in top_text(retriever, MAYOR)
    assert "two days" in top_text(retriever, QARACHOKH)


def assert_changes_applied(retriever: Retriever) -> None:
    """The crashed run's changes, as a completed run leaves them (dense and keyword alike)."""
    for mode in ("dense", "keyword"):
        assert "Osterfield" in top_text(retriever, "Osterfield wind farm approval", mode)
        assert "candle festival" in top_text(retriever, "Portville festival", mode)
    for gone in ("Zorblatt", "lantern"):  # the pruned article and the old version
        assert retriever.search(gone, 5, mode="keyword") == []


# Problems `check` must see after a kill at each stage (the manifest is always the old one).
KILL_POINTS = [
    ("embedding", {"orphans_in_store"}, "ingest"),
    ("after_store", {"orphans_in_store", "missing_in_store"}, "repair"),
    ("manifest", {"orphans_in_store", "missing_in_store", "orphans_in_keyword",
                  "missing_in_keyword"}, "ingest"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "problems", "recovery"), KILL_POINTS)
def test_sigkill_during_ingest_then_rerun_gives_a_consistent_index(
    tmp_path: Path, base_copy, embedder, stage: str, problems: set[str], recovery: str
) -> None:
    settings, corpus = base_copy
    before = Manifest.load(settings.index_dir)
    change_corpus(corpus)
    marker = tmp_path / "stages"
    process, log = start_ingest(settings, corpus, marker, stages=stage, pause_seconds=600)
    try:
        wait_for_stage(process, marker, log, stage)
        # Searches keep answering from the half-written index while the ingest is stopped here.
        reader = Retriever.open(settings, embedder=embedder)
        assert_seed_answers(reader)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL

    assert Manifest.load(settings.index_dir).articles == before.articles  # written last
    found = check_index(settings)  # the lock died with the process: nothing to wait for
    assert {item.code for item in found.problems} == problems, found.lines()
    assert stage != "manifest" or "leftover_files" in {item.code for item in found.findings}

    if recovery == "repair":
        repaired = runner.invoke(app, ["check", "--repair", "--index", str(settings.index_dir)])
        assert repaired.exit_code == EXIT_OK, repaired.output
        # The four chunks embedded before the kill are kept, not deleted as orphans (issue 18/9).
        assert "repaired: kept 4 embedded chunks that no indexed article owns" in repaired.output
        assert "orphan chunks from Chroma" not in repaired.output
    rerun = ingest([corpus], settings=settings, prune=True, progress=False, embedder=embedder)
    assert rerun.total_articles == 7
    if stage == "embedding":  # resumed: the chunk written before the kill is not embedded again
        assert (rerun.chunks_reused, rerun.chunks_embedded) == (1, 3)
    else:  # everything was embedded before the kill: after an ingest, or a repair, nothing again
        assert rerun.chunks_embedded == 0
    assert_index_matches_corpus(settings, corpus)
    assert_seed_answers(reader)
    assert_changes_applied(reader)  # the reader opened mid-ingest sees the finished index


@pytest.mark.slow
def test_searches_work_during_an_ingest_and_a_second_ingest_is_refused(
    tmp_path: Path, base_copy, embedder
) -> None:
    settings, corpus = base_copy
    reader = Retriever.open(settings, embedder=embedder)
    change_corpus(corpus)
    marker = tmp_path / "stages"
    stages = "embedding,after_store,after_keyword,manifest"
    process, log = start_ingest(settings, corpus, marker, stages=stages, pause_seconds=2)
    searched_at: set[str] = set()
    refused = None
    deadline = time.monotonic() + WAIT_SECONDS + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:
            reached = stages_reached(marker)
            assert_seed_answers(reader)  # correct results, never an exception
            if reached and process.poll() is None:
                searched_at.add(reached[-1])
            if reached and refused is None:
                refused = runner.invoke(
                    app, ["ingest", str(corpus), "-q", "--index", str(settings.index_dir)]
                )
            time.sleep(0.2)  # leave the writer CPU time: the point is overlap, not load
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == 0, log.read_text()
    assert searched_at, "no search ran while the ingest was under way"
    assert refused is not None and refused.exit_code == EXIT_INDEX
    assert "another ingest" in refused.output and "Traceback" not in refused.output
    assert_index_matches_corpus(settings, corpus)
    assert_seed_answers(reader)
    assert_changes_applied(reader)  # the long-lived reader picks up the finished ingest


# ---- corrupt or foreign index: one clear line through the CLI, and the advice works -----------


@pytest.fixture
def copied(seed_index: Settings, seed_corpus: Path, tmp_path: Path) -> tuple[Settings, Path]:
    index_dir, corpus = tmp_path / "index", tmp_path / "corpus"
    shutil.copytree(seed_index.index_dir, index_dir, ignore=shutil.ignore_patterns("*.lock"))
    shutil.copytree(seed_corpus, corpus)
    return Settings(corpus_dir=corpus, index_dir=index_dir), corpus


def run_cli(*arguments: str):
    result = runner.invoke(app, list(arguments))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def assert_clear_failure(settings: Settings, corpus: Path, *advice: str) -> None:
    index = ["--index", str(settings.index_dir)]
    for command in (["search", MAYOR], ["stats"], ["ingest", str(corpus), "-q"]):
        result = run_cli(*command, *index)
        assert result.exit_code == EXIT_INDEX, (command, result.output)
        lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, result.output
        assert all(hint in lines[0] for hint in advice), lines[0]


def test_truncated_manifest(copied) -> None:
    settings, corpus = copied
    path = Path(settings.index_dir) / "manifest.json"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert_clear_failure(settings, corpus, "manifest.json", "newsrag check --repair")


def test_deleted_chroma_database(copied, embedder) -> None:
    settings, corpus = copied
    (Path(settings.index_dir) / "chroma" / "chroma.sqlite3").unlink()
    assert_clear_failure(settings, corpus, "chroma.sqlite3", "newsrag check --repair")
    repaired = run_cli("check", "--repair", "--index", str(settings.index_dir))
    assert repaired.exit_code == EXIT_OK and "removed the damaged Chroma folder" in repaired.output
    report = ingest([corpus], settings=settings, progress=False, embedder=embedder)
    assert report.added == 2
    assert_index_matches_corpus(settings, corpus)
    assert_seed_answers(Retriever.open(settings, embedder=embedder))


def test_damaged_bm25_generation_fails_at_open_not_mid_search(copied, embedder) -> None:
    settings, corpus = copied
    keyword = Path(settings.index_dir) / "keyword"
    (keyword / (keyword / "current").read_text().strip() / "meta.json").write_text("{")
    result = run_cli("search", MAYOR, "--index", str(settings.index_dir))
    assert result.exit_code == EXIT_INDEX and "newsrag check --repair" in result.output
    assert run_cli("check", "--repair", "--index", str(settings.index_dir)).exit_code == EXIT_OK
    assert_index_matches_corpus(settings, corpus)
    assert_seed_answers(Retriever.open(settings, embedder=embedder))


def test_index_built_with_another_model(copied) -> None:
    settings, corpus = copied
    manifest = Manifest.load(settings.index_dir)
    manifest.model = "sentence-transformers/paraphrase-MiniLM-L3-v2"
    manifest.save(settings.index_dir)
    assert_clear_failure(settings, corpus, "paraphrase-MiniLM-L3-v2", "newsrag ingest --rebuild")


def test_a_running_reader_survives_a_rebuild(copied, embedder) -> None:
    settings, corpus = copied
    reader = Retriever.open(settings, embedder=embedder)
    assert_seed_answers(reader)
    target = next(corpus.glob("003_*.txt"))
    target.write_text(target.read_text("utf-8").replace("Rizgar Mohammed", "Zozan Ahmed"), "utf-8")
    ingest([corpus], settings=settings, rebuild=True, progress=False, embedder=embedder)
    assert_index_matches_corpus(settings, corpus)
    for mode in ("dense", "hybrid"):  # reopened on the new manifest
        assert "Zozan Ahmed" in top_text(reader, MAYOR, mode)
    assert "Zozan Ahmed" in top_text(reader, "Zozan Ahmed", "keyword")
    assert reader.search("Rizgar", 3, mode="keyword") == []


# ---- the manifest survives any content ------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
RECORDS = st.dictionaries(
    TEXT,
    st.builds(
        ArticleRecord,
        content_hash=TEXT,
        chunk_ids=st.lists(TEXT, max_size=3).map(tuple),
        path=TEXT,
        title=TEXT,
        date=st.none() | st.dates().map(lambda date: date.isoformat()),
        source=TEXT,
        url=TEXT,
    ),
    max_size=5,
)


@hypothesis_settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(articles=RECORDS, model=TEXT)
def test_manifest_round_trips_any_records(
    tmp_path: Path, articles: dict[str, ArticleRecord], model: str
) -> None:
    manifest = Manifest(model=model, dimension=384, chunk_size=256, chunk_overlap=32)
    manifest.articles = dict(articles)
    manifest.save(tmp_path)
    loaded = Manifest.load(tmp_path)
    assert loaded.articles == articles and loaded.model == model
    assert not (tmp_path / "manifest.json.tmp").exists()
