"""Speech transcription with Whisper: upload or record, timestamps, TXT/SRT/VTT."""

import hashlib

import streamlit as st

from services import api
from services.subtitles import to_srt, to_txt, to_vtt
from ui.common import ensure_loaded, friendly_errors, limits_caption, model_picker

LANGUAGES = {"Auto-detect": None, "English": "en", "German": "de", "French": "fr", "Spanish": "es",
             "Italian": "it", "Dutch": "nl", "Portuguese": "pt", "Polish": "pl", "Japanese": "ja", "Chinese": "zh"}

st.title("Speech transcription")
st.caption("Whisper, running locally. " + limits_caption("audio", "upload"))

with st.sidebar:
    st.markdown("**Transcription settings**")
    spec = model_picker("speech", key="asr_model")
    language_name = st.selectbox("Language", list(LANGUAGES), key="asr_lang",
                                 help="English-only models (.en) always transcribe English.")
    words = st.toggle("Word timestamps", value=False, key="asr_words")

upload_tab, mic_tab = st.tabs(["Upload", "Microphone"])
with upload_tab:
    upload = st.file_uploader("Audio (wav, mp3, m4a, ogg, flac, webm)",
                              type=["wav", "mp3", "m4a", "ogg", "flac", "webm", "opus", "aac"], key="asr_upload")
with mic_tab:
    recording = st.audio_input("Record", key="asr_mic")

source = upload or recording
if source is None:
    st.info("Upload an audio file or record with the microphone.")
    st.stop()

data = source.getvalue()
name = getattr(source, "name", "recording.wav") or "recording.wav"
st.audio(data)
# The transcript is kept per (audio, model, options), so widget changes do not lose it.
request = (hashlib.sha256(data).hexdigest(), spec.id, language_name, words)
if st.button("Transcribe", type="primary", key="asr_go") and ensure_loaded(spec):
    with friendly_errors("Transcription"):
        bar = st.progress(0.0, "Decoding audio...")
        live = st.empty()

        def progress(done: float, total: float, segments) -> None:
            bar.progress(min(1.0, done / total) if total else 1.0, f"Transcribed {done:.0f} s of {total:.0f} s")
            live.markdown("\n\n".join(f"`{s.start:6.1f}s` {s.text}" for s in segments[-8:]))

        st.session_state.asr_result = (request, api.transcribe(
            data, model=spec.id, language=LANGUAGES[language_name], word_timestamps=words, progress=progress, name=name,
        ))
        bar.empty()
        live.empty()

saved = st.session_state.get("asr_result")
if saved is None or saved[0] != request:
    st.stop()
transcript = saved[1]
rtf = transcript.seconds / transcript.duration if transcript.duration else 0
st.success(f"Language: **{transcript.language}** · {transcript.duration:.1f} s of audio in "
           f"{transcript.seconds:.1f} s (real-time factor {rtf:.2f})")
st.markdown("### Transcript")
st.write(transcript.text or "(no speech found)")
st.markdown("### Segments")
st.dataframe([{"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments], hide_index=True,
             width="stretch")
if words:
    with st.expander("Words"):
        st.dataframe([w.to_dict() for s in transcript.segments for w in s.words], hide_index=True)
stem = name.rsplit(".", 1)[0]
c1, c2, c3 = st.columns(3)
c1.download_button("TXT", to_txt(transcript), f"{stem}.txt", "text/plain")
c2.download_button("SRT", to_srt(transcript), f"{stem}.srt", "application/x-subrip")
c3.download_button("VTT", to_vtt(transcript), f"{stem}.vtt", "text/vtt")
