"""Train the bundled sentiment model: all-MiniLM-L6-v2 (frozen lower layers,
top layers fine-tuned) + a linear head on SST-2, then fit a temperature on
held-out training sentences so probabilities are calibrated.

    .venv/bin/python tools/train_sentiment.py [--data ../shared/data/sst2] [--epochs 2]

Writes assets/models/sentiment/minilm-sst2-head.safetensors (float16: the head,
the fine-tuned layers and the temperature) and prints dev accuracy and ECE.

    .venv/bin/python tools/train_sentiment.py --three-way [--sst5 ../shared/data/sst5]

adds the NEUTRAL head to that file (``NeutralDetector``: a linear layer over the shipped
encoder's sentence vector, SST-5 neutral vs the rest plus news sentences as neutral), with
its temperature fitted on SST-5 training sentences held aside; SST-5 dev only reports.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.backends.sentiment import build_minilm_sentiment  # noqa: E402
from services.catalog import Catalog, resolve_path  # noqa: E402
from services.stats import expected_calibration_error  # noqa: E402

OUT = ROOT / "assets/models/sentiment/minilm-sst2-head.safetensors"


def read_tsv(path: Path) -> list[tuple[str, int]]:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(r["text_a"], int(r["label"])) for r in rows]


def batches(rows, size, shuffle, seed=0):
    order = list(range(len(rows)))
    if shuffle:
        random.Random(seed).shuffle(order)
    for i in range(0, len(order), size):
        yield [rows[j] for j in order[i : i + size]]


@torch.no_grad()
def encode(model, tokenizer, texts: list[str], pooled: bool = False, size: int = 128) -> torch.Tensor:
    """The model's logits (or, with ``pooled``, its sentence vectors) for ``texts``, in batches."""
    model.eval()
    call = model.pooled if pooled else model
    out = []
    for start in range(0, len(texts), size):
        enc = tokenizer(texts[start : start + size], padding=True, truncation=True, max_length=128, return_tensors="pt")
        out.append(call(enc["input_ids"], enc["attention_mask"]))
    return torch.cat(out)


def logits_of(model, tokenizer, rows):
    """The model's logits for (text, label) rows."""
    return encode(model, tokenizer, [t for t, _ in rows], size=256)


def pooled_of(model, tokenizer, texts) -> torch.Tensor:
    return encode(model, tokenizer, texts, pooled=True)


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> float:
    """Expected calibration error of the top class."""
    conf, pred = probs.max(1)
    return expected_calibration_error(conf.tolist(), (pred == labels).tolist(), bins)


