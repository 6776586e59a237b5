"""Conversations: messages, validation, import/export, and fitting the context window.

Pure data and rules, no model: the page keeps a ``Conversation`` per browser
session, ``api.chat_stream`` fits it to the model's context before sending, and
the CLI and tests read and write the same JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from .config import LIMITS
from .errors import InputError
from .inputs.text import clean_text, drop_surrogates

ROLES = ("system", "user", "assistant")
FORMAT = "ai-dashboard-chat"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, honest assistant running locally on the user's computer. "
    "Answer clearly and concisely; use Markdown, and fenced code blocks for code."
)
MAX_CONVERSATION_BYTES = 5 * 1024 * 1024
MAX_MESSAGES = 1000


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str
    meta: dict = field(default_factory=dict)  # tokens/s, model... for assistant answers; never sent to a model

    def to_dict(self) -> dict:
        out = {"role": self.role, "content": self.content}
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    def for_model(self) -> dict:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class Fitted:
    """The messages that fit the context, and how many old ones had to go."""

    messages: list[Message]
    dropped: int  # messages dropped from the start (whole turns only)
    prompt_tokens: int


def message(role: str, content: object, index: int = 0, meta: dict | None = None) -> Message:
    """A validated message; ``index`` names it in the error."""
    if role not in ROLES:
        raise InputError(f"message {index + 1}: unknown role '{str(role)[:40]}' (expected one of {', '.join(ROLES)})")
    if not isinstance(content, str):
        raise InputError(f"message {index + 1}: content must be text")
    if role == "assistant":
        if len(content) > LIMITS.max_text_chars:
            raise InputError(f"message {index + 1}: longer than {LIMITS.max_text_chars:,} characters")
        return Message(role, drop_surrogates(content), dict(meta or {}))
    return Message(role, clean_text(content, f"message {index + 1}"), dict(meta or {}))


def user_turn(history: Sequence[Message], text: str, system: str | None = None) -> list[Message]:
    """``history`` + the user's new message, with ``system`` first when given."""
    rest = [m for m in history if m.role != "system"]
    head = [message("system", system)] if system and system.strip() else []
    return head + rest + [message("user", text, len(rest))]


def fit_to_context(messages: Sequence[Message], count_tokens: Callable[[list[Message]], int],
                   context: int, reserve: int) -> Fitted:
    """Drop the oldest whole turns until the prompt plus ``reserve`` new tokens fits ``context``.

    The system prompt and the last user message always stay; a turn (a user message
    and the answers after it) is never cut in half. If even those two do not fit,
    the user is told by how much, instead of the model failing mid-way.
    """
    messages = list(messages)
    if not messages or messages[-1].role != "user":
        raise InputError("The conversation must end with a user message.")
    system = [m for m in messages[:1] if m.role == "system"]
    turns = _turns(messages[len(system):])
    budget = context - reserve
    dropped = 0
    while True:
        kept = system + [m for turn in turns for m in turn]
        tokens = count_tokens(kept)
        if tokens <= budget:
            return Fitted(kept, dropped, tokens)
        if len(turns) == 1:
            raise InputError(
                f"The message is too long for this model: the prompt needs {tokens:,} tokens, and with "
                f"{reserve:,} new tokens that exceeds the context of {context:,}. Shorten the message "
                "(or the system prompt), or lower max new tokens.")
        dropped += len(turns.pop(0))


def _turns(messages: list[Message]) -> list[list[Message]]:
    """Group into turns, each starting at a user message."""
    turns: list[list[Message]] = []
    for m in messages:
        if m.role == "system":
            raise InputError("Only the first message may be a system message.")
        if m.role == "user" or not turns:
            turns.append([m])
        else:
            turns[-1].append(m)
    return turns


# ---------------------------------------------------------------- import / export
def to_json(messages: Sequence[Message], model: str | None = None, settings: dict | None = None) -> str:
    doc = {"format": FORMAT, "version": 1, "model": model, "settings": settings or {},
           "messages": [m.to_dict() for m in messages]}
    return json.dumps(doc, ensure_ascii=False, indent=2)


def to_markdown(messages: Sequence[Message], model: str | None = None) -> str:
    lines = ["# Conversation", ""]
    if model:
        lines += [f"Model: `{model}`", ""]
    for m in messages:
        lines += [f"## {m.role.capitalize()}", "", m.content, ""]
    return "\n".join(lines)


def from_json(data: bytes | str) -> list[Message]:
    """Messages from our JSON export, or from a plain ``[{"role", "content"}]`` list (OpenAI style)."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if not raw.strip():
        raise InputError("The conversation file is empty.")
    if len(raw) > MAX_CONVERSATION_BYTES:
        raise InputError(f"The conversation file is larger than {MAX_CONVERSATION_BYTES // 2**20} MB.")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("The conversation file is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"The conversation file is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    items = doc.get("messages") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise InputError("The conversation file has no list of messages.")
    if len(items) > MAX_MESSAGES:
        raise InputError(f"The conversation has {len(items):,} messages; the limit is {MAX_MESSAGES:,}.")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "role" not in item or "content" not in item:
            raise InputError(f"message {i + 1}: expected an object with 'role' and 'content'")
        meta = item.get("meta") if isinstance(item.get("meta"), dict) else None
        out.append(message(item["role"], item["content"], i, meta))
    if any(m.role == "system" for m in out[1:]):
        raise InputError("Only the first message may be a system message.")
    return out


def settings_dict(settings) -> dict:
    return asdict(settings) if settings is not None else {}
