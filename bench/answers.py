"""Answer quality on a bench data set: containment, citations, refusals, latency, threshold sweep.

Every question is answered once with refusals switched off, recording its evidence (the best
sentence relevance, answering.py); a refusal at threshold t is then "no hits or evidence < t", so
one pass gives the figures at every threshold. Questions are asked as of their own date
("this week" means the week the quiz ran). Seed questions (with and without answers in the two
sample articles) are scored too, to check the threshold on a second, hand-made set.

    .venv/bin/python bench/answers.py                 # rtqa-dev, default index
    .venv/bin/python bench/answers.py --limit 30      # quicker
    NEWSRAG_ENGINE=reader NEWSRAG_LLM_BASE_URL=http://127.0.0.1:8091/v1 \
        .venv/bin/python bench/answers.py --no-seeds  # the reader engine (a llama.cpp server)
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    REPO_ROOT,
    add_bench_arguments,
    bench_folder,
    bench_settings,
    contains_answer,
    default_index_dir,
    ensure_index,
    index_is_built,
    load_questions,
    markdown_table,
    median_ms,
    write_results,
)

SWEEP = [round(0.20 + 0.025 * step, 3) for step in range(17)]  # 0.20 .. 0.60
SEED_ANSWERABLE = [
    "Who is the mayor of Makhmour?",
    "How long did the airstrikes on Qarachokh mountain last?",
    "Who is the spokesman for the US-led coalition?",
    "On what date did the coalition strike Daesh targets near Makhmour?",
    "Who is Sirwan Barzani?",
    "How many ISIS militants did the coalition airstrikes kill?",
    "When did Iraq declare final victory against the Islamic State?",
    "What did Peshmerga Colonel Srood say about operations near Makhmour?",
    "How far does the security void between Peshmerga and Iraqi forces reach?",
    "Why were villages in Makhmour evacuated?",
    "Who controls the Makhmour region now?",
    "What did the ACLED report say about the security vacuum?",
]
SEED_UNANSWERABLE = [
    "What is the capital of France?",
    "Who won the 2022 World Cup?",
    "How do I bake sourdough bread?",
    "What is the price of bitcoin?",
    "Who is the president of Brazil?",
    "How many people live in Makhmour?",
    "When was the mayor of Makhmour elected?",
    "What did the mayor of Kirkuk say about elections?",
    "Who is the governor of Nineveh?",
    "How much oil does Kurdistan export?",
]


@dataclass
class Outcome:
    """One question's result with refusals off."""

    id: str
    answerable: bool
    evidence: float
    has_hits: bool
    contains: bool  # answer text contains the gold answer
    short_contains: bool  # the short answer alone contains it
    has_short: bool  # the answer has a short answer
    sentences: int  # sentences of the answer after the short answer
    citation_contains: bool  # a cited passage contains it
    quote_contains: bool  # a citation's quote contains it
    hits_contain: bool  # any retrieved passage contains it
    seconds: float
    question: str = ""
    gold: str = ""
    short_answer: str = ""
    answer_type: str = ""
    short_score: float = 0.0  # the short answer's summed backing (short_answer.py)
    short_typed: bool = False  # its label fits the expected type exactly
    coverage: float = 0.0  # predicate terms in the answer's sentence
    passage_coverage: float = 0.0  # predicate terms in the retrieved passages
    similarity: float = 1.0  # the best scored sentence's cosine with the question
    week: str = ""  # ISO week of the question (cross-validation folds)

    def refused(self, threshold: float) -> bool:
        """Would the assistant refuse at this threshold?"""
        return not self.has_hits or self.evidence < threshold


