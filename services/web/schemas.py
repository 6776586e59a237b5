"""Request bodies of the JSON endpoints (responses are the dataclasses of ``services.results``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from ..config import LIMITS

MAX_TEXTS = 1000


class TextsRequest(BaseModel):
    """``/v1/sentiment`` and ``/v1/entities``: the texts, and a catalog model (default when absent)."""

    texts: list[str] = Field(min_length=1, max_length=MAX_TEXTS, examples=[["The pasta was wonderful."]])
    model: str | None = None


class ExplainTextRequest(BaseModel):
    """``/v1/explain/sentiment``: one text, and a catalog sentiment model (default when absent)."""

    text: str = Field(examples=["The food was cold, but the dessert was lovely."])
    model: str | None = None


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class GenerateRequest(BaseModel):
    """``/v1/generate``: a ``prompt`` (one user turn, or plain text with ``chat: false``) or ``messages``."""

    prompt: str | None = Field(None, examples=["What is the capital of France?"])
    messages: list[ChatMessage] | None = Field(None, min_length=1, max_length=1000)
    system: str | None = None
    model: str | None = None
    max_new_tokens: int = Field(128, ge=1, le=LIMITS.max_new_tokens)
    temperature: float = Field(0.7, ge=0, le=5)
    top_p: float = Field(0.9, gt=0, le=1)
    repetition_penalty: float = Field(1.1, ge=0.5, le=3)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    chat: bool = True
    stream: bool = Field(False, description="server-sent events: `token` events, then `done` with the result")

    @model_validator(mode="after")
    def _one_input(self) -> "GenerateRequest":
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of prompt or messages")
        if self.messages is not None and not self.chat:
            raise ValueError("messages need chat mode (chat: true)")
        if self.system is not None and any(m.role == "system" for m in self.messages or []):
            raise ValueError("give the system prompt once: as system or as a system message")
        return self
