"""Text generation: a local chat assistant (multi-turn, system prompt, streaming), or plain completion."""

import threading

import streamlit as st

from services import api, chat
from services.config import LIMITS
from services.errors import InputError
from ui import chat as chat_ui
from ui import compare
from ui.common import ensure_loaded, friendly_errors, limits_caption, model_picker

st.title("Text generation")
st.caption("A local chat assistant: every session shares one loaded copy of the model. "
           + limits_caption("text", "tokens"))

with st.sidebar:
    st.markdown("**Generation settings**")
    spec = model_picker("text-generation", key="gen_model")
    mode = st.radio("Mode", ["Chat", "Plain completion"], horizontal=True, key="gen_mode",
                    help="Chat: a conversation with the model's chat template. Plain completion continues your text as is.")
    if mode == "Chat":
        if "chat_system_loaded" in st.session_state:  # from a loaded conversation (set before the widget exists)
            st.session_state.chat_system = st.session_state.pop("chat_system_loaded")
        system = st.text_area("System prompt", chat.DEFAULT_SYSTEM_PROMPT, height=110, key="chat_system",
                              help="Sent first in every request; it is never dropped to fit the context.")
    max_new = st.slider("Max new tokens", 1, LIMITS.max_new_tokens, min(256, LIMITS.max_new_tokens), key="gen_max")
    temperature = st.slider("Temperature (0 = greedy)", 0.0, 2.0, 0.7, 0.05, key="gen_temp")
    top_p = st.slider("Top-p", 0.05, 1.0, 0.9, 0.05, key="gen_top_p")
    penalty = st.slider("Repetition penalty", 1.0, 2.0, 1.1, 0.05, key="gen_penalty")
    seed = st.number_input("Seed (same seed and settings give the same text)", 0, 2**31 - 1, 42, key="gen_seed")
    second = compare.second_model("text-generation", "gen_compare", spec)

with friendly_errors("Generation settings"):
    settings = api.generation_settings(max_new_tokens=int(max_new), temperature=float(temperature), top_p=float(top_p),
                                       repetition_penalty=float(penalty), seed=int(seed), chat=mode == "Chat")

if second is not None:
    st.caption("Compare mode: one prompt, both models answer with the same settings, one after the other.")
    prompt = st.text_area("Prompt", value="Write a Python function that reverses a string.", height=100,
                          key="gen_compare_prompt")
    go, stop = st.columns([1, 1])
    stop.button("Stop", key="gen_compare_stop", help="Ends the answer being written; what came is kept.")
    if go.button("Generate with both", type="primary", key="gen_compare_go"):
        with friendly_errors("Generation"):
            compare.stream_answers((spec, second), lambda model_id: api.generate_stream(
                prompt, settings, model=model_id, system=system if mode == "Chat" else None))
    else:
        compare.show_answers()
    st.stop()

if mode == "Plain completion":
    prompt = st.text_area("Prompt", value="The three laws of robotics are", height=120, key="gen_prompt")
    go, stop_col = st.columns([1, 1])
    if "gen_stop" not in st.session_state:
        st.session_state.gen_stop = threading.Event()
    if stop_col.button("Stop", key="gen_stop_btn"):
        st.session_state.gen_stop.set()
    if go.button("Generate", type="primary", key="gen_go"):
        with friendly_errors("Generation"):
            if ensure_loaded(spec):
                st.session_state.gen_stop = stop = threading.Event()
                stream = api.generate_stream(prompt, settings, model=spec.id, stop=stop)
                with st.container(border=True):
                    st.write_stream(piece for piece in stream if piece)
                if stream.result is not None:
                    st.session_state.gen_last = stream.result
    if last := st.session_state.get("gen_last"):
        st.caption(f"{last.tokens} tokens, {last.tokens_per_second:.1f} tokens/s, first token after "
                   f"{last.first_token_seconds:.2f} s")
    st.stop()

# ---------------------------------------------------------------- chat
chat_ui.keep_interrupted_answer()
history = chat_ui.messages()

with st.sidebar:
    st.markdown("**Conversation**")
    exported = ([chat.message("system", system)] if system.strip() else []) + history
    left, right = st.columns(2)
    left.download_button("Markdown", chat.to_markdown(exported, spec.id), "conversation.md", "text/markdown",
                         disabled=not history, key="chat_md", icon=":material/download:")
    right.download_button("JSON", chat.to_json(exported, spec.id, chat.settings_dict(settings)),
                          "conversation.json", "application/json", disabled=not history, key="chat_json",
                          icon=":material/download:")
    upload = st.file_uploader("Load a conversation (JSON)", type=["json"], key="chat_upload")
    if upload is not None and st.button("Load it", key="chat_load"):
        try:
            loaded = chat.from_json(upload.getvalue())
        except InputError as exc:
            st.error(f"Not loaded: {exc} Your conversation is unchanged.")
        else:
            if loaded and loaded[0].role == "system":
                st.session_state.chat_system_loaded = loaded[0].content
                loaded = loaded[1:]
            chat_ui.set_messages(loaded)
            st.rerun()
    if st.button("Clear the conversation", key="chat_clear", disabled=not history, icon=":material/delete:"):
        chat_ui.set_messages([])
        st.rerun()

if not history:
    st.info("Ask anything below. Answers stream in; **Stop** keeps what has come so far. "
            "Regenerate, edit the last message, and download the conversation as you go.")
chat_ui.draw(history)

# What to answer in this run: a new message, a regenerated answer, or an edited last message.
ask: list | None = None
answer_seed = int(seed)
last_user = max((i for i, m in enumerate(history) if m.role == "user"), default=None)
if last_user is not None and not st.session_state.get("chat_editing"):
    regen, edit, _ = st.columns([1, 1, 4])
    if regen.button("Regenerate", key="chat_regen", icon=":material/refresh:",
                    help="Answer the last message again (with the next seed, so the answer can differ)."):
        st.session_state.chat_variant = st.session_state.get("chat_variant", 0) + 1
        ask = history[: last_user + 1]
    if edit.button("Edit last message", key="chat_edit", icon=":material/edit:"):
        st.session_state.chat_editing = True
        st.session_state.chat_edit_text = history[last_user].content
        st.rerun()
if st.session_state.get("chat_editing") and last_user is not None:
    edited = st.text_area("Edit your last message", key="chat_edit_text", height=120)
    send, cancel, _ = st.columns([1, 1, 4])
    if cancel.button("Cancel", key="chat_edit_cancel"):
        st.session_state.chat_editing = False
        st.rerun()
    if send.button("Resend", type="primary", key="chat_resend"):
        st.session_state.chat_editing = False
        with friendly_errors("Editing"):
            ask = chat.user_turn(history[:last_user], edited)

typed = st.chat_input("Message the assistant", key="chat_input", max_chars=LIMITS.max_text_chars)
if typed is not None:
    with friendly_errors("Your message"):
        ask = chat.user_turn(history, typed)
        with st.chat_message("user"):
            st.markdown(chat_ui.literal(ask[-1].content))

if ask is not None:
    answer_seed += st.session_state.get("chat_variant", 0)
    with friendly_errors("Generation"):
        if ensure_loaded(spec):
            run_settings = api.generation_settings(**dict(chat.settings_dict(settings), seed=answer_seed))
            chat_ui.set_messages(ask)  # the question stays even if the answer fails or is stopped
            chat_ui.stream_answer(ask, system, run_settings, spec.id, answer_seed)
            st.rerun()
