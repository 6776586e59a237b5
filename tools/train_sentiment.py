"""Train the bundled sentiment model: all-MiniLM-L6-v2 (frozen lower layers,
top layers fine-tuned) + a linear head on SST-2, then fit a temperature on
held-out training sentences so probabilities are calibrated.

    .venv/bin/python tools/train_sentiment.py [--data ../shared/data/sst2] [--epochs 2]

Writes assets/models/sentiment/minilm-sst2-head.safetensors (float16: the head,
the fine-tuned layers and the temperature) and prints dev accuracy and ECE.
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
def logits_of(model, tokenizer, rows, size=256):
    model.eval()
    out = []
    for chunk in batches(rows, size, False):
        enc = tokenizer([t for t, _ in chunk], padding=True, truncation=True, max_length=128, return_tensors="pt")
        out.append(model(enc["input_ids"], enc["attention_mask"]))
    return torch.cat(out)


def ece(probs: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> float:
    conf, pred = probs.max(1)
    total = 0.0
    for lo in range(bins):
        mask = (conf > lo / bins) & (conf <= (lo + 1) / bins)
        if mask.any():
            total += mask.float().mean() * abs((pred[mask] == labels[mask]).float().mean() - conf[mask].mean())
    return float(total)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/sst2")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--limit", type=int, default=0, help="use only N training rows (smoke test)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
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
