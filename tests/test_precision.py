"""The speed-ups of the bundled models change their outputs by no more than stated:
bf16 on CPU (where native), channels-last, folded batch norms, a trimmed spaCy
pipeline. Each is compared with the plain float32 / full reference in this process."""

import csv

import pytest
import torch

from services.catalog import PROJECT_ROOT, Catalog, resolve_path
from services.inputs import load_image

from .conftest import DATA, SAMPLES

pytestmark = pytest.mark.slow
# The served model on each device this machine has, against the float32 reference on CPU.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA here"))]
PHOTOS = ("cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg", "street.jpg")


@pytest.fixture(scope="module")
def catalog():
    return Catalog.load()


def test_inference_dtype_follows_the_device_and_the_override(monkeypatch):
    from services.backends.common import cpu_bf16_ok, inference_dtype

    monkeypatch.delenv("MODEL_DTYPE", raising=False)
    assert inference_dtype("cuda:0") == torch.float16
    assert inference_dtype("cpu") == (torch.bfloat16 if cpu_bf16_ok() else torch.float32)
    assert inference_dtype("mps") == torch.float32
    monkeypatch.setenv("MODEL_DTYPE", "float32")
    assert inference_dtype("cpu") == torch.float32 and inference_dtype("cuda") == torch.float32


@pytest.mark.parametrize("device", DEVICES)
def test_served_image_classifier_agrees_with_the_published_float32_model(catalog, device):
    from efficientnet_lite_pytorch import EfficientNet

    from services.backends.image_classification import lite_preprocess, load_efficientnet_lite

    spec = catalog.get("efficientnet-lite0")
    reference = EfficientNet.from_name("efficientnet-lite0").eval()
    reference.load_state_dict(torch.load(resolve_path(spec), map_location="cpu", weights_only=True))
    served = load_efficientnet_lite(spec, device)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in served.module.modules())  # folded
    preprocess = lite_preprocess(224, 256)
    images = [load_image((SAMPLES / name).read_bytes()) for name in PHOTOS]
    with torch.inference_mode():
        expected = torch.softmax(reference(torch.stack([preprocess(i) for i in images])), -1)
    got = served.predict(images, top_k=5)
    for row, probs in zip(got, expected):
        assert row[0].index == int(probs.argmax())
        assert {p.index for p in row[:3]} <= set(probs.topk(5).indices.tolist())
        for p in row:
            assert abs(p.score - float(probs[p.index])) < 0.03


@pytest.mark.parametrize("device", DEVICES)
def test_served_sentiment_agrees_with_float32_on_every_review(catalog, monkeypatch, device):
    from services.backends.sentiment import load_minilm_head

    with open(DATA / "reviews.tsv", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f, delimiter="\t")]
    served = load_minilm_head(catalog.get("minilm-sst2"), device)
    monkeypatch.setenv("MODEL_DTYPE", "float32")
    reference = load_minilm_head(catalog.get("minilm-sst2"), "cpu")
    assert reference.dtype == torch.float32
    for got, want in zip(served.predict(texts), reference.predict(texts)):
        for label, p_want in want.scores.items():
            assert abs(got.scores[label] - p_want) < 0.05, (got.text, label)
        runner_up = sorted(want.scores.values())[-2]
        if want.score - runner_up > 0.1:
            assert got.label == want.label, got.text


def test_trimmed_spacy_pipeline_finds_the_same_entities_batched_or_not(catalog):
    import spacy

    from services.backends.ner import attach_vectors, load_spacy_ner

    spec = catalog.get("spacy-conll")
    served = load_spacy_ner(spec, "cpu")
    assert "tok2vec" not in served.nlp.pipe_names  # nothing listened to it
    full = spacy.load(resolve_path(spec))
    attach_vectors(full, spec)
    texts = [
        "Angela Merkel met Emmanuel Macron in Paris on Tuesday, a spokesman for the European Union said.",
        "Apple opened a store in Berlin. Tim Cook was there.",
        "Nothing to see here.",
        (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")[:3000],
    ]
    batched = served.predict(texts)
    for text, result in zip(texts, batched):
        assert [(e.text, e.label, e.start) for e in result.entities] == \
            [(e.text, e.label, e.start) for e in served.predict([text])[0].entities]
        assert [(e.text, e.label_) for e in full(text).ents] == [(e.text, e.label) for e in result.entities]
