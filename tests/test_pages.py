"""Every page through Streamlit's AppTest: it renders, takes real input, shows real output,
and bad input gives a message rather than an exception."""

import pytest
from streamlit.testing.v1 import AppTest

from .conftest import DATA, ROOT, SAMPLES

pytestmark = pytest.mark.slow
TIMEOUT = 300


def page(path: str) -> AppTest:
    """The real app (navigation and sidebar included), opened on ``path``."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page(path)
    return at


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_home_page_lists_every_task():
    at = page("app_pages/home.py").run()
    no_exceptions(at)
    text = " ".join(m.value for m in at.markdown)
    for blurb in ("ImageNet classes", "Sentiment", "instruct model", "Whisper", "Boxes around"):
        assert blurb in text
    defaults = [c.value for c in at.caption if c.value.startswith("Default model:")]
    assert len(defaults) == 5


def test_system_page_shows_the_catalog():
    at = page("app_pages/system.py").run()
    no_exceptions(at)
    frame = at.dataframe[0].value
    assert "efficientnet-lite0" in set(frame["model"])
    at.button[0].click().run()  # Load the selected (default image) model
    no_exceptions(at)
    assert any("is loaded" in s.value for s in at.success)
    frame = at.run().dataframe[0].value
    row = frame[frame["model"] == "efficientnet-lite0"].iloc[0]
    assert row["loaded"] and (row["device"] != "cpu" or row["why this device"])  # on CPU, it says why


def test_image_page_classifies_a_sample_cat():
    at = page("app_pages/image_classification.py").run()
    no_exceptions(at)
    at.multiselect(key="img_samples").select("cat.jpg").run()
    no_exceptions(at)
    heading = " ".join(h.value for h in at.subheader)
    assert "cat" in heading.lower()


def test_image_page_table_for_several_samples():
    at = page("app_pages/image_classification.py").run()
    at.multiselect(key="img_samples").select("cat.jpg").select("coffee.jpg").run()
    no_exceptions(at)
    frame = at.dataframe[0].value
    assert list(frame["file"]) == ["cat.jpg", "coffee.jpg"]
    assert "espresso" in frame["top class"].iloc[1] or "cup" in frame["top class"].iloc[1]


def test_text_analysis_page_shows_sentiment_and_escaped_entities():
    at = page("app_pages/text_analysis.py").run()
    no_exceptions(at)
    at.text_area(key="ta_text").input(
        "<script>alert(1)</script> Angela Merkel met Emmanuel Macron in Paris. <img src=x onerror=alert(2)> "
        "It was a wonderful, productive meeting."
    ).run()
    no_exceptions(at)
    html = " ".join(m.value for m in at.markdown)
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert "POSITIVE" in html
    assert "Paris" in html and "LOC" in html


def test_text_analysis_page_shows_neutral_and_the_share_of_sentences():
    at = page("app_pages/text_analysis.py").run()
    at.text_area(key="ta_text").input(
        "Angela Merkel met Emmanuel Macron in Paris. The pasta was wonderful. The service was slow and rude."
    ).run()
    no_exceptions(at)
    frame = at.dataframe[0].value
    assert list(frame["label"]) == ["NEUTRAL", "POSITIVE", "NEGATIVE"]
    assert {"negative", "neutral", "positive"} <= set(frame.columns)
    captions = " ".join(c.value for c in at.caption)
    assert "negative: 1 of 3 (33%) · neutral: 1 of 3 (33%) · positive: 1 of 3 (33%)" in captions
    entities = at.dataframe[1].value
    assert entities["score"].between(0.05, 0.999).all()  # calibrated, never the old constant 1.0


def test_text_analysis_page_refuses_empty_text():
    at = page("app_pages/text_analysis.py").run()
    at.text_area(key="ta_text").input("   ").run()
    no_exceptions(at)
    at.button(key="ta_go").click().run()
    no_exceptions(at)


def chat_page(max_tokens: int = 24) -> AppTest:
    at = page("app_pages/text_generation.py").run()
    no_exceptions(at)
    at.slider(key="gen_max").set_value(max_tokens)
    at.slider(key="gen_temp").set_value(0.0)
    return at.run()


def bubbles(at: AppTest) -> list[tuple[str, str]]:
    """(role, text) of every chat message on the page."""
    return [(m.name, " ".join(md.value for md in m.markdown)) for m in at.chat_message]


def test_chat_page_answers_follow_ups_regenerates_and_edits():
    at = chat_page()
    at.chat_input(key="chat_input").set_value("What is the capital of France? One word.").run()
    no_exceptions(at)
    assert [r for r, _ in bubbles(at)] == ["user", "assistant"]
    assert "Paris" in bubbles(at)[1][1]
    assert any("tokens/s" in c.value and "first token" in c.value for c in at.caption)
    at.chat_input(key="chat_input").set_value("And of Italy? One word.").run()
    assert "Rome" in bubbles(at)[3][1]
    at.button(key="chat_regen").click().run()
    no_exceptions(at)
    assert [r for r, _ in bubbles(at)] == ["user", "assistant"] * 2
    assert any("seed 43" in c.value for c in at.caption)
    at.button(key="chat_edit").click().run()
    at.text_area(key="chat_edit_text").input("And of Germany? One word.")
    at.button(key="chat_resend").click().run()
    no_exceptions(at)
    assert "Berlin" in bubbles(at)[3][1] and "Germany" in bubbles(at)[2][1]
    at.button(key="chat_clear").click().run()
    assert not at.chat_message


def test_chat_page_shows_user_html_as_text():
    at = chat_page(4)
    at.chat_input(key="chat_input").set_value("<b>bold?</b> **stars**").run()
    no_exceptions(at)
    shown = bubbles(at)[0][1]
    assert "\\<b\\>" in shown and "\\*\\*stars\\*\\*" in shown  # escaped: shown literally, never rendered


@pytest.mark.parametrize("text, message", [("   ", "empty"), ("word " * 20_000, "too long")])
def test_chat_page_refuses_an_empty_or_huge_message_and_keeps_the_conversation(text, message):
    at = chat_page(4)
    at.chat_input(key="chat_input").set_value("Say hi.").run()
    at.chat_input(key="chat_input").set_value(text).run()
    no_exceptions(at)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert [r for r, _ in bubbles(at)][:2] == ["user", "assistant"]


def test_plain_completion_mode_still_works():
    at = page("app_pages/text_generation.py").run()
    at.radio(key="gen_mode").set_value("Plain completion").run()
    at.text_area(key="gen_prompt").input("The capital of France is")
    at.slider(key="gen_max").set_value(6)
    at.slider(key="gen_temp").set_value(0.0)
    at.button(key="gen_go").click().run()
    no_exceptions(at)
    assert any("tokens/s" in c.value for c in at.caption)
    at.text_area(key="gen_prompt").input("   ")
    at.button(key="gen_go").click().run()
    assert any("empty" in e.value for e in at.error)


def test_detection_page_finds_the_bus():
    at = page("app_pages/detection.py").run()
    no_exceptions(at)
    at.checkbox(key="det_sample").check().run()
    no_exceptions(at)
    counts = " ".join(m.value for m in at.markdown)
    assert "- bus: **1**" in counts and "car" in counts


def test_speech_page_renders_its_inputs():
    at = page("app_pages/speech.py").run()
    no_exceptions(at)
    assert any("Upload an audio file" in i.value for i in at.info)


@pytest.mark.parametrize("text, expect_error", [
    ("😀😀🎉 🙃", False),
    ("مرحبا بالعالم. שלום עולם.", False),
    ("a\x00b\x1b[31mc\u200b", False),
    ("x" * 1_000_000, True),
])
def test_text_analysis_odd_input_gives_a_result_or_a_message(text, expect_error):
    at = page("app_pages/text_analysis.py").run()
    at.text_area(key="ta_text").input(text).run()
    no_exceptions(at)
    if expect_error:
        assert any("limit" in e.value for e in at.error)
    else:
        assert not at.error
        assert any("confident" in m.value for m in at.markdown)


BAD_FILES = {
    "empty": b"",
    "text renamed": b"just some text, not media at all",
    "truncated": (SAMPLES / "street.jpg").read_bytes()[:3000],
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_speech_page_bad_audio_gives_a_message(kind):
    at = page("app_pages/speech.py").run()
    at.file_uploader(key="asr_upload").upload("talk.mp3", BAD_FILES[kind], "audio/mpeg").run()
    no_exceptions(at)
    at.button(key="asr_go").click().run()
    no_exceptions(at)
    assert at.error and "talk.mp3" in at.error[0].value
    assert "Traceback" not in at.error[0].value


def test_speech_page_transcribes_an_upload():
    at = page("app_pages/speech.py").run()
    at.file_uploader(key="asr_upload").upload("jfk.mp3", (DATA / "jfk.mp3").read_bytes(), "audio/mpeg").run()
    at.button(key="asr_go").click().run()
    no_exceptions(at)
    assert any("ask not what your country" in m.value for m in at.markdown)
    assert any("real-time factor" in s.value for s in at.success)


def test_speech_page_says_english_only_models_cannot_translate():
    at = page("app_pages/speech.py").run()
    assert at.radio(key="asr_task").disabled and at.multiselect(key="asr_expected").disabled
    assert any("English-only: it cannot translate" in c.value for c in at.sidebar.caption)


def test_speech_page_translates_and_shows_the_language_guesses():
    at = page("app_pages/speech.py").run()
    at.selectbox(key="asr_model").select_index(1).run()  # Whisper base, multilingual
    assert "multilingual" in at.selectbox(key="asr_model").value.name
    at.radio(key="asr_task").set_value("Translate to English").run()
    at.multiselect(key="asr_expected").set_value(["German", "English"]).run()
    at.file_uploader(key="asr_upload").upload("de.mp3", (DATA / "speech_de.mp3").read_bytes(), "audio/mpeg").run()
    at.button(key="asr_go").click().run()
    no_exceptions(at)
    assert any("translated to English" in s.value for s in at.success)
    assert any(c.value.startswith("Language detection: de") for c in at.caption)
    assert any("berlin" in m.value.lower() for m in at.markdown)


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_detection_page_bad_image_gives_a_message_and_other_files_still_work(kind):
    at = page("app_pages/detection.py").run()
    at.file_uploader(key="det_upload").set_value([
        ("broken.jpg", BAD_FILES[kind], "image/jpeg"),
        ("street.jpg", (SAMPLES / "street.jpg").read_bytes(), "image/jpeg"),
    ]).run()
    no_exceptions(at)
    assert at.error and "broken.jpg" in at.error[0].value
    assert any("- bus: **1**" in m.value for m in at.markdown)


def test_detection_page_tracks_a_clip_recounts_on_a_new_threshold_and_redraws(tmp_path):
    from .synthetic_video import grouped, make_clip

    make_clip(tmp_path / "road.mp4")
    at = page("app_pages/detection.py").run()
    at.file_uploader(key="det_clip").set_value([("road.mp4", (tmp_path / "road.mp4").read_bytes(), "video/mp4")]).run()
    at.button(key="det_clip_go").click().run(timeout=300)
    no_exceptions(at)
    shown = {m.label: int(m.value) for m in at.metric}
    assert grouped(shown) == {"bus": 1, "vehicle": 2}, shown
    assert len(at.get("video")) == 1
    at.slider(key="det_threshold").set_value(0.95).run(timeout=120)
    no_exceptions(at)
    assert not at.metric and any("No object was tracked" in i.value for i in at.info)
    assert any("still shows the old ones" in i.value for i in at.info)
    at.button(key="det_redraw").click().run(timeout=300)
    no_exceptions(at)
    assert not any("still shows the old ones" in i.value for i in at.info)


def test_detection_page_refuses_an_audio_file_as_a_clip():
    at = page("app_pages/detection.py").run()
    at.file_uploader(key="det_clip").set_value([("talk.mp4", (DATA / "jfk.mp3").read_bytes(), "video/mp4")]).run()
    at.button(key="det_clip_go").click().run(timeout=120)
    no_exceptions(at)
    assert at.error and "no video track" in at.error[0].value


@pytest.mark.allow_streamlit_deprecations
def test_the_deprecation_guard_catches_an_old_streamlit_api(streamlit_deprecations):
    """The guard every other test runs under really sees Streamlit's deprecation warnings."""
    at = AppTest.from_string('import streamlit as st\nst.dataframe({"a": [1]}, use_container_width=True)').run()
    assert not at.exception
    assert any("use_container_width" in m for m in streamlit_deprecations), streamlit_deprecations