def read_sst5(path: Path) -> list[tuple[str, int]]:
    """SST-5 rows collapsed to three classes: 0-1 negative, 2 neutral, 3-4 positive."""
    with path.open(encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [(text, (0, 0, 1, 2, 2)[int(label)]) for label, text in rows]


def detokenize(text: str) -> str:
    """SST's PTB tokens back to plain text, as users type it ("it 's" -> "it's")."""
    import re

    text = text.replace("`` ", '"').replace(" ''", '"').replace("-LRB- ", "(").replace(" -RRB-", ")")
    text = re.sub(r" (n't|'s|'re|'ve|'ll|'d|'m)\b", r"\1", text)
    return re.sub(r" ([.,;:!?%)])", r"\1", text)


def macro_f1(pred: torch.Tensor, gold: torch.Tensor, classes: int) -> float:
    f1s = []
    for c in range(classes):
        tp = ((pred == c) & (gold == c)).sum().item()
        p, r = tp / max((pred == c).sum().item(), 1), tp / max((gold == c).sum().item(), 1)
        f1s.append(2 * p * r / max(p + r, 1e-9))
    return sum(f1s) / classes


def news_sentences(path: Path, count: int) -> list[str]:
    """Running-text sentences of CoNLL-2003's Reuters news (not headlines), as NEUTRAL examples:
    SST-5's neutral class is movie-review text only, and factual sentences look nothing like it."""
    sys.path.insert(0, str(ROOT / "tools"))
    from train_ner import read_conll

    news = [" ".join(words) for words, _ in read_conll(path) if len(words) >= 8 and not " ".join(words).isupper()]
    random.Random(3).shuffle(news)
    return news[:count]


def train_three_way(args) -> None:
    """The NEUTRAL head (``NeutralDetector``): SST-5 neutral vs the rest, plus news as neutral,
    on the shipped encoder's sentence vector; its temperature fitted on SST-5 training
    sentences held aside, through the same VADER damping the service applies."""
    from safetensors.torch import load_file, save_file

    from services.backends.sentiment import lexicon_strength, three_way

    torch.manual_seed(0)
    encoder_dir = resolve_path(Catalog.load().get("minilm-sst2"))
    shipped, tokenizer = build_minilm_sentiment(encoder_dir)
    tuned, _ = build_minilm_sentiment(encoder_dir, args.out)
    train = read_sst5(args.sst5 / "train.tsv")
    dev = read_sst5(args.sst5 / "dev.tsv")
    random.Random(1).shuffle(train)  # the file is in treebank order
    calib, train = train[:1000], train[1000:]
    news = news_sentences(args.conll / "train.txt", args.news)
    started = time.time()
    texts = {name: [detokenize(t) for t, _ in rows] for name, rows in (("train", train), ("calib", calib), ("dev", dev))}
    x = {name: pooled_of(shipped, tokenizer, t) for name, t in texts.items()}
    x_news = pooled_of(shipped, tokenizer, news)
    polarity = {name: torch.softmax(encode(tuned, tokenizer, texts[name]), 1) for name in ("calib", "dev")}
    strength = {name: lexicon_strength(texts[name]) for name in ("calib", "dev")}
    y = {name: torch.tensor([label for _, label in rows]) for name, rows in (("train", train), ("calib", calib), ("dev", dev))}
    print(f"encoded {len(train)} + {len(calib)} + {len(dev)} SST-5 sentences and {len(news)} news sentences"
          f" in {time.time() - started:.0f}s", flush=True)
    features = torch.cat([x["train"], x_news])
    neutral = torch.cat([(y["train"] == 1).long(), torch.ones(len(news), dtype=torch.long)])
    linear = torch.nn.Linear(features.shape[1], 2)
    optimizer = torch.optim.LBFGS(linear.parameters(), lr=1, max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(features), neutral) + args.l2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    weight = (linear.weight[1] - linear.weight[0]).detach().unsqueeze(0)
    bias = (linear.bias[1] - linear.bias[0]).detach().reshape(1)

    def probs(name, temperature):
        p_neutral = torch.sigmoid((x[name] @ weight.T + bias).squeeze(1) / temperature)
        return three_way(polarity[name], p_neutral, strength[name])

    grid = torch.logspace(-1, 1, 61)
    nll = [float(torch.nn.functional.nll_loss(torch.log(probs("calib", t) + 1e-9), y["calib"])) for t in grid]
    temperature = float(grid[min(range(len(grid)), key=nll.__getitem__)])
    p = probs("dev", temperature)
    pred = p.argmax(1)
    print(f"neutral temperature {temperature:.3f}; SST-5 dev (3 classes) accuracy {(pred == y['dev']).float().mean():.4f},"
          f" macro-F1 {macro_f1(pred, y['dev'], 3):.4f}, ECE {ece(p, y['dev']):.4f}")
    state = {k: v for k, v in load_file(str(args.out)).items() if not k.startswith("neutral.")}
    state["neutral.head.weight"] = weight.to(torch.float16).contiguous()
    state["neutral.head.bias"] = bias.to(torch.float16).contiguous()
    state["neutral.temperature"] = torch.tensor(temperature).reshape(())
    save_file(state, str(args.out), metadata={
        "base": "sentence-transformers/all-MiniLM-L6-v2",
        "data": "SST-2 train (polarity head, layers 4-5); SST-5 train + CoNLL-2003 news sentences (neutral head)",
        "neutral_temperature": f"{temperature:.4f}"})
    print(f"wrote {args.out} in {time.time() - started:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--three-way", action="store_true", help="add the NEGATIVE/NEUTRAL/POSITIVE head to --out")
    parser.add_argument("--sst5", type=Path, default=ROOT.parent / "shared/data/sst5")
    parser.add_argument("--conll", type=Path, default=ROOT.parent / "shared/data/conll2003")
    parser.add_argument("--news", type=int, default=350, help="news sentences added as NEUTRAL examples")
    parser.add_argument("--l2", type=float, default=1e-2)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/sst2")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--limit", type=int, default=0, help="use only N training rows (smoke test)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.three_way:
        return train_three_way(args)
    torch.manual_seed(0)

    train = read_tsv(args.data / "train.tsv")
    dev = read_tsv(args.data / "dev.tsv")
    random.Random(1).shuffle(train)
    calib, train = train[:2000], train[2000:]
    if args.limit:
        train = train[: args.limit]
    spec = Catalog.load().get("minilm-sst2")
    model, tokenizer = build_minilm_sentiment(resolve_path(spec))

    layers = model.encoder.encoder.layer
    trainable = [model.head] + list(layers[len(layers) - args.train_layers :])
    for p in model.parameters():
        p.requires_grad = False
    for module in trainable:
        for p in module.parameters():
            p.requires_grad = True
    params = [
        {"params": model.head.parameters(), "lr": 2e-3},
        {"params": [p for m in trainable[1:] for p in m.parameters()], "lr": 4e-5},
    ]
    optimizer = torch.optim.AdamW(params, weight_decay=0.01)
    steps = args.epochs * ((len(train) + args.batch - 1) // args.batch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[2e-3, 4e-5], total_steps=steps, pct_start=0.06)
    started = time.time()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        for chunk in batches(train, args.batch, True, seed=epoch):
            enc = tokenizer([t for t, _ in chunk], padding=True, truncation=True, max_length=64, return_tensors="pt")
            labels = torch.tensor([l for _, l in chunk])
            loss = torch.nn.functional.cross_entropy(model(enc["input_ids"], enc["attention_mask"]), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            step += 1
            if step % 100 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {loss.item():.3f} {time.time() - started:.0f}s", flush=True)
        dev_logits = logits_of(model, tokenizer, dev)
        acc = (dev_logits.argmax(1) == torch.tensor([l for _, l in dev])).float().mean()
        print(f"epoch {epoch}: SST-2 dev accuracy {acc:.4f}", flush=True)

    # temperature scaling on held-out training sentences (not dev)
    calib_logits = logits_of(model, tokenizer, calib)
    calib_labels = torch.tensor([l for _, l in calib])
    grid = torch.logspace(-1.5, 1.5, 301)
    losses = [float(torch.nn.functional.cross_entropy(calib_logits / t, calib_labels)) for t in grid]
    temperature = float(grid[min(range(len(grid)), key=losses.__getitem__)])
    model.temperature.fill_(temperature)
    dev_labels = torch.tensor([l for _, l in dev])
    probs = torch.softmax(logits_of(model, tokenizer, dev), 1)
    print(f"temperature {temperature:.3f}; SST-2 dev accuracy {(probs.argmax(1) == dev_labels).float().mean():.4f};"
          f" dev ECE {ece(probs, dev_labels):.4f}")

    from safetensors.torch import save_file

    prefix = [f"encoder.encoder.layer.{len(layers) - i - 1}." for i in range(args.train_layers)]
    state = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in model.state_dict().items()
        if k.startswith(("head.",)) or k == "temperature" or k.startswith(tuple(prefix))
    }
    state["temperature"] = model.temperature.detach().float().reshape(())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(args.out), metadata={"base": "sentence-transformers/all-MiniLM-L6-v2", "data": "SST-2 train",
                                              "temperature": f"{temperature:.4f}"})
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB) in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
