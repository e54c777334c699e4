"""Temporal expressions in questions -> date filters (newsrag.dates)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsrag.dates import DateIntent, merge_filters, parse_question_dates, validate_range
from newsrag.models import Filters

AS_OF = dt.date(2026, 11, 22)  # a Sunday: this week is Mon 16 - Sun 22 November
WEDNESDAY = dt.date(2026, 11, 18)


def day(text: str) -> dt.date:
    """An ISO date."""
    return dt.date.fromisoformat(text)


# question, expected since, expected until (None = open), expected expressions
TABLE = [
    ("What happened in Makhmour in 2019?", "2019-01-01", "2019-12-31", ("in 2019",)),
    ("Attacks in July 2019", "2019-07-01", "2019-07-31", ("in July 2019",)),
    ("July 2019 Makhmour attacks", "2019-07-01", "2019-07-31", ("July 2019",)),
    ("What happened in Kirkuk since June?", "2026-06-01", None, ("since June",)),
    ("Returns since 2018", "2018-01-01", None, ("since 2018",)),
    ("Attacks after March 2020", "2020-04-01", None, ("after March 2020",)),
    ("Clashes before 2019", None, "2018-12-31", ("before 2019",)),
    ("Clashes before July 2019", None, "2019-06-30", ("before July 2019",)),
    ("Deals until June 2020", None, "2020-06-30", ("until June 2020",)),
    ("Deals through June 2020", None, "2020-06-30", ("through June 2020",)),
    ("Funds promised by June 2020", None, "2020-06-30", ("by June 2020",)),
    ("ISIS between 2018 and 2019", "2018-01-01", "2019-12-31", ("between 2018 and 2019",)),
    ("Protests from May to July 2019", "2019-05-01", "2019-07-31", ("from May to July 2019",)),
    (
        "Talks from November to February 2020",
        "2019-11-01",
        "2020-02-29",
        ("from November to February 2020",),
    ),
    ("Oil exports from 2018 to now", "2018-01-01", "2026-11-22", ("from 2018 to now",)),
    ("What happened last week?", "2026-11-09", "2026-11-15", ("last week",)),
    ("What happened this week?", "2026-11-16", "2026-11-22", ("this week",)),
    ("Strikes last month", "2026-10-01", "2026-10-31", ("last month",)),
    ("Strikes this month", "2026-11-01", "2026-11-22", ("this month",)),
    ("Budget news last year", "2025-01-01", "2025-12-31", ("last year",)),
    ("Budget news this year", "2026-01-01", "2026-11-22", ("this year",)),
    ("What happened yesterday?", "2026-11-21", "2026-11-21", ("yesterday",)),
    ("What happened today?", "2026-11-22", "2026-11-22", ("today",)),
    ("Strikes in the past 3 days", "2026-11-19", "2026-11-22", ("in the past 3 days",)),
    ("Strikes over the past two weeks", "2026-11-08", "2026-11-22", ("over the past two weeks",)),
    ("Strikes in the last 6 months", "2026-05-22", "2026-11-22", ("in the last 6 months",)),
    ("Strikes in the last week", "2026-11-15", "2026-11-22", ("in the last week",)),
    ("Protests in the summer of 2019", "2019-06-01", "2019-08-31", ("in the summer of 2019",)),
    ("What happened last October?", "2026-10-01", "2026-10-31", ("last October",)),
    ("What happened last November?", "2025-11-01", "2025-11-30", ("last November",)),
    ("Attacks before the 2018 offensive", None, "2017-12-31", ("before the 2018 offensive",)),
    (
        "Votes after the 2017 independence referendum",
        "2018-01-01",
        None,
        ("after the 2017 independence",),
    ),
    ("Makhmour airstrikes 2019", "2019-01-01", "2019-12-31", ("2019",)),
    ("2019's offensive on Makhmour", "2019-01-01", "2019-12-31", ("2019's",)),
    ("Peshmerga in the 1990s", "1990-01-01", "1999-12-31", ("in the 1990s",)),
    ("Kirkuk in mid-2019", "2019-05-01", "2019-08-31", ("in mid-2019",)),
    ("Kirkuk in late July 2019", "2019-07-21", "2019-07-31", ("in late July 2019",)),
    (
        "Elections in 2018, 2019 and 2020",
        "2018-01-01",
        "2020-12-31",
        ("in 2018, 2019 and 2020",),
    ),
    ("Attacks 2 weeks ago", "2026-11-02", "2026-11-08", ("2 weeks ago",)),
    ("Attacks 3 days ago", "2026-11-19", "2026-11-19", ("3 days ago",)),
    (
        "What happened the day before yesterday",
        "2026-11-20",
        "2026-11-20",
        ("the day before yesterday",),
    ),
    ("News since last week", "2026-11-09", None, ("since last week",)),
    ("Protests in December", "2025-12-01", "2025-12-31", ("in December",)),
    ("Reports from July 2019", "2019-07-01", "2019-07-31", ("from July 2019",)),
    ("Events of may 2019", "2019-05-01", "2019-05-31", ("of may 2019",)),
    ("News IN JULY 2019", "2019-07-01", "2019-07-31", ("IN JULY 2019",)),
]


# A day named as when something happened is matched in the text (a boost), never a filter.
EVENT_TABLE = [
    ("What happened on 9 September 2019?", "2019-09-09"),
    ("Strikes on September 9, 2019", "2019-09-09"),
    ("Erbil 2019-09-09 report", "2019-09-09"),
    ("the 9th of Sept. 2019 drone strike", "2019-09-09"),
    ("What did the council decide on 3 March?", "2026-03-03"),
    ("the 12 May vote", "2026-05-12"),
]


@pytest.mark.parametrize(("question", "event"), EVENT_TABLE)
def test_event_dates_are_not_publication_filters(question: str, event: str) -> None:
    intent = parse_question_dates(question, as_of=AS_OF)
    assert (intent.since, intent.until) == (None, None)
    assert intent.event_dates == (day(event),)
    assert intent.query == question  # the date words stay searchable


@pytest.mark.parametrize(
    ("question", "bad"),
    [
        ("Leaves on 31 February 2019", "31 February 2019"),
        ("What happened since 31 February?", "31 February"),
        ("News after December 9999", "December 9999"),
        ("Airstrikes since 1 January 0001", "1 January 0001"),
    ],
)
def test_impossible_dates_are_said_and_filter_nothing(question: str, bad: str) -> None:
    intent = parse_question_dates(question, as_of=AS_OF)
    assert (intent.since, intent.until, intent.event_dates) == (None, None, ())
    assert len(intent.invalid) == 1 and bad in intent.invalid[0]


def test_each_filter_phrase_says_what_it_did() -> None:
    intent = parse_question_dates("Strikes in 2019 before July", as_of=AS_OF)
    assert intent.effects == (
        "'in 2019' -> published 2019-01-01 to 2019-12-31",
        "'before July' -> published until 2019-06-30",
    )


@pytest.mark.parametrize(("question", "since", "until", "expressions"), TABLE)
def test_table(question: str, since: str | None, until: str | None, expressions: tuple[str, ...]):
    intent = parse_question_dates(question, as_of=AS_OF)
    assert intent.since == (day(since) if since else None)
    assert intent.until == (day(until) if until else None)
    assert intent.expressions == expressions
    assert intent.prefer_recent is False


def test_table_is_large_enough() -> None:
    assert len(TABLE) >= 30


@pytest.mark.parametrize(
    "question",
    [
        "How many were killed when 10 ISIS militants attacked?",
        "ISIS killed 20 people in Makhmour",
        "There were 3 strikes near Erbil",
        "What did Kurdistan 24 report?",
        "Traffic on Route 66",
        "Over 1,000 troops arrived",
        "Baghdad sent in 2000 troops",
        "The death toll reached 2000",
        "2019 airstrikes Makhmour",  # a leading bare year could be a count: not a filter
        "The 2018 offensive on Makhmour",  # a year in an event without a preposition
        "A $2019 grant and 2019% growth",
        "What may happen to the march in Erbil?",  # "may" and "march" as words, not months
        "Fighting in 1899 and in 2101",  # outside 1900-2100
        "Was Erbil hit? 2019",  # a trailing year after punctuation is not standalone
        "Who won the 100m in 9 seconds on 10/09/2019?",  # slashes: day/month order unknown
        "",
        "   ",
    ],
)
def test_no_false_dates(question: str) -> None:
    assert parse_question_dates(question, as_of=AS_OF) == DateIntent(
        None, None, (), False, question
    )


def test_no_expression_keeps_the_question_as_it_is() -> None:
    question = "Who leads  the Peshmerga ministry?"
    assert parse_question_dates(question, as_of=AS_OF) == DateIntent(
        None, None, (), False, question
    )


@pytest.mark.parametrize(
    ("question", "expressions", "query"),
    [
        ("What is the latest on Makhmour?", ("latest",), "What is the on Makhmour?"),
        ("Recently, what happened in Kirkuk?", ("Recently",), "what happened in Kirkuk?"),
        ("Most recent attacks in Erbil", ("Most recent",), "attacks in Erbil"),
        ("Who controls Sinjar now?", ("now",), "Who controls Sinjar?"),
        ("What is currently happening in Duhok?", ("currently",), "What is happening in Duhok?"),
        ("Newest reports on Mosul", ("Newest",), "reports on Mosul"),
        ("Strikes in recent weeks", ("in recent weeks",), "Strikes"),
        ("Strikes over the past few days", ("over the past few days",), "Strikes"),
        ("When was the last attack?", ("last",), "When was the attack?"),
    ],
)
def test_recency_words_prefer_recent_without_a_hard_filter(
    question: str, expressions: tuple[str, ...], query: str
) -> None:
    intent = parse_question_dates(question, as_of=AS_OF)
    assert replace(intent, effects=()) == DateIntent(None, None, expressions, True, query)
    assert intent.effects and "no filter" in intent.effects[0]


def test_recency_combines_with_a_filter() -> None:
    intent = parse_question_dates("Latest strikes so far this year", as_of=AS_OF)
    assert (intent.since, intent.until) == (day("2026-01-01"), AS_OF)
    assert intent.prefer_recent
    assert intent.query == "strikes"


@pytest.mark.parametrize(
    ("question", "query"),
    [
        ("What happened in Makhmour in 2019?", "What happened in Makhmour?"),
        ("In 2019, what happened in Makhmour?", "what happened in Makhmour?"),
        ("What happened last week in   Erbil ?", "What happened in Erbil?"),
        ("Makhmour airstrikes 2019", "Makhmour airstrikes"),
        # The event words stay so retrieval still finds the offensive.
        ("Attacks before the 2018 offensive in Makhmour?", "Attacks the offensive in Makhmour?"),
        # Nothing but the date: the question itself is the query.
        ("in 2019?", "in 2019?"),
    ],
)
def test_query_has_the_phrases_removed(question: str, query: str) -> None:
    assert parse_question_dates(question, as_of=AS_OF).query == query


def test_week_definitions_on_a_wednesday() -> None:
    this_week = parse_question_dates("this week", as_of=WEDNESDAY)
    last_week = parse_question_dates("last week", as_of=WEDNESDAY)
    past_week = parse_question_dates("the past week", as_of=WEDNESDAY)
    assert (this_week.since, this_week.until) == (day("2026-11-16"), WEDNESDAY)
    assert (last_week.since, last_week.until) == (day("2026-11-09"), day("2026-11-15"))
    assert (past_week.since, past_week.until) == (day("2026-11-11"), WEDNESDAY)


def test_month_without_year_is_the_latest_one_not_after_as_of() -> None:
    march = dt.date(2026, 3, 10)
    assert parse_question_dates("since June", as_of=march).since == day("2025-06-01")
    assert parse_question_dates("since March", as_of=march).since == day("2026-03-01")
    # "last" is strictly before as_of's month.
    last_march = parse_question_dates("last March", as_of=march)
    assert (last_march.since, last_march.until) == (day("2025-03-01"), day("2025-03-31"))
    on_day = parse_question_dates("on 20 March", as_of=march)  # an event day: a boost
    assert on_day.event_dates == (day("2025-03-20"),)


def test_capitalized_may_is_a_month_but_lowercase_bare_may_is_not() -> None:
    assert parse_question_dates("Protests in May", as_of=AS_OF).since == day("2026-05-01")
    assert parse_question_dates("Fighting may resume in Kirkuk", as_of=AS_OF).expressions == ()
    assert parse_question_dates("in may 2019", as_of=AS_OF).since == day("2019-05-01")


def test_abbreviated_and_mixed_case_months() -> None:
    for text in ("in Sep 2019", "in SEPT. 2019", "in september 2019", "in Sept 2019"):
        intent = parse_question_dates(text, as_of=AS_OF)
        assert (intent.since, intent.until) == (day("2019-09-01"), day("2019-09-30")), text


def test_a_year_elsewhere_in_the_question_completes_a_month() -> None:
    intent = parse_question_dates("In 2019, what happened before July?", as_of=AS_OF)
    assert (intent.since, intent.until) == (day("2019-01-01"), day("2019-06-30"))


def test_a_rejected_quantity_does_not_lend_its_year() -> None:
    intent = parse_question_dates("The death toll reached 2000 since June", as_of=AS_OF)
    assert (intent.since, intent.until, intent.expressions) == (
        day("2026-06-01"),
        None,
        ("since June",),
    )
    assert intent.query == "The death toll reached 2000"


def test_bounds_narrow_spans_and_contradictions_drop_bounds() -> None:
    narrowed = parse_question_dates("since March 2019 and before 2020", as_of=AS_OF)
    assert (narrowed.since, narrowed.until) == (day("2019-03-01"), day("2019-12-31"))
    contradicted = parse_question_dates("since 2020, what happened in 2019?", as_of=AS_OF)
    assert (contradicted.since, contradicted.until) == (day("2019-01-01"), day("2019-12-31"))
    either = parse_question_dates("after 2020 or before 2018", as_of=AS_OF)
    assert (either.since, either.until) == (None, None)
    assert either.expressions == ("after 2020", "before 2018")


def test_reversed_range_is_put_in_order() -> None:
    intent = parse_question_dates("between 2019 and 2017", as_of=AS_OF)
    assert (intent.since, intent.until) == (day("2017-01-01"), day("2019-12-31"))


def test_before_the_end_of_a_year_includes_that_year() -> None:
    intent = parse_question_dates("Was it finished before the end of 2019?", as_of=AS_OF)
    assert (intent.since, intent.until) == (None, day("2019-12-31"))


def test_default_as_of_is_today() -> None:
    assert parse_question_dates("today").since == dt.date.today()


@pytest.mark.parametrize("as_of", [dt.date.min, dt.date.max, dt.date(2024, 2, 29)])
def test_extreme_as_of_does_not_crash(as_of: dt.date) -> None:
    for question in ("yesterday", "last year", "past 999 years", "since June", "next week"):
        intent = parse_question_dates(question, as_of=as_of)
        if intent.since is not None and intent.until is not None:
            assert intent.since <= intent.until


def test_control_characters_do_not_crash() -> None:
    intent = parse_question_dates("in\x00July\x1b 2019\x7f\u2028?\r\n", as_of=AS_OF)
    assert (intent.since, intent.until) == (day("2019-07-01"), day("2019-07-31"))
    assert "\x00" not in intent.query


@pytest.mark.parametrize(
    "question",
    [
        "a" * 50_000 + "!",
        "in " * 35_000,
        "between 2019 and " * 6_000,
        "before the " + "long " * 20_000 + "2018",
        "9 " * 50_000,
        "2019-" * 20_000,
        "- " * 50_000,
    ],
)
def test_long_questions_parse_quickly(question: str) -> None:
    # A generous bound only as a guard against catastrophic backtracking (exponential blowup),
    # not a performance target: a linear scan of these takes well under half a second. CPU time of
    # this process, not wall time: other jobs on a loaded machine do not count against it.
    start = time.process_time()
    parse_question_dates(question, as_of=AS_OF)
    assert time.process_time() - start < 2.0


@settings(max_examples=300, deadline=None)
@given(
    question=st.text(max_size=200),
    as_of=st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)),
)
def test_arbitrary_text_never_raises_and_ranges_are_ordered(question: str, as_of: dt.date):
    intent = parse_question_dates(question, as_of=as_of)
    if intent.since is not None and intent.until is not None:
        assert intent.since <= intent.until


SOUP = (
    "in on of since after before until by between and from to the last past this week month year "
    "days weeks ago today yesterday now latest recently 2018 2019 2000 1990s May June july Sept. "
    "9 31 29th early mid- late end beginning summer 2018-2019 2020-02-29 offensive troops , ? 's"
)
WORDS = SOUP.split()


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), max_size=10),
    as_of=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)),
)
def test_date_like_word_soup_gives_ordered_ranges_and_real_phrases(
    words: list[str], as_of: dt.date
) -> None:
    question = " ".join(words)
    intent = parse_question_dates(question, as_of=as_of)
    if intent.since is not None and intent.until is not None:
        assert intent.since <= intent.until
    for expression in intent.expressions:
        assert expression in question


def test_merge_filters_explicit_wins_and_parsed_fills() -> None:
    parsed = parse_question_dates("Strikes in 2019", as_of=AS_OF)
    assert merge_filters(parsed, Filters()) == Filters(day("2019-01-01"), day("2019-12-31"))
    explicit = Filters(since=day("2019-06-01"), sources=("Kurdistan 24",))
    assert merge_filters(parsed, explicit) == Filters(
        day("2019-06-01"), day("2019-12-31"), ("Kurdistan 24",)
    )
    both = Filters(day("2010-01-01"), day("2011-01-01"))
    assert merge_filters(parsed, both) == both


def test_merge_filters_drops_a_parsed_bound_that_contradicts_an_explicit_one() -> None:
    parsed = parse_question_dates("Strikes in 2019", as_of=AS_OF)
    merged = merge_filters(parsed, Filters(since=day("2021-01-01")))
    assert merged == Filters(since=day("2021-01-01"), until=None)
    assert validate_range(merged) is None


def test_merge_filters_without_parsed_dates_keeps_explicit() -> None:
    parsed = parse_question_dates("Who leads the ministry?", as_of=AS_OF)
    explicit = Filters(until=day("2020-01-01"), sources=("Rudaw",))
    assert merge_filters(parsed, explicit) == explicit


def test_validate_range() -> None:
    assert validate_range(Filters(day("2019-01-01"), day("2020-01-01"))) is None
    assert validate_range(Filters(day("2019-01-01"), day("2019-01-01"))) is None
    assert validate_range(Filters(since=day("2020-01-01"))) is None
    assert validate_range(Filters()) is None
    assert validate_range(Filters(day("2020-01-01"), day("2019-01-01"))) == (
        "since (2020-01-01) is after until (2019-01-01): swap them"
    )
