"""``python -m services ...``: the same service layer from a terminal.

Prints readable text, or JSON with ``--json``. Bad input or an unavailable
model exits with status 2 and one line on stderr; never a traceback. A transcription
stopped by its time budget prints what it has and exits with status 3.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import InputError, ModelUnavailable
from .results import to_json

EXIT_BAD_INPUT = 2
EXIT_FAILURE = 1
EXIT_INCOMPLETE = 3  # a transcription stopped by its time budget: partial output, a note on stderr


def _common(default) -> argparse.ArgumentParser:
    """``--json`` and ``-v``, accepted before or after the subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=default, help="print JSON")
    common.add_argument("-v", "--verbose", action="store_true", default=default, help="log progress to stderr")
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services", description="Local AI model dashboard, from the CLI.",
                                     parents=[_common(False)])
    sub = parser.add_subparsers(dest="command", required=True)
    common = [_common(argparse.SUPPRESS)]  # after the subcommand; absent ones keep the value given before it

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=common)

    command("models", "the catalog: availability and reasons")

    p = command("classify", "ImageNet classes of images (any number: done in chunks)")
    p.add_argument("images", nargs="+")
    p.add_argument("--model")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--output", help="write the results here (JSON; CSV when FILE ends in .csv)")
    p.add_argument("--explain", action="store_true",
                   help="also a Grad-CAM heatmap of the top class per image (PNG; its path in the JSON)")
    p.add_argument("--explain-dir", default="explanations", help="where --explain writes the PNGs")

    for name, text in (("sentiment", "NEGATIVE/NEUTRAL/POSITIVE with every class's probability"),
                       ("ner", "named entities with calibrated confidences")):
        p = command(name, text)
        p.add_argument("text", nargs="?")
        p.add_argument("--file", help="one text per line")
        p.add_argument("--model")
        if name == "sentiment":
            p.add_argument("--explain", action="store_true",
                           help="also each word's push towards POSITIVE/NEGATIVE (integrated gradients)")

    p = command("generate", "answer a prompt (chat) or continue it (--plain)")
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

    p = command("transcribe", "speech to text (several files: one model load)")
    p.add_argument("audio", nargs="+")
    p.add_argument("--model")
    p.add_argument("--language", help="the spoken language (e.g. en); detected when absent")
    p.add_argument("--languages", help="comma-separated codes the detection may choose from, e.g. en,de")
    p.add_argument("--task", choices=["transcribe", "translate"], default="transcribe",
                   help="translate: Whisper's own translation to English (multilingual models)")
    p.add_argument("--budget", type=float, metavar="SECONDS",
                   help="stop after this long with what is done (default: 20 s + 1.5 x the audio's length)")
    p.add_argument("--words", action="store_true", help="word timestamps")
    p.add_argument("--output", help="write the JSON here")

    p = command("detect", "objects in images (any number: done in chunks)")
    p.add_argument("images", nargs="+")
    p.add_argument("--output", help="write the JSON here")
    p.add_argument("--model")
    p.add_argument("--threshold", type=float, default=0.35)
    p.add_argument("--all-classes", action="store_true", help="all 80 COCO classes, not only road users")
    p.add_argument("--tiles", action=argparse.BooleanOptionalAction, default=True,
                   help="sliced inference for small, far objects (default on; --no-tiles for the whole frame only)")

    p = command("track", "track and count unique objects in a video")
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


def _in_chunks(files: list[str], call, what: str, verbose: bool) -> tuple[list, int]:
    """``call(chunk)`` over chunks of at most the per-request limit, so any number of files
    is done in one process with bounded memory; a bad file is reported (stderr) and skipped."""
    from .config import LIMITS

    size = LIMITS.max_images_per_request
    results, failed = [], 0
    for start in range(0, len(files), size):
        chunk = files[start:start + size]
        try:
            results.extend(call(chunk))
        except InputError:  # find the bad file(s); the others still count
            if len(files) == 1:
                raise
            for file in chunk:
                try:
                    results.extend(call([file]))
                except InputError as exc:
                    failed += 1
                    print(f"error: {exc}", file=sys.stderr)
        if verbose or len(files) > size:
            print(f"{what} {min(start + size, len(files))} of {len(files)} files", file=sys.stderr, flush=True)
    return results, failed


def run(args) -> tuple[object, int]:
    """The command's result, and how many of its input files failed (reported on stderr)."""
    from . import api

    if args.command == "models":
        return api.models(), 0
    if args.command == "classify":
        results, failed = _in_chunks(args.images, lambda chunk: api.classify(chunk, args.model, args.top_k),
                                     "classified", args.verbose)
        return (_explain_images(args, results) if args.explain else results), failed
    if args.command == "sentiment":
        texts = _texts(args)
        results = api.sentiment(texts, args.model)
        if args.explain:
            return [{**r.to_dict(), "explanation": api.explain_sentiment(t, args.model).to_dict()}
                    for t, r in zip(texts, results)], 0
        return results, 0
    if args.command == "ner":
        return api.entities(_texts(args), args.model), 0
    if args.command == "generate":
        settings = api.generation_settings(
            max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
            repetition_penalty=args.repetition_penalty, seed=args.seed, chat=not args.plain,
        )
        if args.file:
            return [api.generate(prompt, settings, args.model, system=args.system)
                    for prompt in _read_lines(args.file)], 0
        if args.prompt is None:
            raise InputError("give a PROMPT or --file F")
        return api.generate(args.prompt, settings, args.model, system=args.system), 0
    if args.command == "transcribe":
        return _transcribe(args)
    if args.command == "detect":
        from .backends.detection import ROAD_CLASSES
        from .tiling import Tiling

        classes = None if args.all_classes else ROAD_CLASSES
        tiling = Tiling() if args.tiles else None
        return _in_chunks(args.images, lambda chunk: api.detect(chunk, args.model, args.threshold, classes,
                                                                tiling=tiling), "detected", args.verbose)
    if args.command == "track":
        return _track(args), 0
    raise AssertionError(args.command)