# ---------------------------------------------------------------- compare mode and explanations
def test_image_page_compares_two_models_and_explains_on_request():
    at = page("app_pages/image_classification.py").run()
    at.multiselect(key="img_samples").select("cat.jpg").run()
    at.button(key="img_explain").click().run()
    no_exceptions(at)
    assert any(c.value.startswith("grad-cam of '") and "cat" in c.value for c in at.caption)
    assert any(c.value.startswith("grad-cam of '") for c in at.run().caption)  # it stays on the next rerun
    at.selectbox(key="img_explain_class").select_index(4).run()  # another class: its own explanation, on request
    assert not any(c.value.startswith("grad-cam of '") for c in at.caption)
    at.button(key="img_explain").click().run()
    chosen = at.selectbox(key="img_explain_class").value.label
    assert any(c.value.startswith(f"grad-cam of '{chosen}'") for c in at.caption)
    at.toggle(key="img_compare_on").set_value(True).run()
    no_exceptions(at)
    assert at.selectbox(key="img_compare_model").value.id == "efficientnet-lite1"  # another available model
    verdict = [m.value for m in [*at.success, *at.warning] if m.value.startswith("Top-1")]
    assert len(verdict) == 1 and "cat" in verdict[0]
    assert sum(" MB" in c.value and " ms" in c.value for c in at.caption) == 2  # each side's time and memory
    at.multiselect(key="img_samples").select("coffee.jpg").run()
    no_exceptions(at)
    assert any(i.value.startswith("Top-1 agrees on") and "of 2 images" in i.value for i in at.info)


