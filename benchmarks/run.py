"""Benchmark the service layer against named baselines, in the same process.

    .venv/bin/python benchmarks/run.py [--tasks image,sentiment,ner,detection,video,chat,generation,speech,text-cost,explain,memory,warmstart,http] [--requests 32]

For each task it prints a markdown table: cold load, warm p50/p95 latency of a
lone request, throughput with 1 and 8 concurrent clients, and process peak RSS,
for the project's service and for a baseline, with the ratio service/baseline.
No pytest timing: numbers are for reading, not for asserting.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DASHBOARD_OFFLINE", "1")

import numpy as np  # noqa: E402

from benchmarks.timing import latencies, percentile, throughput  # noqa: E402
from services import api  # noqa: E402
from services.devices import describe_device, pick_device  # noqa: E402
from services.manager import ModelManager  # noqa: E402
from services.local import LocalTasks  # noqa: E402

DEVICE = pick_device()  # the service's device (MODEL_DEVICE); baselines run on the same one

SAMPLES = ROOT / "assets" / "samples"
DATA = ROOT / "tests" / "data"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Serial:
    """The baseline way to share one model: one request at a time, behind a lock."""

    def __init__(self, fn):
        self.fn = fn
        self.lock = threading.Lock()

    def __call__(self, i):
        with self.lock:
            return self.fn(i)


def measure(name: str, load: Callable[[], Callable[[int], object]], requests: int) -> dict:
    started = time.perf_counter()
    call = load()
    cold = time.perf_counter() - started
    for i in range(3):  # warm: kernels for one item and for batches are built on first use
        call(i)
    throughput(call, 8, 2)
    lone = latencies(call, max(8, requests // 2))
    rps1, _ = throughput(call, 1, requests // 2 or 1)
    counters = getattr(call, "batch_sizes", lambda: (0, 0))
    before = counters()
    rps8, lat8 = throughput(call, 8, max(2, requests // 4))
    batches = [after - then for after, then in zip(counters(), before)]
    return {"name": name, "cold_s": cold, "p50_ms": statistics.median(lone) * 1000,
            "p95_ms": percentile(lone, 95) * 1000, "rps1": rps1, "rps8": rps8,
            "p95_8_ms": percentile(lat8, 95) * 1000, "p95_8_vs_lone": percentile(lat8, 95) / statistics.median(lone),
            "little_ms": 8 / rps8 * 1000,
            "batch": batches[1] / batches[0] if batches[0] else 1.0, "rss_mb": peak_rss_mb()}


def median_run(runs: list[dict]) -> dict:
    """Each metric's median over repeated rounds (the name of the first)."""
    return {key: runs[0][key] if key == "name" else statistics.median(r[key] for r in runs) for key in runs[0]}


ROWS = (
    ("cold load (s)", "cold_s", "{:.2f}"), ("warm p50, lone request (ms)", "p50_ms", "{:.1f}"),
    ("warm p95, lone request (ms)", "p95_ms", "{:.1f}"), ("throughput, 1 client (req/s)", "rps1", "{:.1f}"),
    ("throughput, 8 clients (req/s)", "rps8", "{:.1f}"), ("p95 with 8 clients (ms)", "p95_8_ms", "{:.1f}"),
    ("p95 with 8 clients / own lone p50", "p95_8_vs_lone", "{:.1f}x"),
    ("mean latency any schedule must have at that throughput, 8 / req/s (ms)", "little_ms", "{:.1f}"), ("mean batch size, 8 clients", "batch", "{:.1f}"),
    ("process peak RSS so far (MB)", "rss_mb", "{:.0f}"),
)