def _explain_images(args, results) -> list[dict]:
    """Each classification with the heatmap of its top class, drawn to ``--explain-dir``."""
    from . import api
    from .drawing import draw_heatmap

    folder = Path(args.explain_dir)
    folder.mkdir(parents=True, exist_ok=True)
    unused = [Path(p) for p in args.images]  # the results keep the files' order, less the unreadable ones
    rows, written = [], set()
    for result in results:
        path = unused.pop(next(i for i, p in enumerate(unused) if p.name == result.file))
        data = path.read_bytes()  # read once: explained and drawn from the same bytes
        explanation = api.explain_image((path.name, data), args.model, result.predictions[0].index)
        stem = path.stem if path.stem not in written else f"{path.stem}-{len(written)}"
        written.add(stem)
        png = folder / f"{stem}.heatmap.png"
        draw_heatmap(data, explanation).save(png)
        details = {k: v for k, v in explanation.to_dict().items() if k not in ("file", "heatmap")}
        rows.append({**result.to_dict(), "explanation": {**details, "heatmap_png": str(png)}})
    return rows


def _transcribe(args) -> tuple[object, int]:
    """One file: its transcript; several: a list, the model loaded once."""
    from . import api

    results, failed = [], 0
    for i, path in enumerate(args.audio, 1):
        try:
            transcript = api.transcribe(path, args.model, args.language, args.words, name=Path(path).name,
                                        task=args.task, languages=(args.languages or "").split(","),
                                        budget_seconds=args.budget)
            for note in transcript.notes:
                print(f"note: {Path(path).name}: {note}", file=sys.stderr)
            results.append(transcript)
        except InputError as exc:
            if len(args.audio) == 1:
                raise
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
        if len(args.audio) > 1:
            print(f"transcribed {i} of {len(args.audio)} files", file=sys.stderr, flush=True)
    return (results[0] if len(args.audio) == 1 else results), failed


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


def _print_text(command: str, result: object) -> None:
    data = to_json(result)
    if command == "models":
        for row in data:
            mark = "yes" if row["available"] else "no "
            star = "*" if row["default"] else " "
            print(f"{row['task']:<22} {star}{row['id']:<26} {mark}  {row['reason']}")
    elif command == "classify":
        for item in data:
            best = ", ".join(f"{p['label']} {p['score']:.1%}" for p in item["predictions"])
            print(f"{item['file']}: {best}")
            if "explanation" in item:
                print(f"  {item['explanation']['method']} of {item['explanation']['label']}: "
                      f"{item['explanation']['heatmap_png']}")
    elif command == "sentiment":
        for item in data:
            others = "  ".join(f"{label[:3].lower()} {p:.0%}" for label, p in item["scores"].items())
            print(f"{item['label']:<8} {item['score']:.1%}  ({others})  {item['text']}")
            if "explanation" in item:
                strongest = sorted(item["explanation"]["words"], key=lambda w: -abs(w["score"]))[:5]
                print("  words: " + ", ".join(f"{w['text']} {w['score']:+.2f}" for w in strongest))
    elif command == "ner":
        for item in data:
            spans = "; ".join(f"{e['text']} [{e['label']}" + ("" if e["score"] is None else f" {e['score']:.0%}") + "]"
                              for e in item["entities"]) or "(no entities)"
            print(spans)
    elif command == "generate":
        for item in data if isinstance(data, list) else [data]:
            print(item["text"])
            print(f"-- {item['tokens']} tokens in {item['seconds']:.2f} s, {item['tokens_per_second']:.1f} tokens/s",
                  file=sys.stderr)
    elif command == "transcribe":
        for item in data if isinstance(data, list) else [data]:
            if isinstance(data, list):
                print(f"== {item['file']}")
            for seg in item["segments"]:
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


def _write(path: str, data) -> None:
    """``--output``: JSON, or for classification a CSV table (file, rank, label, score)."""
    out = Path(path)
    if out.suffix.lower() == ".csv" and isinstance(data, list) and data and "predictions" in data[0]:
        import csv

        with out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "rank", "label", "score"])
            for item in data:
                for rank, p in enumerate(item["predictions"], 1):
                    writer.writerow([item["file"], rank, p["label"], p["score"]])
    else:
        out.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        result, failed = run(args)
        output = getattr(args, "output", None) if args.command != "track" else None
        if output:
            _write(output, to_json(result))
            print(f"wrote {len(result) if isinstance(result, list) else 1} results to {output}", file=sys.stderr)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ModelUnavailable as exc:
        print(f"error: model unavailable: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # e.g. --output in a folder that does not exist
        print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # last resort: one line, no traceback (use -v for the log)
        logging.getLogger(__name__).debug("unexpected failure", exc_info=True)
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return EXIT_FAILURE
    if args.json and not output:
        json.dump(to_json(result), sys.stdout, ensure_ascii=False, indent=2)
        print()
    elif not output:
        _print_text(args.command, result)
    if failed:
        print(f"error: {failed} file(s) could not be used (see above)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if _incomplete(result):
        return EXIT_INCOMPLETE
    return 0


def _incomplete(result) -> bool:
    """A transcription stopped by its time budget: the output is partial (the notes said why)."""
    items = result if isinstance(result, list) else [result]
    return any(getattr(item, "complete", True) is False for item in items)
