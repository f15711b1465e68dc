"""What text the app takes from a browser: printable characters, and line breaks and tabs
only where a person can type them (a multi-line box).

PostgreSQL refuses NUL in text outright, so one NUL in a field used to end in a 500; the
other controls (C0, DEL, C1) and lone surrogates are never typed by a person either, and
have no place in a receipt, an e-mail header or the books. ``conservancy.web.forms``
applies this to every text field of every form, and ``conservancy.web.app`` to the
address (path and query string) of every request.
"""

from __future__ import annotations

import re

# Never in any text: C0 controls other than tab, line feed and carriage return; DEL;
# C1 controls; lone surrogates (not UTF-8 at all, so no database could store them).
_NEVER = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff"
NEVER = re.compile(f"[{_NEVER}]")
# A single-line field also refuses what only a multi-line box lets a person type.
NOT_ON_ONE_LINE = re.compile(f"[{_NEVER}\t\n\r]")

ONE_LINE_REFUSED = "This field may not contain control characters, tabs or line breaks."
LINES_REFUSED = "This field may not contain control characters (line breaks and tabs are fine)."


def refusal(text: str, *, multiline: bool) -> str | None:
    """The message for ``text`` typed in a field of that kind, or None if it may stay."""
    if multiline:
        return LINES_REFUSED if NEVER.search(text) else None
    return ONE_LINE_REFUSED if NOT_ON_ONE_LINE.search(text) else None


def cleaned(text: str, *, multiline: bool) -> str:
    """``text`` without what the field refuses: tabs and line breaks become spaces, other
    controls go. Shown back in the refused form, so that what a person sees is what they
    may send again; never stored (the form was refused)."""
    pattern = NEVER if multiline else NOT_ON_ONE_LINE
    return pattern.sub(lambda m: " " if m.group() in "\t\n\r" else "", text)


def has_control(text: str) -> bool:
    """Whether ``text`` (a path segment, a query string's name or value) holds a character
    that no text here may hold."""
    return NEVER.search(text) is not None


def without_controls(text: str) -> str:
    """``text`` without the characters no text here may hold (tabs and line breaks stay)."""
    return NEVER.sub("", text)
