"""Text checks: a length limit, control characters removed, sentence splitting."""

from __future__ import annotations

import re
import unicodedata

from ..config import LIMITS
from ..errors import InputError

# control characters, zero-width/separator marks, and lone surrogates (JSON "\ud800" escapes; no codec encodes them)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u2028\u2029\ufeff\ud800-\udfff]")


_SURROGATES = re.compile("[\ud800-\udfff]")


def drop_surrogates(text: str) -> str:
    """Lone surrogates (a JSON "\\ud800" escape) cannot be encoded to send to a model: drop them."""
    return _SURROGATES.sub("", text)


def clean_text(text: str | None, what: str = "text", max_chars: int | None = None) -> str:
    """Normalise (NFC), drop control characters, reject empty or over-long text.

    The length of the cleaned text is what counts, so offsets returned by
    models index this string; callers that need offsets into the raw input pass
    text that is already clean (``clean_text`` is idempotent).
    """
    limit = max_chars or LIMITS.max_text_chars
    if text is None:
        raise InputError(f"The {what} is empty.")
    if not isinstance(text, str):
        raise InputError(f"The {what} must be text.")
    cleaned = _CONTROL.sub("", unicodedata.normalize("NFC", text))
    if not cleaned.strip():
        raise InputError(f"The {what} is empty.")
    if len(cleaned) > limit:
        raise InputError(f"The {what} is {len(cleaned):,} characters long; the limit is {limit:,}.")
    return cleaned


_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+|\n\s*\n|\n")


def split_sentences(text: str, max_chars: int = 1000) -> list[tuple[int, int]]:
    """Character spans of sentences (blank-free), each at most ``max_chars`` long.

    Used so long inputs are processed whole, in pieces, rather than cut off.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        _add_span(text, start, match.start(), max_chars, spans)
        start = match.end()
    _add_span(text, start, len(text), max_chars, spans)
    return spans


def _add_span(text: str, start: int, end: int, max_chars: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > max_chars:  # very long "sentence": cut at the last space in the window
        cut = text.rfind(" ", start, start + max_chars)
        cut = cut if cut > start else start + max_chars
        spans.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        spans.append((start, end))
