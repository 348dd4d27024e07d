"""``message_head``: a big message's names, id and scalars, read from its text or its bytes alike."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_session_recovery.runtime.heads import HEAD_ONLY_FROM, UNREAD, message_head
from mcp_session_recovery.runtime.reading import json_object

#: A member that makes a message big enough for ``message_head`` to read only its head, with room
#: for the work of skipping what it leaves unread (it parses a message whole past a small share).
PADDING = {"padding": "p" * (16 * HEAD_ONLY_FROM)}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
#: How a server may lay a message out: compact, spaced, indented, its characters escaped or not.
layouts = st.sampled_from(
    [
        {"separators": (",", ":")},
        {"ensure_ascii": False},
        {"indent": 2, "ensure_ascii": False},
        {"indent": "\t"},
    ]
)
AS_TEXT_OR_BYTES = pytest.mark.parametrize("as_text", [True, False], ids=["text", "bytes"])


def head_of(document: dict[str, Any]) -> dict[str, Any]:
    """What ``message_head`` must give for a big ``document``: the id and every scalar read, the rest unread."""
    return {
        name: value if name == "id" or not isinstance(value, str | list | dict) else UNREAD
        for name, value in document.items()
    }


def given_as(data: str, as_text: bool) -> str | bytes:
    return data if as_text else data.encode()


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5), layouts, st.booleans())
def test_a_big_messages_head_is_its_names_its_id_and_its_scalars(
    members: dict[str, Any], layout: dict[str, Any], as_text: bool
) -> None:
    document = {**members, **PADDING}
    assert message_head(given_as(json.dumps(document, **layout), as_text)) == head_of(document)


@AS_TEXT_OR_BYTES
def test_a_small_message_is_parsed_whole(as_text: bool) -> None:
    document = {"jsonrpc": "2.0", "id": 1, "result": {"content": [{"type": "text", "text": "x" * 1000}]}}
    assert message_head(given_as(json.dumps(document), as_text)) == document


@AS_TEXT_OR_BYTES
def test_escaped_quotes_and_backslashes_do_not_end_a_string_early(as_text: bool) -> None:
    tricky = {"a": 'x\\"}{][\\', "b": ["\\", '"', {"c": "\\\\"}], "id": "i\\d", "method": "m"}
    document = {**tricky, **PADDING}
    for indent in (None, 1):
        assert message_head(given_as(json.dumps(document, indent=indent), as_text)) == head_of(document)


@AS_TEXT_OR_BYTES
def test_characters_beyond_ascii_are_read_where_they_stand(as_text: bool) -> None:
    """In bytes a character of several bytes never holds a quote or a bracket: names and ids read right."""
    document = {"jsonrpc": "2.0", "id": "réponse-🙂", "ñame": 3, "result": {"text": '日本語 "q" ✓' * 1000}, **PADDING}
    expected = {"jsonrpc": UNREAD, "id": "réponse-🙂", "ñame": 3, "result": UNREAD, "padding": UNREAD}
    assert message_head(given_as(json.dumps(document, ensure_ascii=False), as_text)) == expected


@AS_TEXT_OR_BYTES
def test_a_message_that_would_cost_more_to_skip_than_to_parse_is_parsed_whole(as_text: bool) -> None:
    many_strings = {"id": 7, "result": {"items": ["s"] * HEAD_ONLY_FROM}}
    many_escaped_quotes = {"id": 7, "result": '\\"' * HEAD_ONLY_FROM}
    for document in (many_strings, many_escaped_quotes):
        assert message_head(given_as(json.dumps(document), as_text)) == document
    assert message_head(given_as(json.dumps([1, *range(HEAD_ONLY_FROM)]), as_text)) is None  # not an object


@AS_TEXT_OR_BYTES
def test_a_broken_big_message_is_no_message(as_text: bool) -> None:
    data = json.dumps({"id": 1, "result": {"a": [1, 2]}, **PADDING})
    for broken in (
        data[:-1],  # cut short
        data.replace('"result"', '"result', 1),  # a name never closed
        data.replace(": {", " {", 1),  # no colon
        data.replace("[1, 2]}", "[1, 2}}", 1),  # brackets that do not pair
        data + "x",  # more after the object
        data.replace('"id": 1', '"id": 1.x', 1),  # an id that is no value
        data.replace('"id": 1', '"id": tru', 1),  # nor is this
        data.replace('"id": 1', '"id": 1 2', 1),  # two values
    ):
        assert message_head(given_as(broken, as_text)) is None, broken[:40]
        assert json_object(broken) is None


def test_bytes_that_are_no_utf8_where_the_head_reads_are_no_message() -> None:
    data = json.dumps({"id": "x", "result": {"a": [1, 2]}, **PADDING}).encode()
    for broken in (data.replace(b'"id": "x"', b'"id": "\xff"', 1), data.replace(b'"id"', b'"\xffid"', 1)):
        assert message_head(broken) is None


@AS_TEXT_OR_BYTES
def test_what_a_head_leaves_unread_is_not_checked_within(as_text: bool) -> None:
    """The client above parses a result: the head only finds where it ends."""
    data = json.dumps({"id": 1, "result": {"a": [1, 2]}, **PADDING}).replace("[1, 2]", "[1 2 :]", 1)
    assert json_object(data) is None
    assert message_head(given_as(data, as_text)) == {"id": 1, "result": UNREAD, "padding": UNREAD}


def test_bytes_that_are_no_utf8_inside_an_unread_string_are_not_checked() -> None:
    data = json.dumps({"id": 1, "result": "ab", **PADDING}).encode().replace(b'"ab"', b'"a\xffb"', 1)
    assert json_object(data) is None
    assert message_head(data) == {"id": 1, "result": UNREAD, "padding": UNREAD}


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=4), st.booleans())
def test_a_window_of_a_bigger_buffer_reads_as_the_message_alone(members: dict[str, Any], as_text: bool) -> None:
    """An SSE event's data is read where it lies in the reader's buffer: what surrounds it (brackets,
    quotes, another message) is never read as part of it."""
    data = json.dumps({**members, **PADDING})
    before, after = 'event: message\ndata: {"x": "', '"}\n\ndata: }]{"\n\n'
    buffer = given_as(before + data + after, as_text)
    start = len(given_as(before, as_text))
    stop = start + len(given_as(data, as_text))
    assert message_head(buffer, start, stop) == message_head(given_as(data, as_text)) == head_of({**members, **PADDING})
    cut_short = message_head(buffer, start, stop - 1)  # the window ends before the object does
    assert cut_short is None
