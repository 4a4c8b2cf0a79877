"""Whether a string can be stored in PostgreSQL ``text`` (and sent to it at all).

PostgreSQL text cannot hold NUL, and the driver sends UTF-8: a lone surrogate (``"\\ud800"``,
which JSON's ``\\uXXXX`` escapes can carry) is not valid Unicode and has no UTF-8 form, so it
fails while the statement is being encoded. Inputs are checked with this at the edge (422 naming
the field) instead.
"""

from __future__ import annotations


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored as it is, or None when it can."""
    if "\x00" in text:
        return "must not contain a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"is not valid Unicode: a lone surrogate U+{ord(text[exc.start]):04X} at position {exc.start}"
    return None
