"""The HTTP API as a client sees it: a real uvicorn server on loopback (``python -m
services.web``), called with httpx for every task with real files, streaming included;
then schemathesis against the server's own OpenAPI schema."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from .conftest import DATA, ROOT, SAMPLES, free_port
from .synthetic_video import grouped, make_clip

pytestmark = pytest.mark.slow
KEY = "test-key-7f3a"
AUTH = {"Authorization": f"Bearer {KEY}"}
UPLOAD_MB = 5
MAX_NEW_TOKENS = 16




@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "API_KEY": KEY, "MAX_UPLOAD_MB": str(UPLOAD_MB), "MAX_NEW_TOKENS": str(MAX_NEW_TOKENS),
           "SERVICES_BACKEND": "local", "API_PORT": str(port)}
    env.pop("API_HOST", None)
    proc = subprocess.Popen([sys.executable, "-m", "services.web"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if httpx.get(f"{url}/health", headers=AUTH, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("the API did not start:\n" + proc.stdout.read())
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server, headers=AUTH, timeout=300) as c:
        yield c


def upload(*paths, field="file"):
    return [(field, (p.name, p.read_bytes())) for p in paths]


def events(response) -> list[tuple[str, dict]]:
    """Server-sent events as (name, data) pairs."""
    out, name = [], None
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            out.append((name, json.loads(line.split(":", 1)[1])))
    return out


@pytest.fixture(scope="module")
def openapi(client):
    return client.get("/openapi.json").json()


def conforms(openapi, path: str, body) -> None:
    """The JSON body matches the response schema the server documents (from the result dataclasses)."""
    import jsonschema

    schema = openapi["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": openapi["components"]}).validate(body)


def assert_problem(reply, status: int, detail_part: str):
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body = reply.json()
    assert body["status"] == status and body["title"] and detail_part in body["detail"], body
    assert "Traceback" not in reply.text
    return body


def test_health_and_the_catalog(client):
    assert client.get("/health").json()["status"] == "ok"
    models = {m["id"]: m for m in client.get("/v1/models").json()}
    assert models["efficientnet-lite0"]["available"] and models["efficientnet-lite0"]["default"]
    assert not models["resnet50"]["available"] and models["resnet50"]["reason"]


def test_classify_several_files_in_one_request(client, openapi):
    reply = client.post("/v1/classify", files=upload(SAMPLES / "cat.jpg", SAMPLES / "street.jpg"), data={"top_k": 3})
    assert reply.status_code == 200, reply.text
    conforms(openapi, "/v1/classify", reply.json())
    cat, street = reply.json()
    assert cat["file"] == "cat.jpg" and cat["predictions"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
    assert len(cat["predictions"]) == 3 and street["file"] == "street.jpg"


def test_detect_finds_the_bus(client, openapi):
    reply = client.post("/v1/detect", files=upload(SAMPLES / "street.jpg"), data={"threshold": 0.4})
    assert reply.status_code == 200, reply.text
    conforms(openapi, "/v1/detect", reply.json())
    assert "bus" in {d["label"] for d in reply.json()[0]["detections"]}


def test_sentiment_and_entities(client, openapi):
    reply = client.post("/v1/sentiment", json={"texts": ["The pasta was wonderful.", "A dull, tedious film."]})
    assert [r["label"] for r in reply.json()] == ["POSITIVE", "NEGATIVE"]
    conforms(openapi, "/v1/sentiment", reply.json())
    reply = client.post("/v1/entities", json={"texts": ["Angela Merkel visited Paris."]})
    conforms(openapi, "/v1/entities", reply.json())
    spans = {(e["text"], e["label"]) for e in reply.json()[0]["entities"]}
    assert ("Angela Merkel", "PER") in spans and ("Paris", "LOC") in spans


def test_explanations_of_an_image_and_a_sentence(client, openapi):
    reply = client.post("/v1/explain/image", files=[("file", ("cat.jpg", (SAMPLES / "cat.jpg").read_bytes()))])
    assert reply.status_code == 200, reply.text
    conforms(openapi, "/v1/explain/image", reply.json())
    body = reply.json()
    assert body["method"] == "grad-cam" and "cat" in body["label"] and body["box"] == [94, 19, 357, 281]
    assert max(max(row) for row in body["heatmap"]) == 1.0
    reply = client.post("/v1/explain/sentiment", json={"text": "The waiter was rude, but the dessert was lovely."})
    assert reply.status_code == 200, reply.text
    conforms(openapi, "/v1/explain/sentiment", reply.json())
    words = {w["text"]: w["score"] for w in reply.json()["words"]}
    assert words["lovely"] > 0 > words["rude"]
    assert_problem(client.post("/v1/explain/image", files=[("file", ("cat.jpg", (SAMPLES / "cat.jpg").read_bytes()))],
                               data={"index": 5000}), 422, "outside")
    assert_problem(client.post("/v1/explain/sentiment", json={"text": " \u200b "}), 422, "empty")


def test_transcribe_json_and_progress_events(client, openapi):
    reply = client.post("/v1/transcribe", files=upload(DATA / "jfk.mp3"), data={"words": "true"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    conforms(openapi, "/v1/transcribe", body)
    assert body["segments"][0]["words"][0]["word"].strip() == "And"
    assert "ask not what your country" in body["text"].lower() and body["file"] == "jfk.mp3"
    assert body["duration"] == pytest.approx(11.0, abs=0.2) and 0 < body["real_time_factor"] < 5
    with client.stream("POST", "/v1/transcribe", files=upload(DATA / "jfk.mp3"), data={"stream": "true"}) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        got = events(reply)
    assert [n for n, _ in got][-1] == "done" and any(n == "progress" for n, _ in got)
    assert got[-1][1]["text"] == body["text"]
    assert body["complete"] is True and body["task"] == "transcribe" and body["budget_seconds"] > 11


def test_transcribe_translates_restricts_languages_and_stops_at_a_budget(client, openapi):
    reply = client.post("/v1/transcribe", files=upload(DATA / "accented_en.mp3"),
                        data={"model": "whisper-base", "languages": "en,de"})
    assert reply.status_code == 200, reply.text
    conforms(openapi, "/v1/transcribe", reply.json())
    guesses = reply.json()["language_probabilities"]
    assert reply.json()["language"] == "en" and {g["language"] for g in guesses} <= {"en", "de"}
    reply = client.post("/v1/transcribe", files=upload(DATA / "speech_de.mp3"),
                        data={"model": "whisper-base", "task": "translate"})
    assert reply.status_code == 200 and reply.json()["task"] == "translate"
    assert "berlin" in reply.json()["text"].lower()
    reply = client.post("/v1/transcribe", files=upload(DATA / "jfk.mp3"), data={"budget_seconds": "0.2"})
    assert reply.status_code == 200 and reply.json()["complete"] is False and reply.json()["stopped"] == "budget"
    assert_problem(client.post("/v1/transcribe", files=upload(DATA / "jfk.mp3"), data={"task": "translate"}), 422,
                   "cannot translate")
    assert_problem(client.post("/v1/transcribe", files=upload(DATA / "jfk.mp3"), data={"languages": "en,xx"}), 422,
                   "unknown language")


def test_generate_json_and_streamed_tokens(client, openapi):
    reply = client.post("/v1/generate", json={"prompt": "What is the capital of France? One word.",
                                              "max_new_tokens": MAX_NEW_TOKENS, "temperature": 0})
    assert reply.status_code == 200, reply.text
    conforms(openapi, "/v1/generate", reply.json())
    assert "Paris" in reply.json()["text"]
    messages = [{"role": "user", "content": "My name is Ada."}, {"role": "assistant", "content": "Hello Ada!"},
                {"role": "user", "content": "What is my name?"}]
    with client.stream("POST", "/v1/generate", json={"messages": messages, "max_new_tokens": MAX_NEW_TOKENS,
                                                     "temperature": 0, "stream": True}) as reply:
        assert reply.status_code == 200
        got = events(reply)
    tokens = [d["text"] for n, d in got if n == "token"]
    assert len(tokens) >= 2 and got[-1][0] == "done"
    assert "".join(tokens) == got[-1][1]["text"] and "Ada" in got[-1][1]["text"]


def test_track_counts_the_synthetic_clip(client, openapi, tmp_path):
    clip = tmp_path / "clip.mp4"
    expected = make_clip(clip)
    with client.stream("POST", "/v1/track", files=upload(clip), data={"line_x": 0.5, "stream": "true"}) as reply:
        assert reply.status_code == 200
        got = events(reply)
    assert got[-1][0] == "done" and any(n == "progress" for n, _ in got)
    result = got[-1][1]
    conforms(openapi, "/v1/track", result)
    assert expected.matches(result["counts"]) and result["file"] == "clip.mp4"
    line: dict = {}
    for label, c in result["line"].items():
        key = next(iter(grouped({label: 1})))
        line.setdefault(key, {"in": 0, "out": 0})
        line[key]["in"] += c["in"]
        line[key]["out"] += c["out"]
    assert line == expected.line


def test_bad_input_is_problem_json_with_the_cli_message(client):
    body = assert_problem(client.post("/v1/classify", files=[("file", ("notes.txt", b"not an image"))]), 422,
                          "not an image")
    cli = subprocess.run([sys.executable, "-m", "services", "classify", str(ROOT / "pytest.ini")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert cli.stderr.strip().removeprefix("error: ").replace("pytest.ini", "notes.txt") == body["detail"]
    assert_problem(client.post("/v1/sentiment", json={"texts": ["fine"], "model": "nope"}), 422, "unknown model")
    assert_problem(client.post("/v1/classify", files=upload(SAMPLES / "cat.jpg"), data={"model": "resnet50"}),
                   503, "unavailable")
    assert_problem(client.post("/v1/sentiment", json={"texts": ["\x00\u200b "]}), 422, "empty")
    assert_problem(client.post("/v1/generate", json={"prompt": "hi", "max_new_tokens": 10_000}), 422,
                   "max_new_tokens")
    assert_problem(client.post("/v1/generate", content=b"{not json", headers={"content-type": "application/json"}),
                   422, "JSON")
    assert_problem(client.post("/v1/transcribe", files=upload(SAMPLES / "cat.jpg")), 422, "audio")
    assert_problem(client.post("/v1/track", files=upload(SAMPLES / "cat.jpg")), 422, "")
    assert_problem(client.get("/v1/nothing-here"), 404, "Not Found")
    assert_problem(client.post("/v1/generate", json={"system": "a", "messages": [{"role": "system", "content": "b"},
                                                                                  {"role": "user", "content": "hi"}]}),
                   422, "system prompt once")
    # odd unicode: lone surrogates (valid JSON escapes no codec can encode) are dropped, not a 500
    odd = b'{"messages": [{"role": "assistant", "content": "\\ud800 ok"}, {"role": "user", "content": "hi \\udfff"}], ' \
          b'"max_new_tokens": 2}'
    assert client.post("/v1/generate", content=odd, headers={"content-type": "application/json"}).status_code == 200
    reply = client.post("/v1/sentiment", content=b'{"texts": ["lovely \\udc00 food"]}',
                        headers={"content-type": "application/json"})
    assert reply.status_code == 200 and reply.json()[0]["text"] == "lovely  food"
    # the server is still fine
    assert client.post("/v1/sentiment", json={"texts": ["Lovely."]}).json()[0]["label"] == "POSITIVE"


def test_a_too_large_upload_is_refused_before_its_body_is_read(server):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall((f"POST /v1/classify HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
                      f"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: {50 * 2**20}\r\n\r\n").encode())
        reply = b""  # no byte of the 50 MB body is sent
        while b"MAX_UPLOAD_MB" not in reply and (piece := sock.recv(65536)):
            reply += piece
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and "application/problem+json" in reply and "MAX_UPLOAD_MB" in reply

    def chunks():  # no Content-Length: counted as it streams in
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n\r\n'
        for _ in range(UPLOAD_MB + 2):
            yield b"\0" * 2**20

    reply = httpx.post(f"{server}/v1/classify", headers={**AUTH, "content-type": "multipart/form-data; boundary=x"},
                       content=chunks(), timeout=60)
    assert_problem(reply, 413, "MAX_UPLOAD_MB")


def test_every_request_needs_the_bearer_key(server):
    for path in ("/health", "/v1/models", "/docs", "/openapi.json"):
        reply = httpx.get(server + path)
        assert_problem(reply, 401, "bearer")
        assert reply.headers["www-authenticate"] == "Bearer"
    assert_problem(httpx.get(f"{server}/v1/models", headers={"Authorization": "Bearer wrong"}), 401, "wrong")
    assert httpx.get(f"{server}/docs", headers=AUTH).status_code == 200


@pytest.mark.browser
def test_the_docs_page_renders_offline_in_chromium(server):
    """Swagger UI at /docs from the package's own files: nothing is fetched from a CDN."""
    from urllib.parse import urlparse

    from playwright.sync_api import sync_playwright

    from tools.soak import CHROMIUM, CHROMIUM_ARGS

    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed (make browser)")
    outside = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        tab = browser.new_context(extra_http_headers=AUTH).new_page()
        tab.on("request", lambda r: outside.append(r.url) if urlparse(r.url).hostname not in (None, "127.0.0.1")
               and not r.url.startswith("data:") else None)
        tab.goto(f"{server}/docs")
        tab.get_by_text("/v1/classify").first.wait_for(timeout=60_000)
        browser.close()
    assert outside == [], outside


