"""End-to-end in real headless Chromium against `streamlit run` on loopback:
open each page, upload a real file, and check the prediction shown.
Screenshots go to artifacts/screenshots/ (paths printed in the test output)."""

import os
from pathlib import Path
import subprocess
import sys

import pytest

from tools.soak import CHROMIUM, CHROMIUM_ARGS, start_dashboard

from .conftest import ARTIFACTS, DATA, ROOT, SAMPLES, free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = ARTIFACTS / "screenshots"




@pytest.fixture(scope="module")
def server():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (make browser)")
    port = free_port()
    try:
        proc = start_dashboard(port)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    url = f"http://127.0.0.1:{port}"
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    yield tab
    context.close()


def shot(tab, name):
    """Full-page screenshot once images and charts have rendered."""
    tab.wait_for_function("() => [...document.images].every(i => i.complete)", timeout=30_000)
    tab.wait_for_timeout(2000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def open_page(tab, server, slug):
    tab.goto(f"{server}/{slug}")
    tab.wait_for_selector("[data-testid='stSidebar']", timeout=60_000)


def no_exception(tab):
    assert tab.locator("[data-testid='stException']").count() == 0
    assert tab.get_by_text("This app has encountered an error").count() == 0


def test_no_page_loads_anything_from_outside(page, server):
    """An offline app: every request of every page goes to the dashboard itself, and the
    console shows no failed load (the old Material page icon was fetched from a font CDN)."""
    from urllib.parse import urlparse

    outside, failed = [], []
    page.on("request", lambda r: outside.append(r.url) if urlparse(r.url).hostname not in (None, "127.0.0.1") and
            not r.url.startswith(("data:", "blob:")) else None)
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" else None)
    for slug in ("", "image_classification", "text_analysis", "text_generation", "speech", "detection", "system"):
        open_page(page, server, slug)
        page.wait_for_timeout(1500)
    icon = page.locator("link[rel*='icon']").first.get_attribute("href")
    assert icon and urlparse(icon).hostname in (None, "127.0.0.1"), icon
    assert outside == [], outside
    # (Streamlit's own probe of /<page>/_stcore/health on a deep link is a loopback 404, not a failed load)
    assert not [m for m in failed if "net::ERR_" in m], failed


def test_home(page, server):
    open_page(page, server, "")
    page.get_by_text("Loaded models").first.wait_for(timeout=60_000)
    no_exception(page)
    shot(page, "home")


def test_image_upload_shows_cat(page, server):
    open_page(page, server, "image_classification")
    page.locator("input[type='file']").first.set_input_files(str(SAMPLES / "cat.jpg"))
    page.get_by_text("cat (", exact=False).first.wait_for(timeout=180_000)
    no_exception(page)
    shot(page, "image_classification")


def test_image_explanation_and_compare_mode(page, server):
    open_page(page, server, "image_classification")
    page.locator("input[type='file']").first.set_input_files(str(SAMPLES / "cat.jpg"))
    page.get_by_role("button", name="Explain: where is the evidence?").click()
    page.get_by_text("grad-cam of '", exact=False).first.wait_for(timeout=180_000)
    no_exception(page)
    shot(page, "image_explanation")
    page.get_by_text("Compare two models").first.click()
    page.get_by_text("Top-1 ", exact=False).first.wait_for(timeout=180_000)
    no_exception(page)
    shot(page, "image_compare")


def test_text_analysis_explains_the_sentiment(page, server):
    open_page(page, server, "text_analysis")
    page.locator("textarea").first.fill("The food was cold <b>and</b> the waiter was rude, but the dessert was lovely.")
    page.get_by_role("button", name="Analyse").click()
    page.get_by_role("button", name="Explain: which words decided?").click()
    page.get_by_text("integrated gradients,", exact=False).first.wait_for(timeout=180_000)
    shot(page, "text_explanation")
    strongest = page.locator("span[title='+1.00'], span[title='-1.00']")
    assert strongest.count() == 1  # the strongest word, coloured, its value on hover
    assert page.locator("b", has_text="and").count() == 0  # user text escaped
    no_exception(page)


def test_text_analysis_shows_sentiment_and_entities(page, server):
    open_page(page, server, "text_analysis")
    box = page.locator("textarea").first
    box.fill("Angela Merkel visited Paris. <img src=x onerror=alert(1)> It was a wonderful trip.")
    page.get_by_role("button", name="Analyse").click()
    page.get_by_text("POSITIVE").first.wait_for(timeout=180_000)
    page.locator("mark").first.wait_for(timeout=60_000)
    assert page.locator("img[src='x']").count() == 0
    no_exception(page)
    shot(page, "text_analysis")


def test_generation_compare_streams_both_and_stop_keeps_the_text(page, server):
    open_page(page, server, "text_generation")
    page.get_by_text("Compare two models").first.click()
    box = page.get_by_label("Prompt", exact=True)
    box.wait_for(timeout=60_000)
    box.fill("Write a long story about a lighthouse keeper.")
    page.get_by_role("button", name="Generate with both").click()
    page.get_by_text("Running ", exact=False).first.wait_for(timeout=60_000)
    page.wait_for_timeout(40_000)  # the model loads, reads the prompt, and writes for a while
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped: the text so far.").first.wait_for(timeout=60_000)
    kept = page.get_by_test_id("stMain").inner_text().split("Stopped: the text so far.", 1)[1]
    assert len(kept.strip()) > 20, kept  # what came before Stop stays
    assert page.get_by_role("button", name="Generate with both").is_enabled()
    no_exception(page)
    shot(page, "generation_compare_stopped")
    page.get_by_label("Prompt", exact=True).fill("What is the capital of France? One word.")
    page.get_by_role("button", name="Generate with both").click()
    page.get_by_text("tokens/s", exact=False).nth(1).wait_for(timeout=300_000)
    no_exception(page)
    shot(page, "generation_compare")


def send_chat(tab, text):
    box = tab.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


def test_chat_streams_and_keeps_the_conversation(page, server, tmp_path):
    open_page(page, server, "text_generation")
    send_chat(page, "What is the capital of France? Answer in one word.")
    page.get_by_text("tokens/s", exact=False).first.wait_for(timeout=300_000)
    assert "Paris" in page.get_by_test_id("stChatMessage").nth(1).inner_text()
    no_exception(page)
    shot(page, "chat")
    with page.expect_download() as download:
        page.get_by_role("button", name="JSON").click()
    saved = tmp_path / "conversation.json"
    download.value.save_as(saved)
    assert '"content": "What is the capital of France? Answer in one word."' in saved.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"messages": [{"role": "wizard", "content": "x"}]}')
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(bad))
    page.get_by_role("button", name="Load it").click(timeout=30_000)
    page.get_by_text("unknown role 'wizard'", exact=False).wait_for(timeout=30_000)
    assert page.get_by_test_id("stChatMessage").count() == 2  # the conversation is kept
    page.get_by_role("button", name="Clear the conversation").click()
    page.wait_for_timeout(1500)
    assert page.get_by_test_id("stChatMessage").count() == 0
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(saved))
    page.get_by_text("conversation.json").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    page.get_by_role("button", name="Load it").click(timeout=30_000)
    page.get_by_text("What is the capital of France?", exact=False).first.wait_for(timeout=30_000)
    assert page.get_by_test_id("stChatMessage").count() == 2
    no_exception(page)