def run_question(assistant: Any, question: str, gold: str, as_of: dt.date | None) -> Outcome:
    """Answer one question with refusals off; score it against the gold answer."""
    started = time.perf_counter()
    retrieval = assistant.retrieve(question, as_of=as_of)
    answer = None
    for event in assistant.answer_events(retrieval):
        answer = event.answer or answer
    seconds = time.perf_counter() - started
    assert answer is not None
    found = retrieval.short  # what the assistant found and the answer used
    return Outcome(
        question=question,
        gold=gold,
        short_answer=answer.short_answer,
        answer_type=retrieval.answer_type,
        short_score=found.score if found else 0.0,
        short_typed=bool(found and found.typed),
        coverage=retrieval.coverage,
        passage_coverage=retrieval.passage_coverage,
        similarity=max((candidate.semantic for candidate in retrieval.candidates), default=0.0),
        week=f"{as_of.isocalendar()[0]}-W{as_of.isocalendar()[1]:02d}" if as_of else "",
        id=question,
        answerable=True,
        evidence=retrieval.evidence,
        has_hits=bool(retrieval.hits),
        contains=contains_answer(answer.text, gold),
        short_contains=contains_answer(answer.short_answer, gold),
        has_short=bool(answer.short_answer),
        sentences=len(answer.sentences) - (1 if answer.short_answer else 0),
        citation_contains=any(contains_answer(c.passage, gold) for c in answer.citations),
        quote_contains=any(contains_answer(c.quote, gold) for c in answer.citations),
        hits_contain=any(contains_answer(hit.chunk.text, gold) for hit in retrieval.hits),
        seconds=seconds,
    )


def refusal_figures(outcomes: list[Outcome], threshold: float) -> dict[str, float]:
    """Refusal rates, precision/recall (positive = unanswerable) and containment at a threshold."""
    answerable = [item for item in outcomes if item.answerable]
    unanswerable = [item for item in outcomes if not item.answerable]
    refused = [item for item in outcomes if item.refused(threshold)]
    correct = [item for item in refused if not item.answerable]

    def share(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    # A stricter label: the engine can only answer when a retrieved passage holds the answer.
    unavailable = [item for item in outcomes if not (item.answerable and item.hits_contain)]
    correct_unavailable = [item for item in refused if item in unavailable]
    return {
        "threshold": threshold,
        "refused_answerable": share(sum(i.refused(threshold) for i in answerable), len(answerable)),
        "refused_unanswerable": share(
            sum(i.refused(threshold) for i in unanswerable), len(unanswerable)
        ),
        "precision": share(len(correct), len(refused)),
        "recall": share(len(correct), len(unanswerable)),
        "precision_vs_retrieved": share(len(correct_unavailable), len(refused)),
        "recall_vs_retrieved": share(len(correct_unavailable), len(unavailable)),
        "answer_containment": share(
            sum(i.contains and not i.refused(threshold) for i in answerable), len(answerable)
        ),
        "short_answer_containment": share(
            sum(i.short_contains and not i.refused(threshold) for i in answerable),
            len(answerable),
        ),
        "citation_contains_answer": share(
            sum(i.citation_contains and not i.refused(threshold) for i in answerable),
            len(answerable),
        ),
    }


def seed_outcomes(embedder: Any, threshold: float) -> list[Outcome]:
    """Seed questions over a fresh index of the two sample articles (gold = not checked)."""
    from newsrag.assistant import Assistant
    from newsrag.config import Settings

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            corpus_dir=REPO_ROOT / "corpus", index_dir=Path(folder), refusal_threshold=-1.0
        )
        ensure_index(REPO_ROOT / "corpus", Path(folder), embedder=embedder)
        assistant = Assistant.open(settings, embedder=embedder)
        outcomes = []
        for answerable, questions in ((True, SEED_ANSWERABLE), (False, SEED_UNANSWERABLE)):
            for question in questions:
                outcome = run_question(assistant, question, "\x00", None)
                outcome.answerable = answerable
                outcomes.append(outcome)
    return outcomes


