"""The catalog as data, and the CLI contract (exit codes, one-line errors, JSON)."""

import json
import subprocess
import sys

import pytest

from services.catalog import TASKS, Catalog, check_availability

from .conftest import ROOT, SAMPLES


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "services", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_every_task_has_exactly_one_bundled_default_that_loads_here():
    catalog = Catalog.load()
    for task in TASKS:
        spec = catalog.default_for(task)
        assert spec.source in ("package", "local", "parts")
        found = check_availability(spec)
        assert found.available, f"{spec.id}: {found.reason}"


def test_hub_models_say_why_they_are_unavailable_offline():
    spec = Catalog.load().get("distilbert-sst2")
    found = check_availability(spec)
    assert not found.available and "huggingface.co" in found.reason


def test_cli_models_lists_the_real_catalog():
    out = cli("--json", "models")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    ids = {r["id"] for r in rows}
    assert {"efficientnet-lite0", "minilm-sst2", "spacy-conll", "smollm2-135m-instruct", "whisper-tiny.en", "nanodet-g"} <= ids
    assert all(r["reason"] for r in rows)
    assert {r["task"] for r in rows if r["default"] and r["available"]} == set(TASKS)


@pytest.mark.parametrize(
    "args, message",
    [
        (["classify", "pytest.ini"], "not an image"),
        (["classify", "no-such-file.jpg"], "no such file"),
        (["sentiment", ""], "empty"),
        (["ner", "--file", "no-such.txt"], "no such file"),
        (["transcribe", str(SAMPLES / "cat.jpg")], "audio"),
        (["detect", "pytest.ini"], "not an image"),
        (["generate", "hi", "--max-new-tokens", "100000"], "max new tokens"),
        (["classify", str(SAMPLES / "cat.jpg"), "--model", "nope"], "unknown model"),
        (["classify", str(SAMPLES / "cat.jpg"), "--model", "resnet50"], "unavailable"),
    ],
)
def test_bad_input_exits_non_zero_with_one_line(args, message):
    out = cli(*args)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_cli_classify_json_shape():
    out = cli("--json", "classify", str(SAMPLES / "cat.jpg"), "--top-k", "3")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data[0]["file"] == "cat.jpg" and len(data[0]["predictions"]) == 3
    assert set(data[0]["predictions"][0]) == {"label", "index", "score"}
    assert "cat" in data[0]["predictions"][0]["label"]


@pytest.mark.slow
def test_cli_detect_json_shape():
    out = cli("--json", "detect", str(SAMPLES / "street.jpg"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)[0]
    assert (data["width"], data["height"]) == (546, 413)
    labels = [d["label"] for d in data["detections"]]
    assert "bus" in labels and "car" in labels
    assert all(len(d["box"]) == 4 for d in data["detections"])


@pytest.mark.slow
def test_json_and_verbose_are_accepted_after_the_subcommand_too():
    after = cli("classify", str(SAMPLES / "cat.jpg"), "--json", "-v", "--top-k", "2")
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout)[0]["predictions"][0]["label"] in {"tabby", "tiger cat", "Egyptian cat"}
    assert "loaded efficientnet-lite0" in after.stderr  # -v logs
    before = cli("--json", "classify", str(SAMPLES / "cat.jpg"), "--top-k", "2")
    assert json.loads(before.stdout)[0]["predictions"] == json.loads(after.stdout)[0]["predictions"]
    plain = cli("classify", str(SAMPLES / "cat.jpg"))
    assert plain.stdout.startswith("cat.jpg: ") and not plain.stdout.startswith("[")


@pytest.mark.slow
def test_classify_goes_through_any_number_of_files_in_chunks(tmp_path):
    """70 photos (over two chunks of 32) and one that is not an image: the 70 are done and
    written, the bad one is named on stderr, the exit status says something failed."""
    names = ["cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg", "street.jpg"]
    files = []
    for i in range(70):
        copy = tmp_path / f"{i:03d}-{names[i % 5]}"
        copy.write_bytes((SAMPLES / names[i % 5]).read_bytes())
        files.append(str(copy))
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    files.insert(40, str(tmp_path / "broken.jpg"))
    out = cli("classify", *files, "--top-k", "1", "--output", str(tmp_path / "labels.csv"), timeout=900)
    assert out.returncode == 2
    assert "broken.jpg" in out.stderr and "classified 71 of 71 files" in out.stderr
    rows = (tmp_path / "labels.csv").read_text().splitlines()
    assert rows[0] == "file,rank,label,score" and len(rows) == 71
    cats = [r for r in rows[1:] if "-cat.jpg" in r]
    assert len(cats) == 14 and all(r.split(",")[2] in {"tabby", "tiger cat", "Egyptian cat"} for r in cats)
    out = cli("classify", *files[:3], "--output", str(tmp_path / "labels.json"))
    assert out.returncode == 0 and len(json.loads((tmp_path / "labels.json").read_text())) == 3


@pytest.mark.slow
def test_transcribe_takes_several_files_in_one_process(tmp_path):
    from .conftest import DATA

    out = cli("--json", "-v", "transcribe", str(DATA / "jfk.mp3"), str(DATA / "espeak.wav"))
    assert out.returncode == 0, out.stderr
    jfk, espeak = json.loads(out.stdout)
    assert jfk["file"] == "jfk.mp3" and "ask not what your country" in jfk["text"].lower()
    assert espeak["file"] == "espeak.wav" and "camera" in espeak["text"].lower()
    assert out.stderr.count("loaded whisper") == 1  # one model load for both
    assert jfk["seconds"] > 0 and jfk["real_time_factor"] == pytest.approx(jfk["seconds"] / jfk["duration"], abs=1e-3)