def table(task: str, service: dict, unbatched: dict, baseline: dict) -> str:
    """Service vs the named baseline, plus the service with batching off (what batching alone adds)."""
    out = [f"### {task}", "",
           f"| metric | service | service, batching off (concurrent calls, no lock) | baseline: {baseline['name']} | service / baseline "
           "| service / batching off |", "|---|---|---|---|---|---|"]
    for label, key, fmt in ROWS:
        cells = [fmt.format(run[key]) for run in (service, unbatched, baseline)]
        ratios = [f"{service[key] / other[key]:.2f}x" if other[key] else "" for other in (baseline, unbatched)]
        out.append(f"| {label} | " + " | ".join(cells + ratios) + " |")
    speedup = service["rps8"] / baseline["rps1"]
    out += ["", f"Throughput at 8 clients vs the baseline serving one request at a time (its 1-client rate): "
            f"**{speedup:.2f}x**; vs the service's own lone rate: {service['rps8'] / service['rps1']:.2f}x.", ""]
    return "\n".join(out)


@contextmanager
def batching_off():
    """``DYNAMIC_BATCHING=0`` while the block runs (the setting is read on every call)."""
    before = os.environ.get("DYNAMIC_BATCHING")
    os.environ["DYNAMIC_BATCHING"] = "0"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("DYNAMIC_BATCHING")
        else:
            os.environ["DYNAMIC_BATCHING"] = before


class ServiceCall:
    """A service request plus the manager's batch counters, for the mean batch size."""

    def __init__(self, mgr, model_id, fn):
        self.mgr, self.model_id, self.fn = mgr, model_id, fn

    def __call__(self, i):
        return self.fn(i)

    def batch_sizes(self):
        return self.mgr.batch_sizes(self.model_id)


def fresh_manager() -> ModelManager:
    from services.backends import register_all
    from services.catalog import Catalog

    mgr = ModelManager(Catalog.load())
    register_all(mgr)
    return mgr


# ---------------------------------------------------------------- tasks
def bench_image(requests):
    from services.inputs import load_image

    images = [(n, (SAMPLES / n).read_bytes()) for n in ("cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg")]
    decoded = [load_image(d) for _, d in images]

    def service():
        mgr = fresh_manager()
        mgr.get("efficientnet-lite0")
        return ServiceCall(mgr, "efficientnet-lite0", lambda i: LocalTasks(mgr).classify([images[i % 4]], top_k=5))

    def baseline():
        import torch
        from efficientnet_lite_pytorch import EfficientNet

        from services.backends.image_classification import lite_preprocess
        from services.catalog import resolve_path

        spec = fresh_manager().catalog.get("efficientnet-lite0")
        model = EfficientNet.from_name("efficientnet-lite0").eval()
        model.load_state_dict(torch.load(resolve_path(spec), map_location="cpu", weights_only=True))
        model.to(DEVICE)
        preprocess = lite_preprocess(224, 256)

        @torch.inference_mode()
        def call(i):
            probs = torch.softmax(model(preprocess(load_image(images[i % 4][1]))[None].to(DEVICE)), -1)
            return probs.topk(5).indices.tolist()

        return Serial(call)

    del decoded
    return "Image classification (EfficientNet-Lite0, one image per request)", service, baseline, \
        "the published model (float32) called per request, one at a time"


REVIEWS = [line.split("\t")[2] for line in (DATA / "reviews.tsv").read_text().splitlines()[1:]]


def bench_sentiment(requests):
    def service():
        mgr = fresh_manager()
        mgr.get("minilm-sst2")
        return ServiceCall(mgr, "minilm-sst2", lambda i: LocalTasks(mgr).sentiment(REVIEWS[i % len(REVIEWS)]))

    def baseline():
        import torch

        from services.backends.sentiment import build_minilm_sentiment
        from services.catalog import PROJECT_ROOT, resolve_path

        spec = fresh_manager().catalog.get("minilm-sst2")
        model, tokenizer = build_minilm_sentiment(resolve_path(spec), PROJECT_ROOT / spec.option("head"))
        model.eval().to(DEVICE)

        @torch.inference_mode()
        def call(i):
            enc = tokenizer([REVIEWS[i % len(REVIEWS)]], truncation=True, return_tensors="pt").to(DEVICE)
            return torch.softmax(model(enc["input_ids"], enc["attention_mask"]), -1).tolist()

        return Serial(call)

    return "Sentiment (MiniLM + SST-2 head, one sentence per request)", service, baseline, \
        "the model in float32 called per request, one at a time"


NEWS = "Angela Merkel met Emmanuel Macron in Paris on Tuesday, a spokesman for the European Union said."