def test_two_sessions_chat_at_once_and_stop_keeps_the_partial_answer(browser, server):
    tabs = []
    for _ in range(2):
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        tabs.append(context.new_page())
    for tab in tabs:
        open_page(tab, server, "text_generation")
    send_chat(tabs[0], "Write a long story about a dragon who loves tea.")
    send_chat(tabs[1], "Write a long story about a robot who loves gardening.")
    for tab in tabs:  # both are streaming before either is done
        tab.locator("text=▌").first.wait_for(timeout=300_000)
    tabs[0].get_by_role("button", name="Stop").click()
    tabs[0].get_by_text("stopped", exact=False).first.wait_for(timeout=60_000)
    tabs[1].get_by_text("tokens/s", exact=False).first.wait_for(timeout=300_000)
    first, second = (t.get_by_test_id("stChatMessage").nth(1).inner_text().lower() for t in tabs)
    assert "stopped" in first and "robot" not in first  # the partial answer is kept, marked stopped
    assert "robot" in second and "dragon" not in second
    for tab in tabs:
        no_exception(tab)
    shot(tabs[0], "chat_stopped")
    for tab in tabs:
        tab.context.close()


def test_speech_upload_transcribes(page, server):
    open_page(page, server, "speech")
    page.locator("input[type='file']").first.set_input_files(str(DATA / "jfk.mp3"))
    page.get_by_role("button", name="Transcribe").click()
    page.get_by_text("ask not what your country", exact=False).first.wait_for(timeout=300_000)
    no_exception(page)
    shot(page, "speech")


