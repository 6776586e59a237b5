"""Text generation: tokens stream onto the page; sampling controls; a stop button."""

import threading

import streamlit as st

from services import api
from services.config import LIMITS
from ui.common import ensure_loaded, friendly_errors, limits_caption, model_picker

st.title("Text generation")
st.caption("A small instruct model, running locally. " + limits_caption("text", "tokens"))

with st.sidebar:
    st.markdown("**Generation settings**")
    spec = model_picker("text-generation", key="gen_model")
    mode = st.radio("Mode", ["Chat", "Plain completion"], horizontal=True, key="gen_mode",
                    help="Chat applies the model's chat template; plain completion continues your text as is.")
    max_new = st.slider("Max new tokens", 1, LIMITS.max_new_tokens, min(128, LIMITS.max_new_tokens), key="gen_max")
    temperature = st.slider("Temperature (0 = greedy)", 0.0, 2.0, 0.7, 0.05, key="gen_temp")
    top_p = st.slider("Top-p", 0.05, 1.0, 0.9, 0.05, key="gen_top_p")
    penalty = st.slider("Repetition penalty", 1.0, 2.0, 1.1, 0.05, key="gen_penalty")
    seed = st.number_input("Seed (same seed and settings give the same text)", 0, 2**31 - 1, 42, key="gen_seed")

prompt = st.text_area("Prompt", value="Write a haiku about running AI models on your own computer.", height=120,
                      key="gen_prompt")
start_col, stop_col = st.columns([1, 1])
start = start_col.button("Generate", type="primary", key="gen_go")

# Each session has its own stop flag; the stop button sets it, and the loop
# checks it between tokens (the button click reruns the script, which also
# ends the previous run's stream).
if "gen_stop" not in st.session_state:
    st.session_state.gen_stop = threading.Event()
if stop_col.button("Stop", key="gen_stop_btn"):
    st.session_state.gen_stop.set()

if start:
    with friendly_errors("Generation"):
        settings = api.generation_settings(
            max_new_tokens=int(max_new), temperature=float(temperature), top_p=float(top_p),
            repetition_penalty=float(penalty), seed=int(seed), chat=mode == "Chat",
        )
        if ensure_loaded(spec):
            stop = threading.Event()
            st.session_state.gen_stop = stop
            stream = api.generate_stream(prompt, settings, model=spec.id, stop=stop)
            with st.container(border=True):
                st.write_stream(stream)
            result = stream.result
            if result is not None:
                st.session_state.gen_last = result
                stopped = " (stopped)" if stop.is_set() else ""
                st.caption(
                    f"{result.tokens} tokens in {result.seconds:.2f} s: {result.tokens_per_second:.1f} tokens/s; "
                    f"first token after {result.first_token_seconds:.2f} s{stopped}"
                )
elif "gen_last" in st.session_state:
    last = st.session_state.gen_last
    with st.container(border=True):
        st.markdown(last.text)
    st.caption(f"{last.tokens} tokens, {last.tokens_per_second:.1f} tokens/s, first token after "
               f"{last.first_token_seconds:.2f} s")
