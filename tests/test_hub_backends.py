"""The connected-user (hub / torchvision) code paths, run with tiny random
models built from configs: nothing is downloaded."""

import threading

import torch
from PIL import Image

from services.backends.generation import CausalLM, GenerationSettings
from services.backends.ner import TransformersNER
from services.backends.sentiment import hf_text_classifier


def tiny_bert_tokenizer(tmp_path):
    from transformers import BertTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "john", "lives", "in", "paris", "good", "bad", "movie", "."]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(words))
    return BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)


def tiny_bert_config(**kwargs):
    from transformers import BertConfig

    return BertConfig(vocab_size=13, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                      max_position_embeddings=64, **kwargs)


def test_hf_sentiment_classifier_path(tmp_path):
    from transformers import BertForSequenceClassification

    model = BertForSequenceClassification(tiny_bert_config(num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"}))
    classifier = hf_text_classifier(model, tiny_bert_tokenizer(tmp_path), "cpu")
    results = classifier.predict(["good movie .", "bad movie ."])
    assert [r.text for r in results] == ["good movie .", "bad movie ."]
    assert all(r.label in ("POSITIVE", "NEGATIVE") and 0.5 <= r.score <= 1 for r in results)
    assert classifier.memory_bytes() > 0


def test_hf_token_classifier_gives_offsets_into_the_text(tmp_path):
    from transformers import BertForTokenClassification

    labels = {0: "O", 1: "B-PER", 2: "I-PER", 3: "B-LOC", 4: "I-LOC"}
    torch.manual_seed(0)
    model = BertForTokenClassification(tiny_bert_config(num_labels=5, id2label=labels,
                                                        label2id={v: k for k, v in labels.items()}))
    with torch.no_grad():  # make every token a PER so spans are certain to appear
        model.classifier.bias.copy_(torch.tensor([-9.0, 9.0, 0.0, -9.0, -9.0]))
    tagger = TransformersNER(model, tiny_bert_tokenizer(tmp_path), "cpu")
    text = "John lives in Paris. John lives."
    result = tagger.predict([text])[0]
    assert result.entities
    for ent in result.entities:
        assert text[ent.start : ent.end] == ent.text
        assert ent.label == "PER"


def tiny_causal_lm():
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {chr(c): i for i, c in enumerate(range(32, 127))}
    vocab["<eos>"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token=" "))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token=" ")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocab), n_positions=128, n_embd=16, n_layer=1, n_head=2,
                        eos_token_id=vocab["<eos>"], bos_token_id=vocab["<eos>"])
    return CausalLM(GPT2LMHeadModel(config), tokenizer, "cpu")


def test_causal_lm_same_seed_same_text_and_streaming():
    lm = tiny_causal_lm()
    settings = GenerationSettings(max_new_tokens=20, temperature=1.0, top_p=0.95, seed=7, chat=False)
    first = lm.generate("hello", settings)
    second = lm.generate("hello", settings)
    other = lm.generate("hello", GenerationSettings(max_new_tokens=20, temperature=1.0, top_p=0.95, seed=8, chat=False))
    assert first.text == second.text and first.tokens == 20
    assert other.text != first.text
    stream = lm.stream("hello", settings)
    pieces = list(stream)
    assert "".join(pieces) == first.text and stream.result.text == first.text


def test_causal_lm_concurrent_sessions_do_not_mix():
    lm = tiny_causal_lm()
    results = {}

    def run(seed):
        results[seed] = lm.generate("abc", GenerationSettings(max_new_tokens=30, temperature=1.0, seed=seed, chat=False)).text

    threads = [threading.Thread(target=run, args=(s,)) for s in (1, 2, 1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    alone = {s: lm.generate("abc", GenerationSettings(max_new_tokens=30, temperature=1.0, seed=s, chat=False)).text
             for s in (1, 2)}
    assert results == alone


def test_causal_lm_stops_when_asked():
    lm = tiny_causal_lm()
    stop = threading.Event()
    stream = lm.stream("x", GenerationSettings(max_new_tokens=100, temperature=1.0, seed=1, chat=False), stop)
    for i, _ in enumerate(stream):
        if i == 3:
            stop.set()
    assert stream.result.tokens < 10


def test_torchvision_classifier_wrapper_with_random_weights():
    from torchvision.models import resnet18

    from services.backends.image_classification import ImageClassifier, imagenet_labels
    from torchvision.models import ResNet18_Weights

    model = resnet18(weights=None)
    classifier = ImageClassifier(model, "cpu", ResNet18_Weights.IMAGENET1K_V1.transforms(), imagenet_labels())
    out = classifier.predict([Image.new("RGB", (300, 200)), Image.new("RGB", (64, 64))], top_k=3)
    assert len(out) == 2 and len(out[0]) == 3
    assert abs(sum(p.score for p in out[0])) <= 1.0


def test_torchvision_detector_wrapper_with_random_weights():
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_fpn

    from services.backends.detection import MIN_SCORE, TorchvisionDetector

    torch.manual_seed(0)
    model = fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=91,
                                              box_score_thresh=MIN_SCORE)
    from torchvision.models.detection import FasterRCNN_MobileNet_V3_Large_FPN_Weights

    labels = FasterRCNN_MobileNet_V3_Large_FPN_Weights.COCO_V1.meta["categories"]
    detector = TorchvisionDetector(model, "cpu", list(labels))
    found = detector.predict([Image.new("RGB", (320, 240), (90, 90, 90))], threshold=0.0)
    assert isinstance(found, list) and len(found) == 1
    for det in found[0]:
        x1, y1, x2, y2 = det.box
        assert 0 <= x1 <= x2 <= 320 and 0 <= y1 <= y2 <= 240
