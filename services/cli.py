"""``python -m services ...``: the same service layer from a terminal.

Prints readable text, or JSON with ``--json``. Bad input or an unavailable
model exits with status 2 and one line on stderr; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import InputError, ModelUnavailable

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services", description="Local AI model dashboard, from the CLI.")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("models", help="the catalog: availability and reasons")

    p = sub.add_parser("classify", help="ImageNet classes of images")
    p.add_argument("images", nargs="+")
    p.add_argument("--model")
    p.add_argument("--top-k", type=int, default=5)

    for name, text in (("sentiment", "POSITIVE/NEGATIVE"), ("ner", "named entities")):
        p = sub.add_parser(name, help=text)
        p.add_argument("text", nargs="?")
        p.add_argument("--file", help="one text per line")
        p.add_argument("--model")

    p = sub.add_parser("generate", help="answer a prompt (chat) or continue it (--plain)")
    p.add_argument("prompt", nargs="?")
    p.add_argument("--file", help="one prompt per line, answered in one process; prints a list")
    p.add_argument("--system", help="system prompt (chat mode)")
    p.add_argument("--model")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-p", type=float, default=0.9)
    p.add_argument("--repetition-penalty", type=float, default=1.1)
    p.add_argument("--seed", type=int)
    p.add_argument("--plain", action="store_true", help="plain completion, no chat template")

    p = sub.add_parser("transcribe", help="speech to text")
    p.add_argument("audio")
    p.add_argument("--model")
    p.add_argument("--language")
    p.add_argument("--words", action="store_true", help="word timestamps")

    p = sub.add_parser("detect", help="objects in images")
    p.add_argument("images", nargs="+")
    p.add_argument("--model")
    p.add_argument("--threshold", type=float, default=0.35)
    p.add_argument("--all-classes", action="store_true", help="all 80 COCO classes, not only road users")
    p.add_argument("--tiles", action=argparse.BooleanOptionalAction, default=True,
                   help="sliced inference for small, far objects (default on; --no-tiles for the whole frame only)")

    p = sub.add_parser("track", help="track and count unique objects in a video")
    p.add_argument("video")
    p.add_argument("--every", type=int, default=1, help="analyse every N-th frame")
    p.add_argument("--line", type=float, metavar="Y", help="count crossings of a horizontal line at Y (0-1 of the height)")
    p.add_argument("--line-x", type=float, metavar="X", help="count crossings of a vertical line at X (0-1 of the width)")
    p.add_argument("--model")
    p.add_argument("--threshold", type=float, default=0.35)
    p.add_argument("--all-classes", action="store_true", help="all 80 COCO classes, not only road users")
    p.add_argument("--tiles", action="store_true", help="sliced inference for far objects (about 3x slower)")
    p.add_argument("--output", help="write the annotated MP4 here")
    return parser


def _read_lines(path: str) -> list[str]:
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{path}: no such file")
    try:
        lines = [line for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    if not lines:
        raise InputError(f"{path}: no lines of text")
    return lines


def _texts(args) -> list[str]:
    if args.file:
        return _read_lines(args.file)
    if args.text is None:
        raise InputError("give a TEXT or --file F")
    return [args.text]


def run(args) -> object:
    from . import api

    if args.command == "models":
        return _models()
    if args.command == "classify":
        return api.classify(args.images, args.model, args.top_k)
    if args.command == "sentiment":
        return api.sentiment(_texts(args), args.model)
    if args.command == "ner":
        return api.entities(_texts(args), args.model)
    if args.command == "generate":
        settings = api.generation_settings(
            max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
            repetition_penalty=args.repetition_penalty, seed=args.seed, chat=not args.plain,
        )
        if args.file:
            return [api.generate(prompt, settings, args.model, system=args.system) for prompt in _read_lines(args.file)]
        if args.prompt is None:
            raise InputError("give a PROMPT or --file F")
        return api.generate(args.prompt, settings, args.model, system=args.system)
    if args.command == "transcribe":
        return api.transcribe(args.audio, args.model, args.language, args.words, name=Path(args.audio).name)
    if args.command == "detect":
        from .backends.detection import ROAD_CLASSES

        from .tiling import Tiling

        classes = None if args.all_classes else ROAD_CLASSES
        return api.detect(args.images, args.model, args.threshold, classes, tiling=Tiling() if args.tiles else None)
    if args.command == "track":
        return _track(args)
    raise AssertionError(args.command)


def _track(args):
    from . import api
    from .backends.detection import ROAD_CLASSES
    from .tiling import Tiling
    from .tracking import CountingLine

    if args.line is not None and args.line_x is not None:
        raise InputError("give --line or --line-x, not both")
    line = None
    if args.line is not None:
        line = CountingLine.horizontal(args.line)
    elif args.line_x is not None:
        line = CountingLine.vertical(args.line_x)
    if not Path(args.video).is_file():
        raise InputError(f"{args.video}: no such file")

    def progress(p):
        if args.verbose:
            logging.getLogger("services.track").info("%.1f of %.1f s, %d frames", p.done_s, p.total_s, p.frames)

    return api.track_video(args.video, args.model, every=args.every, threshold=args.threshold,
                           classes=None if args.all_classes else ROAD_CLASSES, line=line,
                           tiling=Tiling() if args.tiles else None, output=args.output, progress=progress).result


def _models() -> list[dict]:
    from .catalog import Catalog, check_availability

    rows = []
    for spec in Catalog.load():
        availability = check_availability(spec)
        rows.append({
            "id": spec.id, "task": spec.task, "name": spec.name, "default": spec.default,
            "source": spec.source, "licence": spec.licence, "size_mb": spec.size_mb,
            "available": availability.available, "reason": availability.reason,
        })
    return rows


def _to_json(result: object) -> object:
    if isinstance(result, list):
        return [_to_json(r) for r in result]
    return result.to_dict() if hasattr(result, "to_dict") else result


def _print_text(command: str, result: object) -> None:
    data = _to_json(result)
    if command == "models":
        for row in data:
            mark = "yes" if row["available"] else "no "
            star = "*" if row["default"] else " "
            print(f"{row['task']:<22} {star}{row['id']:<26} {mark}  {row['reason']}")
    elif command == "classify":
        for item in data:
            best = ", ".join(f"{p['label']} {p['score']:.1%}" for p in item["predictions"])
            print(f"{item['file']}: {best}")
    elif command == "sentiment":
        for item in data:
            print(f"{item['label']:<8} {item['score']:.1%}  {item['text']}")
    elif command == "ner":
        for item in data:
            spans = "; ".join(f"{e['text']} [{e['label']}]" for e in item["entities"]) or "(no entities)"
            print(spans)
    elif command == "generate":
        for item in data if isinstance(data, list) else [data]:
            print(item["text"])
            print(f"-- {item['tokens']} tokens in {item['seconds']:.2f} s, {item['tokens_per_second']:.1f} tokens/s",
                  file=sys.stderr)
    elif command == "transcribe":
        for seg in data["segments"]:
            print(f"[{seg['start']:7.2f} -> {seg['end']:7.2f}] {seg['text']}")
    elif command == "detect":
        for item in data:
            counts: dict[str, int] = {}
            for d in item["detections"]:
                counts[d["label"]] = counts.get(d["label"], 0) + 1
            summary = ", ".join(f"{n} {label}" for label, n in sorted(counts.items())) or "nothing found"
            print(f"{item['file']} ({item['width']}x{item['height']}): {summary}")
    elif command == "track":
        counts = ", ".join(f"{n} {label}" for label, n in data["counts"].items()) or "nothing tracked"
        print(f"{data['file']}: {counts} ({data['frames']} frames of {data['seconds']:.1f} s)")
        for label, c in (data["line"] or {}).items():
            print(f"  line, {label}: {c['in']} in, {c['out']} out")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        result = run(args)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ModelUnavailable as exc:
        print(f"error: model unavailable: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last resort: one line, no traceback (use -v for the log)
        logging.getLogger(__name__).debug("unexpected failure", exc_info=True)
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        json.dump(_to_json(result), sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        _print_text(args.command, result)
    return 0