def bench_ner(requests):
    def service():
        mgr = fresh_manager()
        mgr.get("spacy-conll")
        return ServiceCall(mgr, "spacy-conll", lambda i: LocalTasks(mgr).entities(NEWS))

    def baseline():
        import spacy

        from services.catalog import resolve_path

        from services.backends.ner import attach_vectors

        spec = fresh_manager().catalog.get("spacy-conll")
        nlp = spacy.load(resolve_path(spec))
        attach_vectors(nlp, spec)
        return Serial(lambda i: nlp(NEWS).ents)

    return "Named entities (spaCy CoNLL model, one sentence per request)", service, baseline, "spacy nlp(text) per request"


def bench_detection(requests):
    street = (SAMPLES / "street.jpg").read_bytes()

    def service():
        mgr = fresh_manager()
        mgr.get("nanodet-g")
        return ServiceCall(mgr, "nanodet-g", lambda i: LocalTasks(mgr).detect([("street.jpg", street)]))

    def baseline():
        from services.backends.detection import load_nanodet
        from services.inputs import load_image

        model = load_nanodet(fresh_manager().catalog.get("nanodet-g"), DEVICE)
        return Serial(lambda i: model.predict([load_image(street)]))

    return "Detection (NanoDet-g ONNX, one image per request)", service, baseline, "onnxruntime session per request"


TASKS = {"image": bench_image, "sentiment": bench_sentiment, "ner": bench_ner, "detection": bench_detection}


def bench_generation() -> str:
    """Tokens per second and time to first token for a ~20-token prompt, greedy, 64 new tokens."""
    from transformers import TextIteratorStreamer

    from services.backends.generation import GenerationSettings

    mgr = fresh_manager()
    started = time.perf_counter()
    lm = mgr.get("smollm2-135m-instruct-transformers")
    cold = time.perf_counter() - started
    prompt = "Explain in two sentences why the sky looks blue during the day and red at sunset."
    settings = GenerationSettings(max_new_tokens=64, temperature=0, repetition_penalty=1.0)
    lm.generate(prompt, settings)
    runs = [lm.generate(prompt, settings) for _ in range(3)]
    ids = lm.encode(prompt, chat=True).to(lm.device)

    def hf_generate():
        streamer = TextIteratorStreamer(lm.tokenizer, skip_prompt=True)
        start = time.perf_counter()
        thread = threading.Thread(target=lm.module.generate, kwargs=dict(
            input_ids=ids, attention_mask=ids.new_ones(ids.shape), max_new_tokens=64, do_sample=False,
            streamer=streamer, pad_token_id=lm.tokenizer.eos_token_id))
        thread.start()
        first = None
        for piece in streamer:
            if first is None and piece:
                first = time.perf_counter() - start
        thread.join()
        total = time.perf_counter() - start
        return first, total

    hf_generate()
    base = [hf_generate() for _ in range(3)]
    tokens = statistics.median(r.tokens for r in runs)
    service_tps = statistics.median(r.tokens_per_second for r in runs)
    service_ttft = statistics.median(r.first_token_seconds for r in runs)
    base_ttft = statistics.median(b[0] for b in base)
    base_tps = tokens / statistics.median(b[1] for b in base)
    return "\n".join([
        "### Text generation on transformers (SmolLM2-135M-Instruct dequantized, the GPU path; greedy, 64 new tokens, prompt of "
        f"{ids.shape[1]} tokens with the chat template)", "",
        "| metric | service | baseline: transformers generate() + TextIteratorStreamer | ratio |", "|---|---|---|---|",
        f"| cold load (s) | {cold:.2f} | (same model) | |",
        f"| new tokens per second | {service_tps:.1f} | {base_tps:.1f} | {service_tps / base_tps:.2f}x |",
        f"| time to first token (s) | {service_ttft:.3f} | {base_ttft:.3f} | {service_ttft / base_ttft:.2f}x |",
        f"| process peak RSS so far (MB) | {peak_rss_mb():.0f} | | |", "",
    ])