def test_image_page_compare_with_an_unavailable_model_says_why_and_shows_the_first():
    from services.catalog import Catalog

    at = page("app_pages/image_classification.py").run()
    at.multiselect(key="img_samples").select("cat.jpg").run()
    at.toggle(key="img_compare_on").set_value(True).run()
    at.selectbox(key="img_compare_model").set_value(Catalog.load().get("resnet50")).run()
    no_exceptions(at)
    assert any("could not run" in w.value and "unreachable" in w.value for w in at.warning)
    assert sum(" MB" in c.value and " ms" in c.value for c in at.caption) == 1


def test_text_page_compares_entity_models_and_explains_the_sentiment():
    at = page("app_pages/text_analysis.py").run()
    at.button(key="ta_explain").click().run()
    no_exceptions(at)
    assert any(c.value.startswith("integrated gradients") and "'wonderful' +" in c.value for c in at.caption)
    assert any("rgba(34,197,94" in m.value for m in at.markdown)
    at.toggle(key="ta_compare_on").set_value(True).run()
    no_exceptions(at)
    # the only other sentiment model is a hub one: it says why, and the first side is still shown
    assert any("DistilBERT" in w.value and "could not run" in w.value for w in at.warning)
    assert at.dataframe and "confidence" in at.dataframe[0].value.columns
    highlighted = [m.value for m in at.markdown if "<mark" in m.value]
    assert len(highlighted) == 2 and any('class="only-here"' in h for h in highlighted)
    assert "PERSON" in highlighted[1] and "PER<" in highlighted[0]  # OntoNotes' and CoNLL's types, each its own


