"""Score the bundled chat models on the small dev set in tests/data/chat_dev.jsonl.

Short factual questions, arithmetic word problems and instructions, answered greedily
with the page's default system prompt, one process per run (the CLI's --file path):

    .venv/bin/python tools/eval_chat.py [--models a,b] [--max-new-tokens 256]

It checks the wiring (chat template, stop conditions, system prompt), not a model's
standing: 28 items are far too few for that (see the model cards).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEV_SET = ROOT / "tests" / "data" / "chat_dev.jsonl"
BUNDLED = ("qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct")


def load_items(path: Path = DEV_SET) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def passes(item: dict, answer: str) -> bool:
    text = answer.strip()
    if item["check"] == "contains":
        return re.search(item["answer"], text, re.IGNORECASE) is not None
    if item["check"] == "exact":
        return text.strip(" .!\"'`\n").lower() == item["answer"].lower()
    if item["check"] == "number":
        numbers = re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
        return bool(numbers) and float(numbers[-1]) == float(item["answer"])
    if item["check"] == "items":
        parts = [p for p in re.split(r",|\n", text.strip(" .")) if p.strip()]
        return len(parts) == int(item["answer"])
    raise ValueError(item["check"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(BUNDLED))
    parser.add_argument("--max-new-tokens", type=int, default=256)
    args = parser.parse_args()
    from services import api, chat

    items = load_items()
    settings = api.generation_settings(max_new_tokens=args.max_new_tokens, temperature=0.0, repetition_penalty=1.0)
    print("| model | facts | arithmetic | instructions | all | decode tokens/s | first token (s) |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        api.load("text-generation", model)
        scores: dict[str, list[bool]] = {}
        speeds, firsts = [], []
        for item in items:
            result = api.generate(item["prompt"], settings, model, system=chat.DEFAULT_SYSTEM_PROMPT)
            scores.setdefault(item["kind"], []).append(passes(item, result.text))
            if result.tokens > 4:
                speeds.append(result.tokens_per_second)
            firsts.append(result.first_token_seconds)
        cell = {k: f"{sum(v)}/{len(v)}" for k, v in scores.items()}
        total = sum(sum(v) for v in scores.values())
        speed = sorted(speeds)[len(speeds) // 2] if speeds else 0.0
        print(f"| {model} | {cell['fact']} | {cell['math']} | {cell['instruction']} | {total}/{len(items)} "
              f"| {speed:.1f} | {sorted(firsts)[len(firsts) // 2]:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
