"""Answers from hits: the names of the answer stages, in one place for callers and tests.

The stages live in their own modules: sentences.py (splitting with offsets, candidates, cached
vectors), relevance.py (sentence relevance, evidence), short_answer.py (the direct answer),
citations.py (citation checking and quotes), engines/ (extractive and LLM engines, one interface).
"""

from __future__ import annotations

from newsrag.citations import (
    SUPPORT_LEXICAL,
    SUPPORT_SEMANTIC,
    SUPPORT_THRESHOLD,
    CheckedAnswer,
    build_citation,
    check_citations,
    drop_bad_markers,
    passage_support,
)
from newsrag.engines.extractive import compose_extractive, select_sentences
from newsrag.relevance import (
    ANSWER_TYPE_PENALTY,
    RELEVANCE_LEXICAL,
    RELEVANCE_SEMANTIC,
    evidence_strength,
    expected_answer_pattern,
    score_candidates,
)
from newsrag.sentences import (
    MARKER,
    SENTENCE_BATCH,
    Candidate,
    VectorCache,
    as_sentence,
    hit_sentences,
    is_answer_material,
    split_sentences,
    strip_markers,
    tidy_sentence,
    word_set,
)

__all__ = [
    "ANSWER_TYPE_PENALTY",
    "MARKER",
    "RELEVANCE_LEXICAL",
    "RELEVANCE_SEMANTIC",
    "SENTENCE_BATCH",
    "SUPPORT_LEXICAL",
    "SUPPORT_SEMANTIC",
    "SUPPORT_THRESHOLD",
    "Candidate",
    "CheckedAnswer",
    "VectorCache",
    "as_sentence",
    "build_citation",
    "check_citations",
    "compose_extractive",
    "drop_bad_markers",
    "evidence_strength",
    "expected_answer_pattern",
    "hit_sentences",
    "is_answer_material",
    "passage_support",
    "score_candidates",
    "select_sentences",
    "split_sentences",
    "strip_markers",
    "tidy_sentence",
    "word_set",
]