def test_the_api_binds_loopback_unless_asked():
    from services.web.server import ApiSettings

    assert ApiSettings().host == "127.0.0.1" and ApiSettings().port == 8000
    assert "API_HOST ?= 127.0.0.1" in (ROOT / "Makefile").read_text()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(server, tmp_path):
    """Every operation, 100 generated cases each (valid and invalid): no 5xx, and every
    response matches the schema the server publishes (status, content type, body)."""
    checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
    out = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{server}/openapi.json", "--max-examples", "100",
         "--checks", checks, "-H", f"Authorization: Bearer {KEY}", "--seed", "1", "--phases", "examples,coverage,fuzzing",
         "--request-timeout", "120", "--no-color"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    print(out.stdout[-4000:])
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]


def test_the_system_page_says_whether_the_api_runs_and_where(server, monkeypatch):
    from streamlit.testing.v1 import AppTest

    port = server.rsplit(":", 1)[1]
    monkeypatch.setenv("API_PORT", port)
    monkeypatch.setenv("API_KEY", KEY)

    def shown() -> str:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.switch_page("app_pages/system.py")
        at.run()
        assert not at.exception
        return " ".join([s.value for s in at.success] + [c.value for c in at.caption])

    assert f"HTTP API: running at http://127.0.0.1:{port}" in shown()
    monkeypatch.setenv("API_PORT", str(free_port()))
    assert "HTTP API: not running" in shown() and "make api" in shown()
