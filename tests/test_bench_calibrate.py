"""bench/calibrate.py's refusal rule: each setting refuses on its own feature, old files still read."""

from __future__ import annotations

from bench.calibrate import best_rule, figures, refused

RULE = {
    "refusal_threshold": 0.25,
    "answer_needs_type": True,
    "answer_min_coverage": 0.0,
    "answer_min_passage_coverage": 0.6,
    "answer_min_similarity": 0.45,
}


def outcome(answerable: bool, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "answerable": answerable,
        "has_hits": True,
        "evidence": 0.5,
        "answer_type": "person",
        "short_typed": True,
        "coverage": 1.0,
        "passage_coverage": 1.0,
        "similarity": 0.6,
        "short_contains": answerable,
        "contains": answerable,
        "citation_contains": answerable,
    }
    return base | fields


def test_each_setting_refuses_on_its_own_feature() -> None:
    assert not refused(outcome(True), RULE)
    assert refused(outcome(True, evidence=0.2), RULE)
    assert refused(outcome(True, short_typed=False), RULE)
    assert refused(outcome(True, passage_coverage=0.5), RULE)
    assert refused(outcome(True, similarity=0.44), RULE)
    assert not refused(outcome(True, similarity=0.44), RULE | {"answer_min_similarity": 0.0})


def test_results_without_similarity_are_never_refused_for_it() -> None:
    old = outcome(True)
    del old["similarity"]
    assert not refused(old, RULE | {"answer_min_similarity": 0.55})


def test_the_best_rule_stays_under_the_answerable_ceiling() -> None:
    # Low similarity marks the unanswerable ones, but one answerable question shares it: a floor
    # refuses it (1 of 4 answerable, over a 0.2 ceiling), so the chosen rule takes no floor.
    outcomes = [outcome(True, similarity=0.7) for _ in range(3)]
    outcomes += [outcome(True, similarity=0.42), outcome(False, similarity=0.41)]
    outcomes += [outcome(False, similarity=0.43)]
    chosen = best_rule(outcomes, ceiling=0.2)
    assert figures(outcomes, chosen)["refused_answerable"] <= 0.2
    assert best_rule(outcomes, ceiling=0.3)["answer_min_similarity"] >= 0.45
