"""The chat UI without a browser: escaping, source cards, export, examples, feedback, handlers."""

from __future__ import annotations

import datetime as dt
import html
import json
import socket
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from newsrag import feedback, ui_render
from newsrag.config import Settings
from newsrag.models import Answer, ArticleMeta, Chunk, Citation, Filters, Hit
from newsrag.ui_render import Exchange

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "![y](javascript:alert(2))",
    '<a href="javascript:alert(3)">z</a>',
    "$$x$$ `code` **bold** # heading\n- item\n1. one",
    "<javascript:alert(4)> https://example.com & &amp; &#60;",
]
ALLOWED_TAGS = {"div", "span", "mark", "a", "p", "q", "details", "summary", "ul", "li", "b"}


class TagCollector(HTMLParser):
    """Every tag and attribute of an HTML fragment, as a browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(fragment: str) -> TagCollector:
    """Tags and visible text of an HTML fragment."""
    collector = TagCollector()
    collector.feed(fragment)
    collector.close()
    return collector


def assert_inert(fragment: str) -> TagCollector:
    """Only our own tags, no event handlers, no non-http(s)/non-anchor links."""
    collected = parse(fragment)
    for tag, attrs in collected.tags:
        assert tag in ALLOWED_TAGS, (tag, fragment)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        href = attrs.get("href")
        if href is not None:
            assert href.startswith(("#source-", "http://", "https://")), href
    return collected


def make_citation(**overrides: object) -> Citation:
    """A citation over a passage at article offset 100 whose quote is its second sentence."""
    passage = "First sentence here. Rizgar Mohammed is the mayor. Last one."
    quote = "Rizgar Mohammed is the mayor."
    start = passage.index(quote)
    values: dict[str, object] = {
        "number": 1,
        "article_id": "a1",
        "chunk_id": "a1-0001",
        "title": "Mayor story",
        "source": "Kurdistan 24",
        "date": "2019-09-09",
        "url": "https://www.kurdistan24.net/en/story/1",
        "passage": passage,
        "passage_start": 100,
        "passage_end": 100 + len(passage),
        "quote": quote,
        "quote_start": 100 + start,
        "quote_end": 100 + start + len(quote),
    }
    values.update(overrides)
    return Citation(**values)  # type: ignore[arg-type]


def make_answer(text: str = "Rizgar Mohammed is the mayor. [1]", **overrides: object) -> Answer:
    """An answer citing make_citation()."""
    values: dict[str, object] = {
        "question": "Who is the mayor?",
        "text": text,
        "citations": (make_citation(),),
        "searched_for": "Who is the mayor of Makhmour?",
        "filters": Filters(since=dt.date(2019, 1, 1), sources=("Kurdistan 24",)),
    }
    values.update(overrides)
    return Answer(**values)  # type: ignore[arg-type]


# ---- escaping ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_markup_renders_as_the_same_text_through_markdown(text: str) -> None:
    escaped = ui_render.escape_markup(text)
    rendered = MarkdownIt("commonmark", {"html": True, "linkify": False}).render(escaped)
    collected = parse(rendered)
    assert {tag for tag, _ in collected.tags} <= {"p"}, rendered
    assert " ".join("".join(collected.text).split()) == " ".join(text.split())
    assert html.unescape(escaped) == text


@pytest.mark.parametrize("text", HOSTILE)
def test_exported_markdown_escaping_keeps_syntax_out(text: str) -> None:
    rendered = MarkdownIt("commonmark", {"html": True}).render(ui_render.escape_markdown(text))
    tags = {tag for tag, _ in parse(rendered).tags}
    assert not tags & {"script", "img", "a", "h1", "code", "strong", "li"}, rendered


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.kurdistan24.net/en/story/1", True),
        ("http://example.com/a?b=1&c=2", True),
        ("HTTPS://EXAMPLE.COM", True),
        ("javascript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("//evil.example.com/x", False),
        ("https://exa mple.com", False),
        ("https://\x00example.com", False),
        ("http:///nohost", False),
        ("", False),
    ],
)
def test_only_absolute_http_urls_become_links(url: str, expected: bool) -> None:
    assert (ui_render.safe_url(url) is not None) is expected


# ---- source cards ------------------------------------------------------------------------------


def test_card_highlights_the_quote_by_offsets_and_links_the_url() -> None:
    card = ui_render.citation_card_html(make_citation(), 2)
    collected = assert_inert(card)
    assert ("div", {"class": "newsrag-source", "id": "source-2-1"}) in collected.tags
    assert "<mark class='newsrag-quote'>Rizgar Mohammed is the mayor.</mark>" in card
    links = [attrs for tag, attrs in collected.tags if tag == "a"]
    assert links[0]["href"] == "https://www.kurdistan24.net/en/story/1"
    assert links[0]["rel"] == "noopener noreferrer nofollow"
    assert "Kurdistan 24 · 2019-09-09" in "".join(collected.text)


def test_card_of_hostile_article_is_text_only() -> None:
    hostile = " ".join(HOSTILE)
    citation = make_citation(
        title=hostile,
        source="<b onmouseover=alert(1)>outlet</b>",
        url="javascript:alert(1)",
        passage=hostile,
        quote=HOSTILE[1],
        quote_start=100 + hostile.index(HOSTILE[1]),
        quote_end=100 + hostile.index(HOSTILE[1]) + len(HOSTILE[1]),
    )
    card = ui_render.citation_card_html(citation, 1)
    collected = assert_inert(card)
    assert not [tag for tag, _ in collected.tags if tag == "a"]  # javascript: URL: no link
    text = "".join(collected.text)
    assert "<script>alert(1)</script>" in text
    assert "<b onmouseover=alert(1)>outlet</b>" in text
    assert f"<mark class='newsrag-quote'>{html.escape(HOSTILE[1])}</mark>" in card


def test_quote_offsets_that_do_not_match_fall_back_to_the_quote_text() -> None:
    shifted = make_citation(quote_start=0, quote_end=5)
    assert ui_render.quote_span(shifted) == (21, 50)
    lost = make_citation(quote="not in the passage", quote_start=0, quote_end=5)
    assert ui_render.quote_span(lost) is None
    assert "<mark" not in ui_render.citation_card_html(lost, 1)


def test_answer_message_links_known_markers_only_and_escapes_text() -> None:
    answer = make_answer(text="<script>x()</script> Rizgar [1] and [7] [x](javascript:y)")
    message = ui_render.answer_message(answer, 3)
    rendered = MarkdownIt("commonmark", {"html": True}).render(message)
    collected = assert_inert(rendered)
    hrefs = [attrs["href"] for tag, attrs in collected.tags if tag == "a"]
    assert hrefs == ["#source-3-1"]
    text = " ".join("".join(collected.text).split())
    assert "<script>x()</script> Rizgar [1] and [7] [x](javascript:y)" in text
    assert "searched for: Who is the mayor of Makhmour? · since 2019-01-01 · Kurdistan 24" in text


def test_refusal_panel_shows_closest_passages_without_highlight() -> None:
    chunk = Chunk(id="c1", article_id="a1", ordinal=0, text="<i>close</i> text", start=0, end=17)
    hit = Hit(chunk=chunk, article=ArticleMeta(id="a1", title="T", source="S"), score=0.1)
    refusal = make_answer(text="The articles do not answer.", citations=(), refused=True)
    panel = ui_render.sources_panel_html([Exchange("q", answer=Answer("q", "x", hits=(hit,)))])
    assert "closest found" in panel and "&lt;i&gt;close&lt;/i&gt; text" in panel
    assert "newsrag-refusal" in ui_render.answer_message(refusal, 1)
    assert "No passage matched" in ui_render.answer_sources_html(refusal, 1)


def test_sources_panel_keeps_earlier_answers_folded_with_their_own_ids() -> None:
    exchanges = [
        Exchange("first?", answer=make_answer()),
        Exchange("broken?", error="the question is empty"),
        Exchange("third?", answer=make_answer()),
    ]
    panel = ui_render.sources_panel_html(exchanges)
    assert_inert(panel)
    assert panel.index("id='source-3-1'") < panel.index("<details")
    assert panel.index("<details") < panel.index("id='source-1-1'")
    assert "Sources for: third?" in panel


def test_chat_messages_pair_questions_with_replies_and_stream_partial_text() -> None:
    exchanges = [Exchange("<b>q</b>", answer=make_answer()), Exchange("q2", error="Oops <x>")]
    messages = ui_render.chat_messages(exchanges, ("q3", "Rizgar [1"))
    assert [message["role"] for message in messages] == ["user", "assistant"] * 3
    assert messages[0]["content"] == ui_render.escape_markup("<b>q</b>")
    assert "#source-1-1" in messages[1]["content"]
    assert "Oops &#60;x&#62;" in messages[3]["content"]
    assert "newsrag-streaming" in messages[5]["content"]


# ---- export, examples ---------------------------------------------------------------------------


def test_conversation_markdown_lists_answers_and_sources_escaped() -> None:
    hostile = make_citation(title="<script>alert(1)</script>", url="javascript:alert(1)")
    exchanges = [
        Exchange("Who is the mayor?", answer=make_answer()),
        Exchange("[x](javascript:alert(2))", answer=make_answer(citations=(hostile,))),
        Exchange("", error="the question is empty"),
    ]
    document = ui_render.conversation_markdown(exchanges)
    assert "## 1. Who is the mayor?" in document
    assert "Rizgar Mohammed is the mayor. \\[1\\]" in document
    assert "<https://www.kurdistan24.net/en/story/1>" in document
    assert "> Rizgar Mohammed is the mayor." in document
    assert "*Error:* the question is empty" in document
    rendered = MarkdownIt("commonmark", {"html": True}).render(document)
    collected = parse(rendered)
    assert "script" not in {tag for tag, _ in collected.tags}
    hrefs = [attrs.get("href") or "" for tag, attrs in collected.tags if tag == "a"]
    assert hrefs == ["https://www.kurdistan24.net/en/story/1"]


def test_example_questions_fixed_for_seeds_and_from_titles_otherwise() -> None:
    seeds = [ui_render.TitledArticle(title=title) for title in ui_render.SEED_EXAMPLES]
    assert ui_render.example_questions(seeds) == list(ui_render.SEED_EXAMPLES.values())
    others = [
        ui_render.TitledArticle("Old news from A", "A", "2001-01-01"),
        ui_render.TitledArticle("New news from A", "A", "2020-01-01"),
        ui_render.TitledArticle("Middle news from B", "B", "2010-01-01"),
        ui_render.TitledArticle("   ", "C", "2030-01-01"),
    ]
    questions = ui_render.example_questions([*seeds[:1], *others], limit=3)
    assert questions == [
        "Who is the mayor of Makhmour?",
        "What does the article “New news from A” report?",
        "What does the article “Middle news from B” report?",
    ]


# ---- feedback ------------------------------------------------------------------------------------


def test_feedback_lines_carry_question_answer_and_citations(tmp_path: Path) -> None:
    path = tmp_path / "index" / feedback.FEEDBACK_NAME
    record = feedback.make_record(rating="up", question="Who?", answer=make_answer())
    feedback.append_feedback(path, record)
    later = feedback.make_record(
        rating="up", question="Who?", answer=make_answer(), comment=" good ", feedback_id=record.id
    )
    feedback.append_feedback(path, later)
    error = feedback.make_record(rating="down", question="", answer=None, reply_text="Oops")
    feedback.append_feedback(path, error)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "cut short')  # a crash mid-line must not hide the rest
    lines = list(feedback.read_feedback(path))
    assert len(lines) == 3
    assert lines[0]["citations"][0]["quote"] == "Rizgar Mohammed is the mayor."
    assert lines[0]["filters"] == {
        "since": "2019-01-01",
        "until": None,
        "sources": ["Kurdistan 24"],
    }
    latest = feedback.latest_feedback(path)
    assert [(item["rating"], item["comment"]) for item in latest] == [("up", "good"), ("down", "")]
    assert latest[1]["error"] is True and latest[1]["answer"] == "Oops"


def test_feedback_rejects_bad_rating_and_unwritable_file(tmp_path: Path) -> None:
    with pytest.raises(feedback.FeedbackError, match="rating"):
        feedback.make_record(rating="meh", question="q", answer=None)
    record = feedback.make_record(rating="down", question="q", answer=None)
    (tmp_path / "feedback.jsonl").mkdir()
    with pytest.raises(feedback.FeedbackError, match="cannot write feedback"):
        feedback.append_feedback(tmp_path / "feedback.jsonl", record)


# ---- the handlers, over the real seed index ----------------------------------------------------


@pytest.fixture(scope="module")
def seed_assistant(seed_index: Settings, seed_retriever):
    """The real Assistant over the seed index."""
    from newsrag.assistant import Assistant

    return Assistant.open(seed_index, retriever=seed_retriever)


def controller_for(settings: Settings, assistant, tmp_path: Path):
    """A ChatController whose feedback goes to tmp_path."""
    from newsrag import ui

    own = settings.model_copy(update={"index_dir": settings.index_dir})
    controller = ui.ChatController(own, ui.AssistantHolder(own, assistant))
    controller.feedback_file = tmp_path / "feedback.jsonl"
    return controller


def last_update(controller, text: str, exchanges=(), **fields):
    """Run one ask to the end and return its last Update."""
    from newsrag import ui

    updates = list(controller.ask(ui.Query(text, **fields), tuple(exchanges), "test.md"))
    assert updates[-1].finished
    return updates[-1]


def test_controller_answers_with_links_sources_export_and_feedback(
    seed_index: Settings, seed_assistant, tmp_path: Path
) -> None:
    controller = controller_for(seed_index, seed_assistant, tmp_path)
    update = last_update(controller, "Who is the mayor of Makhmour?")
    reply = update.messages[-1]["content"]
    assert "Rizgar Mohammed" in reply and "href='#source-1-1'" in reply
    assert "id='source-1-1'" in (update.sources_html or "")
    assert update.last_search == ("Who is the mayor of Makhmour?", "", "")
    exported = Path(update.export_path or "").read_text(encoding="utf-8")
    assert "Rizgar Mohammed" in exported and "Kurdistan 24" in exported

    note, rated = controller.rate(update.exchanges, 0, True)
    assert rated is not None and "Saved" in note
    note, box = controller.comment(update.exchanges, rated, "right answer")
    assert "Comment saved" in note and box == ""
    (record,) = feedback.latest_feedback(controller.feedback_file)
    assert record["question"] == "Who is the mayor of Makhmour?"
    assert record["comment"] == "right answer" and record["citations"]

    follow = last_update(controller, "What did he say about Daesh?", update.exchanges)
    assert "Rizgar Mohammed" in (follow.last_search or ("",))[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("   ", "The question is empty"), ("x" * 2500, "over the 2,000 limit")],
)
def test_bad_questions_become_readable_chat_errors(
    seed_index: Settings, seed_assistant, tmp_path: Path, text: str, expected: str
) -> None:
    controller = controller_for(seed_index, seed_assistant, tmp_path)
    update = last_update(controller, text)
    assert expected in update.messages[-1]["content"].replace("&#44;", ",")
    assert update.exchanges[-1].error and update.question_box == text
    again = last_update(controller, "Who is the mayor of Makhmour?", update.exchanges)
    assert "Rizgar Mohammed" in again.messages[-1]["content"]  # still serving


def test_date_filter_that_excludes_everything_refuses(
    seed_index: Settings, seed_assistant, tmp_path: Path
) -> None:
    controller = controller_for(seed_index, seed_assistant, tmp_path)
    update = last_update(controller, "Who is the mayor of Makhmour?", since="2030-01-01")
    answer = update.exchanges[-1].answer
    assert answer is not None and answer.refused and not answer.citations
    assert update.last_search == ("Who is the mayor of Makhmour?", "2030-01-01", "")


def test_missing_index_is_a_chat_message(fresh_settings: Settings, tmp_path: Path) -> None:
    controller = controller_for(fresh_settings, None, tmp_path)
    update = last_update(controller, "Who is the mayor of Makhmour?")
    assert "No index in" in update.messages[-1]["content"]


def test_llm_endpoint_down_is_a_chat_message(
    seed_index: Settings, seed_retriever, tmp_path: Path
) -> None:
    from newsrag.assistant import Assistant

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = seed_index.model_copy(
        update={"engine": "openai", "llm_base_url": f"http://127.0.0.1:{port}/v1", "llm_timeout": 5}
    )
    assistant = Assistant.open(settings, retriever=seed_retriever)
    controller = controller_for(settings, assistant, tmp_path)
    update = last_update(controller, "Who is the mayor of Makhmour?")
    assert "Cannot reach the language model" in html.unescape(update.messages[-1]["content"])


def test_unexpected_errors_are_logged_not_shown(seed_index: Settings, tmp_path: Path) -> None:
    from newsrag import ui

    class Broken(ui.AssistantHolder):
        def get(self):  # type: ignore[override]
            raise KeyError("internal detail")

    controller = ui.ChatController(seed_index, Broken(seed_index, None))
    updates = list(controller.ask(ui.Query("Who?"), (), "t.md"))
    reply = updates[-1].messages[-1]["content"]
    assert "Something went wrong" in reply and "internal detail" not in reply
    assert "Traceback" not in reply


def test_mounted_app_serves_ui_and_api_with_no_remote_assets(
    seed_index: Settings, seed_assistant
) -> None:
    from fastapi.testclient import TestClient

    from newsrag import ui
    from newsrag.server import create_app

    app = ui.mount_ui(
        create_app(seed_index, assistant=seed_assistant),
        assistant=seed_assistant,
        settings=seed_index,
    )
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert client.get("/api/health").json()["index"]["articles"] == 2
        theme = client.get("/theme.css")
        assert theme.status_code == 200
        for body in (page.text, theme.text, json.dumps(client.get("/config").json())):
            assert "fonts.googleapis" not in body and "cdn.jsdelivr" not in body


def test_api_key_puts_the_ui_behind_a_login(seed_index: Settings, seed_assistant) -> None:
    from fastapi.testclient import TestClient

    from newsrag import ui
    from newsrag.server import create_app

    settings = seed_index.model_copy(update={"api_key": "s3cret"})
    app = ui.mount_ui(
        create_app(settings, assistant=seed_assistant), assistant=seed_assistant, settings=settings
    )
    with TestClient(app) as client:
        assert client.get("/config").status_code == 401
        wrong = client.post("/login", data={"username": "me", "password": "guess"})
        assert wrong.status_code == 400
        right = client.post("/login", data={"username": "me", "password": "s3cret"})
        assert right.status_code == 200
        assert client.get("/config").status_code == 200