def test_generation_page_streams_both_answers_with_tokens_per_second():
    from services.catalog import Catalog

    catalog = Catalog.load()
    at = page("app_pages/text_generation.py").run()
    at.selectbox(key="gen_model").set_value(catalog.get("smollm2-135m-instruct"))
    at.toggle(key="gen_compare_on").set_value(True).run()
    at.selectbox(key="gen_compare_model").set_value(catalog.get("qwen2.5-coder-0.5b-instruct"))
    at.slider(key="gen_max").set_value(12)
    at.slider(key="gen_temp").set_value(0.0)
    at.text_area(key="gen_compare_prompt").set_value("What is the capital of France?").run()
    at.button(key="gen_compare_go").click().run()
    no_exceptions(at)
    speeds = [c.value for c in at.caption if "tokens/s" in c.value]
    assert len(speeds) == 2 and all(" 0.0 tokens/s" not in s for s in speeds)
    assert any("Paris" in m.value for m in at.markdown)
    at.run()  # any rerun (a widget, Stop) keeps the answers on the page
    assert len([c for c in at.caption if "tokens/s" in c.value]) == 2 and any("Paris" in m.value for m in at.markdown)


def test_speech_page_compares_two_whisper_engines_with_a_word_diff():
    from services.catalog import Catalog

    at = page("app_pages/speech.py").run()
    at.toggle(key="asr_compare_on").set_value(True).run()
    at.selectbox(key="asr_compare_model").set_value(Catalog.load().get("faster-whisper-tiny.en"))
    at.file_uploader(key="asr_upload").upload("jfk.mp3", (DATA / "jfk.mp3").read_bytes(), "audio/mpeg").run()
    at.button(key="asr_compare_go").click().run()
    no_exceptions(at)
    assert sum("ask not what your country" in m.value.lower() for m in at.markdown) >= 2
    wer = [m.value for m in at.markdown if m.value.startswith("Word error rate of B against A")]
    assert len(wer) == 1 and "of 22 words" in wer[0]


def test_detection_page_compares_with_and_without_tiles():
    at = page("app_pages/detection.py").run()
    at.checkbox(key="det_sample").check()
    at.toggle(key="det_compare_on").set_value(True).run()
    no_exceptions(at)
    assert at.selectbox(key="det_compare_model").value.id == "nanodet-g" and not at.toggle(key="det_compare_tiles").value
    summary = [c.value for c in at.caption if c.value.startswith("street.jpg:") and "IoU" in c.value]
    assert len(summary) == 1 and "boxes in both" in summary[0]
    assert any("tiles" in m.value for m in at.markdown) and any("no tiles" in m.value for m in at.markdown)