CHAT_MODELS = ("qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-0.5b-instruct", "smollm2-135m-instruct")
# Prompts of about 50 tokens with the chat template, each different from the start, so no run
# is helped by a previous one's cache; the answers are long enough for 64 new tokens.
CHAT_TOPICS = ("rivers", "volcanoes", "bicycles", "libraries", "glaciers", "bridges", "forests", "lighthouses")


def chat_prompt(i: int) -> str:
    topic = CHAT_TOPICS[i % len(CHAT_TOPICS)]
    return (f"{topic.capitalize()} ({i}): please write a detailed, friendly explanation of how {topic} work, "
            "what people use them for, and three surprising facts about them, in plain English for a curious reader.")


def _llama_cpp_python():
    """llama-cpp-python from its own environment (a 15-minute source build, so not in .venv):
    ``LLAMA_CPP_PYTHON_SITE=/path/to/site-packages``. None when not given."""
    site = os.environ.get("LLAMA_CPP_PYTHON_SITE")
    if not site:
        return None
    sys.path.append(site)
    import llama_cpp

    return llama_cpp


def _decode_rate(tokens: int, first: float, total: float) -> float:
    return (tokens - 1) / (total - first) if tokens > 1 and total > first else 0.0


def bench_chat(requests: int = 6) -> str:
    """Each bundled GGUF: the service vs bare llama.cpp on the same file, greedy, 64 new tokens."""
    import psutil

    from services import chat
    from services.backends.generation import GenerationSettings
    from services.config import llm_threads as threads

    settings = GenerationSettings(max_new_tokens=64, temperature=0, repetition_penalty=1.0)
    process = psutil.Process()
    llama_cpp = _llama_cpp_python()
    rows = [f"### Chat on llama.cpp (greedy, 64 new tokens, fresh ~50-token prompts, {threads()} threads)", "",
            "| model | runtime | decode tokens/s | first token (s) | ratio to bare llama.cpp | "
            "4 chats at once: aggregate tokens/s (x one chat) | RSS MB: loaded / 1 chat / 4 chats |",
            "|---|---|---|---|---|---|---|"]
    counter = iter(range(10_000))
    for model_id in CHAT_MODELS:
        mgr = fresh_manager()
        lm = mgr.get(model_id)
        n_prompt = lm.count_tokens(chat.user_turn([], chat_prompt(0)))

        def service_run(i=None):
            result = LocalTasks(mgr).chat_reply(chat.user_turn([], chat_prompt(next(counter) if i is None else i)), settings,
                                    model_id)
            return result.tokens, result.first_token_seconds, result.seconds

        def aggregate(call, clients: int) -> float:
            done = []
            start = time.perf_counter()
            workers = [threading.Thread(target=lambda: done.append(call())) for _ in range(clients)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            return sum(d[0] for d in done) / (time.perf_counter() - start)

        service_run()
        runs = [service_run() for _ in range(requests)]
        rss_loaded = process.memory_info().rss / 2**20
        one = statistics.median(aggregate(service_run, 1) for _ in range(2))
        rss_one = process.memory_info().rss / 2**20
        four = statistics.median(aggregate(service_run, 4) for _ in range(2))
        rss_four = process.memory_info().rss / 2**20
        svc_tps = statistics.median(_decode_rate(*r) for r in runs)
        svc_ttft = statistics.median(r[1] for r in runs)

        baselines = []
        path = str(lm.path)
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_ctx = 4096
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = threads()
        params.verbosity = -1
        bare = xllamacpp.Server(params)

        def bare_run():
            marks = []
            start = time.perf_counter()

            def on_chunk(chunk):
                choice = (chunk.get("choices") or [{}])[0]
                if (choice.get("delta") or {}).get("content"):
                    marks.append(time.perf_counter() - start)
            bare.handle_chat_completions({"messages": [{"role": "user", "content": chat_prompt(next(counter))}],
                                          "max_tokens": 64, "temperature": 0, "stream": True}, on_chunk)
            return len(marks), marks[0], marks[-1]

        bare_run()
        baselines.append(("xllamacpp Server, in-process, no service layer", [bare_run() for _ in range(requests)]))
        bare = None  # frees the bare server before the next runtime loads the file
        if llama_cpp is not None:
            llm = llama_cpp.Llama(model_path=path, n_ctx=4096, n_threads=threads(), n_threads_batch=threads(), verbose=False)

            def lcp_run():
                marks = []
                start = time.perf_counter()
                for chunk in llm.create_chat_completion(
                        [{"role": "user", "content": chat_prompt(next(counter))}], max_tokens=64, temperature=0,
                        stream=True):
                    if chunk["choices"][0]["delta"].get("content"):
                        marks.append(time.perf_counter() - start)
                return len(marks), marks[0], marks[-1]

            lcp_run()
            baselines.append((f"llama-cpp-python {llama_cpp.__version__} (source build, -march=native)",
                              [lcp_run() for _ in range(requests)]))
            llm.close()
        rows.append(f"| {model_id} ({n_prompt}-token prompt) | **service** (`api.chat_stream`, 4 slots) | "
                    f"{svc_tps:.1f} | {svc_ttft:.3f} | | {four:.1f} ({four / one:.2f}x of {one:.1f}) | "
                    f"{rss_loaded:.0f} / {rss_one:.0f} / {rss_four:.0f} |")
        for name, base_runs in baselines:
            tps = statistics.median(_decode_rate(*r) for r in base_runs)
            ttft = statistics.median(r[1] for r in base_runs)
            rows.append(f"| | {name} | {tps:.1f} | {ttft:.3f} | {svc_tps / tps:.2f}x tokens/s | | |")
        mgr.unload_all()
    rows.append("")
    return "\n".join(rows)


def _road_clip_720p(path: Path, seconds: float, fps: int = 10) -> Path:
    """vtest.avi (real pedestrians, 768x576 at 10 fps) scaled to 1280x720, looped to ``seconds``."""
    from services.video import VideoWriter, frames, probe

    source = ROOT / "artifacts/clips/vtest.avi"
    if not source.exists():
        raise SystemExit("vtest.avi missing: run `make clips` first")
    info = probe(source)
    writer = VideoWriter(path, 1280, 720, fps)
    written = 0
    try:
        while written < seconds * fps:
            for frame in frames(source, info):
                if written >= seconds * fps:
                    break
                from PIL import Image

                writer.write(np.asarray(Image.fromarray(frame.rgb).resize((1280, 720), Image.BILINEAR)), written / fps)
                written += 1
    finally:
        writer.close()
    return path


class RssPeak:
    """Peak resident memory of this process while the block runs, sampled every 50 ms."""

    def __enter__(self):
        import psutil

        self._process, self._stop, self.peak = psutil.Process(), threading.Event(), 0
        self.before = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            self._stop.wait(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.before) / 2**20


def bench_video() -> str:
    """Tracking a 1280x720 clip at every frame against the bare detector on the same frames,
    resident memory for a 1- and a 10-minute clip, and unique counts on vtest.avi."""
    import json
    import tempfile

    from PIL import Image

    from services.backends.detection import ROAD_CLASSES, load_nanodet
    from services.video import frames, probe

    folder = Path(tempfile.mkdtemp(prefix="bench-video-"))
    clip = _road_clip_720p(folder / "road720.mp4", 30)
    api.load("detection", "nanodet-g")
    model = load_nanodet(fresh_manager().catalog.get("nanodet-g"), DEVICE)
    info = probe(clip)
    rows = ["### Video: 1280x720, every frame, NanoDet-g\n",
            "| pipeline | frames | seconds | frames/s | ratio to the bare detector |", "|---|---|---|---|---|"]
    started = time.perf_counter()
    count = 0
    for frame in frames(clip, info):  # bare: PyAV decode + onnxruntime on each frame, nothing else
        model.predict([Image.fromarray(frame.rgb)])
        count += 1
    bare = count / (time.perf_counter() - started)
    rows.append(f"| bare detector (PyAV decode + NanoDet per frame) | {count} | {count / bare:.1f} | {bare:.1f} | 1.00 |")
    for label, output, line in (("service: detect + track", None, None),
                                ("service: detect + track + count line + draw + H.264 encode", folder / "out.mp4",
                                 "line")):
        from services.tracking import CountingLine

        started = time.perf_counter()
        run = api.track_video(clip, classes=ROAD_CLASSES, output=output,
                              line=CountingLine.horizontal(0.5) if line else None)
        rate = run.result.frames / (time.perf_counter() - started)
        rows.append(f"| {label} | {run.result.frames} | {run.result.frames / rate:.1f} | {rate:.1f} | {rate / bare:.2f} |")
    rows += ["", "| clip (1280x720, 10 fps) | frames decoded | analysed | resident memory growth (peak) | kept candidates |",
             "|---|---|---|---|---|"]
    for minutes, every in ((1, 1), (10, 5)):
        long_clip = _road_clip_720p(folder / f"road{minutes}m.mp4", minutes * 60)
        with RssPeak() as rss:
            run = api.track_video(long_clip, every=every, classes=ROAD_CLASSES, output=folder / "long-out.mp4",
                                  line=CountingLine.horizontal(0.5))
        rows.append(f"| {minutes} min, every {every} | {minutes * 600} | {run.result.frames} | {rss.growth_mb:.0f} MB | "
                    f"{run.candidates.nbytes / 2**20:.1f} MB |")
        long_clip.unlink()
    truth = json.loads((ROOT.parent / "shared/data/road/clips/vtest_counts.json").read_text())["counts"]
    rows += ["", "| vtest.avi unique counts | person | car | truck |", "|---|---|---|---|",
             f"| hand counts | {truth['person']} | {truth['car']} | {truth['truck']} |"]
    for every in (1, 2, 3):
        counts = api.track_video(ROOT / "artifacts/clips/vtest.avi", every=every, classes=ROAD_CLASSES).result.counts
        rows.append(f"| service, every {every} | {counts.get('person', 0)} | {counts.get('car', 0)} | "
                    f"{counts.get('truck', 0)} |")
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return "\n".join(rows) + "\n"


def bench_speech() -> str:
    import whisper

    from services.inputs import decode_audio

    mgr = fresh_manager()
    rows = ["### Speech (real speech: tests/data/jfk.mp3, 11.0 s)", "",
            "| model | cold load (s) | service RTF | baseline RTF: whisper.transcribe(defaults) | ratio |",
            "|---|---|---|---|---|"]
    audio = decode_audio(DATA / "jfk.mp3")
    for model_id in ("whisper-tiny.en", "whisper-base"):
        started = time.perf_counter()
        model = mgr.get(model_id)
        cold = time.perf_counter() - started
        LocalTasks(mgr).transcribe(DATA / "jfk.mp3", model=model_id)
        service = statistics.median(
            (lambda t: t.seconds / t.duration)(LocalTasks(mgr).transcribe(DATA / "jfk.mp3", model=model_id))
            for _ in range(3))
        base_times = []
        for _ in range(3):
            started = time.perf_counter()
            whisper.transcribe(model.model, audio, fp16=DEVICE.startswith("cuda"))  # its default, minus the CPU warning
            base_times.append((time.perf_counter() - started) / (audio.size / 16000))
        base = statistics.median(base_times)
        rows.append(f"| {model_id} | {cold:.2f} | {service:.3f} | {base:.3f} | {service / base:.2f}x |")
    return "\n".join(rows) + "\n"


FIRST_CALL = """
import json, os, sys, time
started = time.perf_counter()
sys.path.insert(0, {root!r})
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from services.manager import default_manager
from services.warmup import warm_up
imported = time.perf_counter() - started
result = warm_up(default_manager(), tasks=({task!r},))[0]
print(json.dumps({{"imports": imported, "first": result.seconds, "ok": result.ok, "model": result.model}}))
"""


def bench_warm_start() -> str:
    """Each task's first prediction in a fresh process, as after ``make run``: imports,
    then load (conversions already cached) + one real prediction."""
    import json
    import subprocess

    from services.catalog import TASKS

    rows = ["### Warm start (fresh process per task; converted weights already cached)", "",
            "| task | model | imports (s) | first prediction incl. load (s) |", "|---|---|---|---|"]
    for task in TASKS:
        code = FIRST_CALL.format(root=str(ROOT), task=task)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
        found = json.loads(line) if line.startswith("{") else {}
        if not found.get("ok"):
            rows.append(f"| {task} | failed | | {out.stderr.strip().splitlines()[-1:]} |")
            continue
        rows.append(f"| {task} | {found['model']} | {found['imports']:.2f} | {found['first']:.2f} |")
    return "\n".join(rows) + "\n"


def bench_memory() -> str:
    """All six defaults loaded: their sizes and the process RSS. Then a budget below
    their sum: every task still answers and the manager stays within the budget."""
    import psutil

    from services.catalog import TASKS
    from services.warmup import warm_up

    process = psutil.Process()
    before = process.memory_info().rss / 2**20
    mgr = fresh_manager()
    warm_up(mgr)
    sizes = {s.id: s.memory_mb for s in mgr.status() if s.loaded}
    total = sum(sizes.values())
    rss_all = process.memory_info().rss / 2**20
    rows = ["### Memory (all six defaults, CPU)", "", "| model | MB (parameters and buffers) |", "|---|---|"]
    rows += [f"| {k} | {v:.0f} |" for k, v in sizes.items()]
    rows += [f"| **sum** | **{total:.0f}** |", "",
             f"Process RSS: {before:.0f} MB before loading, {rss_all:.0f} MB with all six loaded "
             f"(peak {peak_rss_mb():.0f} MB).", ""]
    mgr.unload_all()
    budget = max(max(sizes.values()) + 1, total / 2)
    limited = fresh_manager()
    limited.budget_bytes = int(budget * 2**20)
    peak_used = 0.0
    answered = 0
    for _ in range(2):
        for task in TASKS:
            warm_up(limited, tasks=(task,))
            answered += 1
            peak_used = max(peak_used, limited.used_mb())
    evictions = sum(s.evictions for s in limited.status())
    rows.append(f"With `MODEL_MEMORY_BUDGET_MB={budget:.0f}` (half the sum, at least the largest model), "
                f"{answered} requests over all six tasks twice all answered; the manager's peak was "
                f"{peak_used:.0f} MB (budget {budget:.0f} MB, overhead 0 MB on model bytes) with {evictions} evictions; "
                f"process RSS {process.memory_info().rss / 2**20:.0f} MB (freed model memory is returned to the "
                "allocator, not always to the OS).")
    return "\n".join(rows) + "\n"


def bench_http(requests: int = 32) -> str:
    """HTTP overhead: the same request through the API (uvicorn on loopback in this process, sharing
    the manager) against the in-process ``LocalTasks`` call, lone and 8 clients; the HTTP clients run
    as threads here and again from a separate process (``http_clients.py``), as real clients would."""
    import socket

    import httpx
    import uvicorn

    from services.web.app import create_app

    mgr = fresh_manager()
    tasks = LocalTasks(mgr)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(tasks), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    local = threading.local()

    def client() -> httpx.Client:  # one keep-alive connection per client thread, as a real client has
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=url, timeout=120)
        return local.client

    cat = (SAMPLES / "cat.jpg").read_bytes()
    workloads = [
        ("sentiment, one review per request (JSON)", "minilm-sst2",
         lambda i: tasks.sentiment(REVIEWS[i % len(REVIEWS)]),
         lambda i: client().post("/v1/sentiment", json={"texts": [REVIEWS[i % len(REVIEWS)]]}).raise_for_status()),
        ("classify, one 640x480 JPEG per request (multipart)", "efficientnet-lite0",
         lambda i: tasks.classify([("cat.jpg", cat)]),
         lambda i: client().post("/v1/classify", files=[("file", ("cat.jpg", cat))]).raise_for_status()),
    ]
    def other_process(kind: str, clients: int, per_client: int) -> dict:
        """The same requests from a separate client process (no shared GIL with the server)."""
        import json
        import subprocess

        out = subprocess.run([sys.executable, str(ROOT / "benchmarks/http_clients.py"), url, kind, str(clients),
                              str(per_client)], capture_output=True, text=True, check=True, timeout=600)
        return json.loads(out.stdout.strip().splitlines()[-1])

    rows = ["### HTTP API overhead (uvicorn on loopback in the benchmark process, same manager as the in-process call)",
            "", "| request | metric | in-process `LocalTasks` | HTTP, clients in this process | HTTP, clients in "
            "another process | HTTP (this process) / in-process | HTTP (other process) / in-process |",
            "|---|---|---|---|---|---|---|"]
    for (title, model_id, inproc, http), kind in zip(workloads, ("sentiment", "classify")):
        mgr.get(model_id)
        for call in (inproc, http):
            for i in range(5):
                call(i)
            throughput(call, 8, 2)
        results = {}
        for name, call in (("in", inproc), ("http", http), ("remote", None)):
            if call is None:
                lone = other_process(kind, 1, max(16, requests))
                before = mgr.batch_sizes(model_id)
                eight = other_process(kind, 8, max(4, requests // 2))
                p50, rps8, p50_8 = lone["p50_ms"], eight["rps"], eight["p50_ms"]
            else:
                lone_s = latencies(call, max(16, requests))
                before = mgr.batch_sizes(model_id)
                rps8, lat8 = throughput(call, 8, max(4, requests // 2))
                p50, p50_8 = statistics.median(lone_s) * 1000, statistics.median(lat8) * 1000
            after = mgr.batch_sizes(model_id)
            calls, items = after[0] - before[0], after[1] - before[1]
            results[name] = {"p50": p50, "rps8": rps8, "p50_8": p50_8,
                             "batch": items / calls if calls else 1.0}
        for label, key, fmt in (("lone request p50 (ms)", "p50", "{:.1f}"),
                                ("8 clients: throughput (req/s)", "rps8", "{:.1f}"),
                                ("8 clients: p50 latency (ms)", "p50_8", "{:.1f}"),
                                ("8 clients: mean batch size", "batch", "{:.1f}")):
            a, b, c = (results[n][key] for n in ("in", "http", "remote"))
            rows.append(f"| {title} | {label} | {fmt.format(a)} | {fmt.format(b)} | {fmt.format(c)} | "
                        f"{b / a:.2f}x | {c / a:.2f}x |")
    server.should_exit = True
    return "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="image,sentiment,ner,detection,video,chat,generation,speech,memory,warmstart,http")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the batched tasks; medians are printed")
    args = parser.parse_args()
    import torch

    print(f"# Benchmark\n\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"device {describe_device(DEVICE)} (set MODEL_DEVICE to choose)\n")
    for task in args.tasks.split(","):
        if task == "generation":
            print(bench_generation(), flush=True)
        elif task == "chat":
            print(bench_chat(), flush=True)
        elif task == "speech":
            print(bench_speech(), flush=True)
            from benchmarks.speech_speed import bench_speech_speed

            print(bench_speech_speed(), flush=True)
        elif task == "explain":
            from benchmarks.explain_cost import bench_explain

            print(bench_explain(), flush=True)
        elif task == "text-cost":
            from benchmarks.text_cost import bench_text_cost

            print(bench_text_cost(), flush=True)
        elif task == "video":
            print(bench_video(), flush=True)
        elif task == "memory":
            print(bench_memory(), flush=True)
        elif task == "warmstart":
            print(bench_warm_start(), flush=True)
        elif task == "http":
            print(bench_http(args.requests), flush=True)
        else:
            title, service, baseline, base_name = TASKS[task](args.requests)
            runs = {"service": [], "unbatched": [], "baseline": []}
            for _ in range(args.rounds):  # the three in turn, so a noisy minute hits all of them alike
                runs["service"].append(measure("service", service, args.requests))
                with batching_off():
                    runs["unbatched"].append(measure("service, batching off", service, args.requests))
                runs["baseline"].append(measure(base_name, baseline, args.requests))
            s, u, b = (median_run(runs[k]) for k in ("service", "unbatched", "baseline"))
            print(table(title + (f", median of {args.rounds} rounds" if args.rounds > 1 else ""), s, u, b), flush=True)


if __name__ == "__main__":
    main()