def main() -> int:
    """Run the bench and print Markdown for docs/benchmarks.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    parser.add_argument("--threshold", type=float, default=None, help="refusal threshold to report")
    parser.add_argument("--no-seeds", action="store_true", help="skip the seed questions")
    parser.add_argument("--questions-from", default="", help="only questions asked on or after")
    parser.add_argument("--questions-until", default="", help="only questions asked on or before")
    args = parser.parse_args()

    from newsrag.assistant import Assistant
    from newsrag.embedding import Embedder

    folder = bench_folder(args.bench, args.dataset)
    index_dir = args.index or default_index_dir(args.dataset)
    settings = bench_settings(index_dir, refusal_threshold=-1.0)
    threshold = (
        args.threshold
        if args.threshold is not None
        else bench_settings(index_dir).refusal_threshold
    )
    embedder = Embedder.load(settings=settings)
    if not index_is_built(index_dir):
        print(f"building the {args.dataset} index in {index_dir} (once)…", file=sys.stderr)
        ensure_index(folder / "corpus.jsonl.gz", index_dir, embedder=embedder)
    assistant = Assistant.open(settings, embedder=embedder)
    questions = [
        item
        for item in load_questions(folder / "questions.jsonl", answerable_only=False)
        if (not args.questions_from or item.date >= args.questions_from)
        and (not args.questions_until or item.date <= args.questions_until)
    ][: args.limit]

    outcomes: list[Outcome] = []
    for number, item in enumerate(questions, start=1):
        as_of = dt.date.fromisoformat(item.date) if item.date else None
        outcome = run_question(assistant, item.question, item.answer, as_of)
        outcome.id, outcome.answerable = item.id, item.answerable
        outcomes.append(outcome)
        if number % 25 == 0:
            print(f"{number}/{len(questions)} questions", file=sys.stderr)

    answerable = [item for item in outcomes if item.answerable]
    headline = refusal_figures(outcomes, threshold)
    answered = [item for item in answerable if not item.refused(threshold)]
    figures = {
        "dataset": args.dataset,
        "questions": len(outcomes),
        "answerable": len(answerable),
        "threshold": threshold,
        **headline,
        "answer_containment_when_answered": (
            sum(item.contains for item in answered) / len(answered) if answered else 0.0
        ),
        "quote_contains_answer": sum(
            item.quote_contains and not item.refused(threshold) for item in answerable
        )
        / max(1, len(answerable)),
        "retrieved_passages_contain_answer": sum(item.hits_contain for item in answerable)
        / max(1, len(answerable)),
        "answers_with_short_answer": sum(item.has_short for item in answered)
        / max(1, len(answered)),
        "max_sentences_after_short_answer": max((item.sentences for item in answered), default=0),
        "median_latency_ms": median_ms([item.seconds for item in outcomes]),
        "p90_latency_ms": statistics.quantiles([item.seconds for item in outcomes], n=10)[-1] * 1000
        if len(outcomes) >= 10
        else 0.0,
        "p95_latency_ms": statistics.quantiles([item.seconds for item in outcomes], n=20)[-1] * 1000
        if len(outcomes) >= 20
        else 0.0,
    }
    sweep = [refusal_figures(outcomes, value) for value in SWEEP]
    seeds = [] if args.no_seeds else seed_outcomes(embedder, threshold)
    seed_sweep = [refusal_figures(seeds, value) for value in SWEEP] if seeds else []
    engine = "" if settings.engine == "extractive" else f"-{settings.engine}"
    path = write_results(
        f"answers-{args.dataset}{engine}",
        {
            "figures": figures,
            "sweep": sweep,
            "seed_sweep": seed_sweep,
            "outcomes": [vars(item) for item in outcomes],
            "seeds": [vars(item) for item in seeds],
        },
    )

    print(
        f"## Answers ({args.dataset}, {assistant.engine_name} engine, refusal threshold {threshold})\n"
    )
    print(markdown_table(["metric", "value"], [[key, value] for key, value in figures.items()]))
    columns = ["threshold", "refused_answerable", "refused_unanswerable", "precision", "recall",
               "precision_vs_retrieved", "recall_vs_retrieved", "answer_containment",
               "citation_contains_answer"]  # fmt: skip
    print(f"\n### Refusal threshold sweep ({args.dataset})\n")
    print(markdown_table(columns, [[row[name] for name in columns] for row in sweep]))
    if seed_sweep:
        print("\n### Refusal threshold sweep (seed questions)\n")
        print(
            markdown_table(columns[:5], [[row[name] for name in columns[:5]] for row in seed_sweep])
        )
        evidence = [(item.answerable, round(item.evidence, 3), item.id) for item in seeds]
        print("\nseed evidence:", *evidence, sep="\n  ")
    print(f"\nraw results: {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
