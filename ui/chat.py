"""The chat page's pieces: the conversation kept per browser session, messages drawn
with ``st.chat_message``, and one answer streamed with Stop that keeps what came."""

from __future__ import annotations

import re
import time

import streamlit as st

from services import api, chat
from services.chat import Message

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&$])")


def literal(text: str) -> str:
    """The user's text shown as typed: Markdown and HTML characters escaped, line breaks kept."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def messages() -> list[Message]:
    """This session's conversation (user and assistant messages; the system prompt lives in the sidebar)."""
    return st.session_state.setdefault("chat_messages", [])


def set_messages(new: list[Message]) -> None:
    st.session_state.chat_messages = list(new)


def stats_caption(meta: dict) -> str:
    if not meta:
        return ""
    parts = []
    if "tokens" in meta:  # an answer cut short by Stop has no figures
        parts += [f"{meta['tokens']} tokens", f"{meta.get('tokens_per_second', 0):.1f} tokens/s",
                  f"first token after {meta.get('first_token_seconds', 0):.2f} s"]
    if meta.get("model"):
        parts.append(f"`{meta['model']}`")
    if meta.get("seed") is not None:
        parts.append(f"seed {meta['seed']}")
    if meta.get("finish_reason") == "stopped":
        parts.append("stopped")
    elif meta.get("finish_reason") == "length":
        parts.append("cut at max new tokens")
    return " · ".join(parts)


def dropped_note(meta: dict) -> str | None:
    dropped = meta.get("dropped_messages", 0) if meta else 0
    if not dropped:
        return None
    return (f"The conversation no longer fits the model's context: the oldest {dropped} messages "
            "were left out of this answer (they stay here and in the downloads).")


def draw(history: list[Message]) -> None:
    for m in history:
        with st.chat_message(m.role):
            if m.role == "user":
                st.markdown(literal(m.content))
            else:
                note = dropped_note(m.meta)
                if note:
                    st.info(note, icon=":material/content_cut:")
                st.markdown(m.content)
                if m.meta:
                    st.caption(stats_caption(m.meta))


def keep_interrupted_answer() -> None:
    """An answer cut short by Stop (or any rerun) is kept, marked as stopped."""
    pending = st.session_state.pop("chat_pending", None)
    if pending and pending["text"]:
        meta = dict(pending["meta"], finish_reason="stopped")
        set_messages(messages() + [Message("assistant", pending["text"], meta)])


def stream_answer(history: list[Message], system: str, settings, model_id: str, seed) -> None:
    """Answer the conversation's last user message, streamed into a chat bubble.

    What has arrived is kept in the session as it comes, so Stop (which reruns the
    page and ends this run) loses nothing."""
    with st.chat_message("assistant"):
        st.button("Stop", key="chat_stop", icon=":material/stop_circle:", help="Stop the answer; what came is kept.")
        full = ([chat.message("system", system)] if system.strip() else []) + history
        stream = api.chat_stream(full, settings, model=model_id)
        try:
            note = dropped_note({"dropped_messages": stream.dropped})
            if note:
                st.info(note, icon=":material/content_cut:")
            meta = {"model": model_id, "seed": seed, "dropped_messages": stream.dropped}
            st.session_state.chat_pending = {"text": "", "meta": meta}
            box = st.empty()
            box.markdown(":gray[_reading the conversation..._]")
            text, shown_at = "", 0.0
            for piece in stream:
                text += piece
                now = time.perf_counter()
                if now - shown_at > 0.05 or not piece:  # empty pieces: heartbeats that let Stop through
                    st.session_state.chat_pending["text"] = text
                    box.markdown(text + " ▌" if text else ":gray[_reading the conversation..._]")
                    shown_at = now
        finally:
            stream.close()
        st.session_state.pop("chat_pending", None)
        result = stream.result
        if result is None:
            return
        meta.update(tokens=result.tokens, tokens_per_second=round(result.tokens_per_second, 2),
                    first_token_seconds=result.first_token_seconds, finish_reason=result.finish_reason,
                    prompt_tokens=result.prompt_tokens)
        set_messages(history + [Message("assistant", result.text, meta)])
