"""bench/sentence_dense.py's pure parts: sentence texts, best-sentence scores, separation, LOO."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from bench.sentence_dense import best_sentence_scores, leave_one_out, sentence_texts, separation


def test_sentence_texts_prefix_the_title_and_join_short_pieces() -> None:
    text = (
        "The council approved the budget on Tuesday evening. Read more. "
        "The mayor said the vote was close and fair."
    )
    pieces = sentence_texts(text, "Budget passes")
    assert pieces[0] == "Budget passes. The council approved the budget on Tuesday evening."
    # "Read more." is too short to stand alone: it rides with the next sentence.
    assert pieces[1] == "Budget passes. Read more. The mayor said the vote was close and fair."
    assert len(pieces) == 2
    assert sentence_texts("Short.", "") == ["Short."]


def test_best_sentence_scores_take_each_passage_maximum() -> None:
    query = np.array([1.0, 0.0], dtype=np.float32)
    vectors = np.array([[0.2, 0.9], [0.9, 0.1], [0.5, 0.5]], dtype=np.float32)
    owners = np.array([0, 0, 2], dtype=np.int32)
    best = best_sentence_scores(query, vectors, owners, 3)
    assert best.tolist() == [np.float32(0.9), -1.0, 0.5]  # passage 1 has no sentence


def test_separation_reports_auc_and_the_refusal_share() -> None:
    answerable = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.95, 0.85, 0.75, 0.65]
    unanswerable = [0.3, 0.45, 0.6, 0.9]
    line = separation(answerable, unanswerable)
    # 15% of 10 answerable: the threshold is the second lowest (0.5); 0.3 and 0.45 fall below it.
    assert "refuse below 0.500" in line
    assert "answerable refused 0.100" in line
    assert "unanswerable refused 0.500" in line
    pairs = [1.0 if a > u else 0.5 if a == u else 0.0 for a in answerable for u in unanswerable]
    assert f"AUC {sum(pairs) / len(pairs):.3f}" in line


def test_leave_one_out_scores_each_week_with_the_others_choice() -> None:
    questions = [
        SimpleNamespace(id="a", date="2022-07-04"),
        SimpleNamespace(id="b", date="2022-07-11"),
        SimpleNamespace(id="c", date="2022-07-18"),
    ]
    folds = {"W27": [questions[0]], "W28": [questions[1]], "W29": [questions[2]]}
    # Setting X finds weeks 1 and 2 at rank 1; setting Y only week 3. Week 3's fold, chosen on
    # weeks 1-2, takes X and misses: the out-of-fold score is 2 of 3, not the in-sample 3 of 3.
    results = {(1.0, 1.0): [1, 1, None], (0.5, 1.0): [None, None, 1]}
    report = leave_one_out(questions, folds, results)
    assert "W29: chose mix 1.0" in report
    assert "leave-one-week-out: @1 0.667" in report
