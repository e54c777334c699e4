"""bench/llm_choose.py's scoring: switching on the model's probability, and leave-one-week-out."""

from __future__ import annotations

from types import SimpleNamespace

from bench.llm_choose import best_threshold, pick, prompt_for, report


def row(date: str, found: list[bool], probabilities: list[float]) -> dict:
    return {"date": date, "found": found, "probabilities": probabilities, "seconds": 1.0}


def test_pick_switches_only_above_the_threshold() -> None:
    right_second = row("2022-07-01", [False, True], [0.4, 0.6])
    assert pick(right_second, 0.5) is True
    assert pick(right_second, 0.7) is False  # below t: the heuristic's first span stays
    assert pick(row("2022-07-01", [True], []), 0.0) is True  # one span: never asked


def test_leave_one_week_out_scores_each_week_with_the_others_choice() -> None:
    # Week 1 rewards switching, weeks 2 and 3 punish it. Week 1's fold learns "never" from the
    # others (0 right); week 2's ties and keeps "never" (1); week 3's learns t = 0.8 from weeks 1-2,
    # which switches its 0.9 (0): in-sample "never" scores 2, cross-validated 1.
    rows = [
        row("2022-07-04", [False, True], [0.2, 0.8]),
        row("2022-07-11", [True, False], [0.3, 0.7]),
        row("2022-07-18", [True, False], [0.1, 0.9]),
    ]
    assert best_threshold(rows[1:]) > 0.9
    figures = report(rows, None)
    assert figures["heuristic top 1"] == 2
    assert figures["model argmax"] == 1
    assert figures["leave one week out"]["right"] == 1
    assert figures["leave one week out"]["folds"]["2022-W29"]["threshold"] == 0.8
    assert figures["leave one week out"]["folds"]["2022-W28"]["right"] == 1


def test_prompt_letters_each_span_and_quotes_each_sentence_once() -> None:
    sentence = SimpleNamespace(raw="Adele won the prize in London.")
    spans = [SimpleNamespace(text="Adele", sentence=sentence)]
    spans.append(SimpleNamespace(text="London", sentence=sentence))
    prompt = prompt_for("Who won the prize?", spans)
    assert "A. Adele\nB. London" in prompt
    assert prompt.count("Adele won the prize") == 1
