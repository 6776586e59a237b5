"""SERVICES_BACKEND=ray: the CLI and the pages answer through Ray Serve deployments
on a local cluster on loopback (started here, one deployment per task)."""

import json
import os
import subprocess
import sys
import time

import pytest

from .conftest import DATA, ROOT, SAMPLES, free_port

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_serve():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DASHBOARD_OFFLINE": "1", "SERVICES_BACKEND": "local"}
    env.pop("RAY_ADDRESS", None)
    env["API_PORT"] = str(free_port())
    proc = subprocess.Popen([sys.executable, "-m", "services.remote", "--http"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 420
    for line in proc.stdout:
        lines.append(line)
        if "Ray Serve is running" in line:
            break
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("Ray Serve did not start:\n" + "".join(lines[-30:]))
    else:  # the output ended: the process is gone
        pytest.fail("Ray Serve did not start:\n" + "".join(lines[-30:]))
    yield {**env, "SERVICES_BACKEND": "ray", "RAY_ADDRESS": "auto"}
    if ray.is_initialized():  # the in-process page test connected as a client
        ray.shutdown()
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], capture_output=True, timeout=120)




def cli(env, *args):
    return subprocess.run([sys.executable, "-m", "services", "--json", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_cli_answers_every_task_through_ray(ray_serve):
    out = cli(ray_serve, "classify", str(SAMPLES / "cat.jpg"))
    assert out.returncode == 0, out.stderr
    assert "cat" in json.loads(out.stdout)[0]["predictions"][0]["label"]
    out = cli(ray_serve, "sentiment", "The pasta was wonderful.")
    assert json.loads(out.stdout)[0]["label"] == "POSITIVE"
    out = cli(ray_serve, "ner", "Angela Merkel visited Paris.")
    assert {"PER", "LOC"} <= {e["label"] for e in json.loads(out.stdout)[0]["entities"]}
    out = cli(ray_serve, "generate", "What is the capital of France?", "--max-new-tokens", "12")
    assert "Paris" in json.loads(out.stdout)["text"]
    out = cli(ray_serve, "transcribe", str(DATA / "jfk.mp3"))
    assert "ask not what your country" in json.loads(out.stdout)["text"]
    out = cli(ray_serve, "detect", str(SAMPLES / "street.jpg"))
    assert "bus" in [d["label"] for d in json.loads(out.stdout)[0]["detections"]]


def test_explanations_through_ray(ray_serve, tmp_path):
    out = cli(ray_serve, "classify", str(SAMPLES / "cat.jpg"), "--explain", "--explain-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    explanation = json.loads(out.stdout)[0]["explanation"]
    assert explanation["method"] == "grad-cam" and (tmp_path / "cat.heatmap.png").is_file()
    out = cli(ray_serve, "sentiment", "The waiter was rude.", "--explain")
    assert out.returncode == 0, out.stderr
    assert {w["text"]: w["score"] for w in json.loads(out.stdout)[0]["explanation"]["words"]}["rude"] == -1.0


def test_bad_input_through_ray_is_one_clean_line(ray_serve):
    out = cli(ray_serve, "classify", str(ROOT / "pytest.ini"))
    assert out.returncode == 2
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and "not an image" in errors[0]
    assert "Traceback" not in out.stderr


def test_pages_run_against_ray(ray_serve, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from services import api

    for key, value in ray_serve.items():
        monkeypatch.setenv(key, value)
    api.use(None)  # pick the backend again, now Ray
    try:
        check_pages_against_ray(AppTest)
    finally:
        api.use(None)


def check_pages_against_ray(AppTest):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.switch_page("app_pages/text_analysis.py")
    at.run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "confident" in shown and "LOC" in shown
    at.switch_page("app_pages/system.py")
    at.run()
    assert not at.exception
    assert "spacy-conll" in set(at.dataframe[0].value["model"])


def test_the_http_api_is_served_as_the_ray_serve_ingress(ray_serve):
    import httpx

    url = f"http://127.0.0.1:{ray_serve['API_PORT']}"
    with httpx.Client(base_url=url, timeout=300) as client:
        assert client.get("/health").json()["backend"] == "Ray Serve"
        reply = client.post("/v1/sentiment", json={"texts": ["The pasta was wonderful."]})
        assert reply.status_code == 200 and reply.json()[0]["label"] == "POSITIVE"
        reply = client.post("/v1/classify", files=[("file", ("cat.jpg", (SAMPLES / "cat.jpg").read_bytes()))])
        assert "cat" in reply.json()[0]["predictions"][0]["label"]
        reply = client.post("/v1/classify", files=[("file", ("notes.txt", b"not an image"))])
        assert reply.status_code == 422 and reply.headers["content-type"] == "application/problem+json"
        assert "not an image" in reply.json()["detail"]
        with client.stream("POST", "/v1/generate", json={"prompt": "What is the capital of France?",
                                                         "max_new_tokens": 12, "temperature": 0,
                                                         "stream": True}) as streamed:
            body = streamed.read().decode()
        assert body.count("event: token") >= 2 and "event: done" in body and "Paris" in body
