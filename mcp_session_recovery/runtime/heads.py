"""The head of a big JSON-RPC message: its members' names, its id and its scalars, the rest skipped.

A relay must tell a response from a notification and match its id; the client above parses the
result anyway. Parsing a 1 MiB result costs about 2.5 ms, and even decoding it to text copies it
(about 0.5 ms on a loaded machine, most of it touching fresh memory): the head is read from the
bytes as they came. UTF-8 never encodes a character with a byte below 128, so the quotes, brackets
and separators the head looks for are found in the bytes exactly where they are in the text.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from typing import Any, Final, NamedTuple

from .reading import json_object, scan_json_value

__all__ = ["HEAD_ONLY_FROM", "UNREAD", "message_head"]


class _Unread:
    """The type of :data:`UNREAD`."""

    def __repr__(self) -> str:
        return "UNREAD"


#: The value of a member :func:`message_head` did not read.
UNREAD: Final = _Unread()
#: The size (characters, or bytes) from which :func:`message_head` reads only a message's head.
HEAD_ONLY_FROM = 1 << 16
#: One step of :func:`message_head` (a string skipped, a bracket or separator looked at) per this
#: many characters of the message, at most; past that it parses the whole. A step takes 100-450 ns:
#: a message the head gives up on (many small values) costs at most 2 ns a character more, where
#: parsing such a message takes 10-40 ns a character.
_CHARACTERS_PER_STEP = 256


class _Syntax(NamedTuple):
    """The characters the head looks at, as items of the message's type: one-character strings of a
    ``str``, integers of ``bytes`` (what indexing each gives)."""

    whitespace: Container[object]
    quote: object
    backslash: object
    colon: object
    comma: object
    open_object: object
    close_object: object
    #: What opens a value the head skips (a string, an object, an array).
    skipped: Container[object]
    #: What closes each bracket.
    closing: Mapping[object, object]
    closers: Container[object]
    #: The longest run that can be a number, ``true``, ``false`` or ``null``.
    scalar: re.Pattern[Any]


def _syntax(text_of: Any, scalar: re.Pattern[Any]) -> _Syntax:
    """The syntax for the type ``text_of`` makes of a string: items as indexing that type gives them."""
    item = (lambda character: character) if text_of is str else ord
    return _Syntax(
        whitespace=text_of(" \t\n\r"),
        quote=item('"'),
        backslash=item("\\"),
        colon=item(":"),
        comma=item(","),
        open_object=item("{"),
        close_object=item("}"),
        skipped=text_of('"{['),
        closing={item("{"): item("}"), item("["): item("]")},
        closers=text_of("}]"),
        scalar=scalar,
    )


_TEXT = _syntax(str, re.compile(r"[^,}\]\s]*"))
_BYTES = _syntax(str.encode, re.compile(rb"[^,}\]\s]*"))


class _TooCostly(Exception):
    """Reading only the head would cost about as much as parsing the whole message."""


def message_head(data: bytes | bytearray | str, start: int = 0, stop: int | None = None) -> dict[str, Any] | None:
    """``data[start:stop]`` as :func:`~.reading.json_object` gives it, but of a message of
    ``HEAD_ONLY_FROM`` characters (or bytes) or more only its head is read: every member's name, the
    value of ``id`` and every number, ``true``, ``false`` and ``null``; a string, object or array
    is :data:`UNREAD`.

    An unread value is only found to end where it should (its strings closed, its brackets paired),
    not checked within, not even for valid UTF-8. A message whose head costs more than a small share
    of a whole parse (many strings, escaped quotes, brackets), or that is not an object, is parsed
    whole. The message is read in place: a window of a bigger buffer is never copied out of it.
    """
    stop = len(data) if stop is None else stop
    if stop - start < HEAD_ONLY_FROM:
        return json_object(data[start:stop])
    syntax = _TEXT if isinstance(data, str) else _BYTES
    try:
        return _head(data, syntax, start, stop, (stop - start) // _CHARACTERS_PER_STEP)
    except (_TooCostly, ValueError, IndexError, RecursionError, StopIteration):
        return json_object(data[start:stop])  # the whole parse decides (and refuses what is no object)


_Text = str | bytes | bytearray


def _head(text: _Text, syntax: _Syntax, start: int, stop: int, budget: int) -> dict[str, Any]:
    """The members of the object ``text[start:stop]``, its strings, objects and arrays unread."""
    index = _after_whitespace(text, syntax, start, stop)
    if text[index] != syntax.open_object:
        raise ValueError("not an object")
    index = _after_whitespace(text, syntax, index + 1, stop)
    members: dict[str, Any] = {}
    if text[index] == syntax.close_object:
        index += 1
    else:
        while True:
            if text[index] != syntax.quote:
                raise ValueError("a member name must be a string")
            end, budget = _string_end(text, syntax, index, stop, budget - 1)
            name = _value(text[index:end])
            index = _after_whitespace(text, syntax, end, stop)
            if text[index] != syntax.colon:
                raise ValueError("a member name must be followed by a colon")
            index = _after_whitespace(text, syntax, index + 1, stop)
            first = text[index]
            if first == syntax.quote:
                end, budget = _string_end(text, syntax, index, stop, budget - 1)
            elif first in syntax.skipped:
                end, budget = _composite_end(text, syntax, index, stop, budget - 1)
            else:
                match = syntax.scalar.match(text, index, stop)
                assert match is not None  # a pattern of ``*`` matches everywhere
                end = match.end()
            members[name] = _value(text[index:end]) if name == "id" or first not in syntax.skipped else UNREAD
            index = _after_whitespace(text, syntax, end, stop)
            if text[index] == syntax.close_object:
                index += 1
                break
            if text[index] != syntax.comma:
                raise ValueError("members must be separated by commas")
            index = _after_whitespace(text, syntax, index + 1, stop)
    if text[index:stop].strip(syntax.whitespace):  # type: ignore[arg-type]  # the syntax is the text's type
        raise ValueError("more after the object")
    return members


def _value(piece: _Text) -> Any:
    """The JSON value that is all of ``piece``."""
    text = piece if isinstance(piece, str) else piece.decode("utf-8")
    value, end = scan_json_value(text, 0)
    if end != len(text):
        raise ValueError("not one value")
    return value


def _after_whitespace(text: _Text, syntax: _Syntax, index: int, stop: int) -> int:
    while text[index] in syntax.whitespace:  # a message has little whitespace around its members
        index += 1
    if index >= stop:
        raise IndexError("the message ends")
    return index


def _string_end(text: _Text, syntax: _Syntax, start: int, stop: int, budget: int) -> tuple[int, int]:
    """Where the string opening at ``start`` ends (after its closing quote), and the budget left."""
    index = start + 1
    while budget > 0:
        quote = text.index(syntax.quote, index, stop)  # type: ignore[arg-type]
        before = quote - 1
        while text[before] == syntax.backslash:  # stops at the opening quote at the latest
            before -= 1
        if (quote - 1 - before) % 2 == 0:  # an even run of backslashes: the quote is not escaped
            return quote + 1, budget
        index = quote + 1
        budget -= 1
    raise _TooCostly


def _composite_end(text: _Text, syntax: _Syntax, start: int, stop: int, budget: int) -> tuple[int, int]:
    """Where the object or array opening at ``start`` ends, and the budget left."""
    expected: list[object] = []
    index = start
    while True:
        quote = text.find(syntax.quote, index, stop)  # type: ignore[arg-type]
        end = stop if quote < 0 else quote
        budget -= end - index
        if budget < 0:
            raise _TooCostly
        for position in range(index, end):
            character = text[position]
            if character in syntax.closing:
                expected.append(syntax.closing[character])
            elif character in syntax.closers:
                if not expected or expected.pop() != character:
                    raise ValueError("unpaired bracket")
                if not expected:
                    return position + 1, budget
        if quote < 0:
            raise ValueError("unclosed object or array")
        index, budget = _string_end(text, syntax, quote, stop, budget - 1)