def test_speech_cancel_keeps_the_partial_transcript_for_download(page, server, tmp_path):
    import wave

    import numpy as np

    from services.inputs.audio import decode_audio

    jfk = decode_audio(DATA / "jfk.mp3")
    other = decode_audio(DATA / "espeak.wav")
    gap = np.zeros(16000, np.float32)
    audio = np.concatenate([jfk, gap, other, gap] * 24)  # about nine minutes
    long_file = tmp_path / "lecture.wav"
    with wave.open(str(long_file), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    open_page(page, server, "speech")
    page.locator("input[type='file']").first.set_input_files(str(long_file))
    page.get_by_role("button", name="Transcribe").click()
    page.get_by_text("transcribed · about", exact=False).first.wait_for(timeout=300_000)  # "... about 0:20 left"
    page.get_by_text("ask not what your country", exact=False).first.wait_for(timeout=300_000)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Cancelled: the transcript covers the first", exact=False).first.wait_for(timeout=60_000)
    page.get_by_text("Transcript (partial)").first.wait_for(timeout=10_000)
    page.get_by_test_id("stDownloadButton").first.wait_for(timeout=30_000)
    shot(page, "speech_cancelled")
    assert page.get_by_test_id("stDownloadButton").count() == 3  # TXT, SRT, VTT
    with page.expect_download() as download:
        page.get_by_test_id("stDownloadButton").first.click()
    assert download.value.suggested_filename == "lecture-partial.txt"
    assert "country" in Path(download.value.path()).read_text().lower()
    no_exception(page)


def test_detection_upload_draws_boxes(page, server):
    open_page(page, server, "detection")
    page.locator("input[type='file']").first.set_input_files(str(SAMPLES / "street.jpg"))
    page.get_by_text("street.jpg: ", exact=False).first.wait_for(timeout=180_000)
    assert "bus" in page.inner_text("body")
    no_exception(page)
    shot(page, "detection")


def test_system_page(page, server):
    open_page(page, server, "system")
    page.get_by_text("Load, unload, warm up").wait_for(timeout=60_000)
    no_exception(page)
    shot(page, "system")


def test_bad_upload_shows_a_message_and_the_page_keeps_working(page, server, tmp_path):
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("this is text, not a picture")
    open_page(page, server, "image_classification")
    page.locator("input[type='file']").first.set_input_files([str(bogus), str(SAMPLES / "coffee.jpg")])
    page.get_by_text("not an image file", exact=False).first.wait_for(timeout=180_000)
    page.get_by_text("espresso", exact=False).first.wait_for(timeout=180_000)
    no_exception(page)
    assert "Traceback" not in page.inner_text("body")


def test_soak_concurrent_sessions_have_no_errors():
    """A short soak in CI (8 sessions, 45 s); `tools/soak.py` runs the full 16 x 120 s."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (make browser)")
    out = subprocess.run([sys.executable, "tools/soak.py", "--sessions", "8", "--seconds", "45", "--port",
                          str(free_port())], cwd=ROOT, capture_output=True, text=True, timeout=600)
    print(out.stdout)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert ", 0 errors" in out.stdout


def test_detection_clip_is_tracked_counted_and_can_be_cancelled(page, server, tmp_path):
    from .synthetic_video import make_clip

    make_clip(tmp_path / "road.mp4")
    open_page(page, server, "detection")
    page.get_by_text("Video: track and count").click()
    page.locator("input[type='file']").nth(1).set_input_files(str(tmp_path / "road.mp4"))
    page.get_by_role("button", name="Track and count").click()
    page.get_by_text("Unique objects").wait_for(timeout=300_000)
    page.locator("video").first.wait_for(state="attached", timeout=60_000)
    body = page.inner_text("body")
    assert "bus" in body and "Counting line" in body and "Tracks (3)" in body
    no_exception(page)
    shot(page, "detection_clip")
    # a long run, cancelled part-way: a message, nothing kept, the page still works
    import numpy as np

    from services.video import VideoWriter

    longer = tmp_path / "long.mp4"
    writer = VideoWriter(longer, 640, 360, 10)
    for i in range(600):
        writer.write(np.full((360, 640, 3), (i * 3) % 255, np.uint8), i / 10)
    writer.close()
    page.locator("input[type='file']").nth(1).set_input_files(str(longer))
    page.get_by_text("long.mp4").first.wait_for(timeout=60_000)
    page.get_by_text("Settings that change the detections").wait_for(timeout=60_000)  # the upload's rerun is done
    page.get_by_role("button", name="Track and count").click()
    page.get_by_text("of 60.0 s of video", exact=False).first.wait_for(timeout=180_000)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Stopped. Nothing of that run was kept.").wait_for(timeout=60_000)
    no_exception(page)
