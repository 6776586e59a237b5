"""The GPU path, checked and timed: ``bash benchmarks/gpu_check.sh`` runs this on the device machine.

Runs anywhere; without CUDA the CUDA rows say "skipped" and the rest still runs, so the
script is tested here on CPU. Prints one markdown table and writes it to ``$OUT/gpu_check.md``
(or ``artifacts/gpu_check.md``). Real weights where they fit the 64 MiB a device call may
carry (EfficientNet-Lite0, NanoDet); random weights of the real shapes otherwise (said per row).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DASHBOARD_OFFLINE", "1")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from services.catalog import Availability, Catalog, ModelSpec  # noqa: E402
from services.manager import MB, ModelManager  # noqa: E402

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
SAMPLES = ["cat.jpg", "coffee.jpg", "rocket.jpg", "astronaut.jpg", "street.jpg"]


@dataclass
class Row:
    check: str
    device: str
    result: str
    ok: bool | None  # None: skipped


ROWS: list[Row] = []


def row(check: str, device: str, result: str, ok: bool | None = True) -> None:
    ROWS.append(Row(check, device, result, ok))
    print(f"{'ok  ' if ok else 'skip' if ok is None else 'FAIL'} {check}: {result}", flush=True)


def skipped(check: str) -> None:
    row(check, "cuda", "skipped: no CUDA here", None)


def guarded(check: str):
    """Run one check; an exception is a failed row, not the end of the script."""
    def wrap(fn):
        def run() -> None:
            try:
                fn()
            except Exception as exc:  # report and go on: one broken path must not hide the others
                row(check, DEVICE, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}",
                    False)
        return run
    return wrap


def manager(device: str, budget_mb: float | None = None, catalog: Catalog | None = None) -> ModelManager:
    from services.backends import register_all

    mgr = ModelManager(catalog or Catalog.load(), device=device, budget_mb=budget_mb)
    register_all(mgr)
    return mgr


def images() -> list[Image.Image]:
    return [Image.open(ROOT / "assets/samples" / n).convert("RGB") for n in SAMPLES]


def cuda_mb() -> float:
    return torch.cuda.memory_allocated() / MB if CUDA else 0.0


def check_environment() -> None:
    name = torch.cuda.get_device_name(0) if CUDA else "none"
    row("environment", DEVICE, f"torch {torch.__version__}, CUDA {torch.version.cuda}, GPU: {name}, "
                               f"python {sys.version.split()[0]}", True)


@guarded("EfficientNet-Lite0 (real weights) fp16 on CUDA vs CPU float32")
def check_lite0_agreement() -> None:
    os.environ["MODEL_DTYPE"] = "float32"
    reference = manager("cpu").get("efficientnet-lite0")
    os.environ.pop("MODEL_DTYPE")
    pictures = images()
    ref = reference.predict(pictures, top_k=5)
    if not CUDA:
        row("EfficientNet-Lite0 CPU float32 reference", "cpu",
            "top-1: " + ", ".join(p[0].label for p in ref), all(p[0].score > 0 for p in ref))
        skipped("EfficientNet-Lite0 fp16 on CUDA vs CPU float32")
        return
    mgr = manager("cuda")
    model = mgr.get("efficientnet-lite0")
    got = model.predict(pictures, top_k=1000)
    agree = sum(g[0].label == r[0].label for g, r in zip(got, ref))
    diff = max(abs({p.label: p.score for p in g}[q.label] - q.score) for g, r in zip(got, ref) for q in r)
    status = {s.id: s for s in mgr.status()}["efficientnet-lite0"]
    row("EfficientNet-Lite0 (real weights) on CUDA vs CPU float32", f"{model.device} {status.precision}",
        f"top-1 agrees on {agree}/{len(pictures)} samples; max |p - p_ref| over the reference top-5 = {diff:.4f}",
        agree == len(pictures) and diff < 0.02)
    for batch in (1, 8, 64):
        batch_images = (pictures * 13)[:batch]
        model.predict(batch_images)
        torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(5):
            model.predict(batch_images)
        torch.cuda.synchronize()
        rate = 5 * batch / (time.perf_counter() - started)
        row(f"EfficientNet-Lite0 throughput, batch {batch}", "cuda", f"{rate:.0f} images/s (preprocessing included)")


@guarded("sentiment head (random MiniLM-L6 weights, real shapes)")
def check_sentiment() -> None:
    from transformers import BertConfig, BertModel, BertTokenizerFast

    from services.backends.sentiment import LABELS, MiniLMSentimentModel, TextClassifier

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", "was", "good", "bad", "."]
    with tempfile.TemporaryDirectory() as folder:
        vocab = Path(folder) / "vocab.txt"
        vocab.write_text("\n".join(words))
        tokenizer = BertTokenizerFast(vocab_file=str(vocab))
    encoder = BertModel(BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                   intermediate_size=1536))
    model = TextClassifier(MiniLMSentimentModel(encoder, 384), tokenizer, DEVICE, list(LABELS))
    out = model.predict(["the film was good ."] * 32)
    ok = len(out) == 32 and all(0 <= s.score <= 1 for s in out)
    row("sentiment head (random MiniLM-L6 weights, real shapes), 32 texts",
        f"{model.device} {model.dtype}".replace("torch.", ""),
        f"{len(out)} results, scores in [0, 1]", ok)


@guarded("Whisper forward (random tiny.en weights, real shapes)")
def check_whisper() -> None:
    import whisper
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
                           n_vocab=51864, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4)
    dtype = torch.float16 if CUDA else torch.float32  # openai-whisper's own rule
    torch.manual_seed(0)
    model = Whisper(dims)
    with torch.no_grad():  # some of its parameters start as torch.empty (real weights overwrite them)
        for parameter in model.parameters():
            parameter.normal_(0, 0.02)
    model = model.to(DEVICE).to(dtype).eval()
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.zeros(16_000 * 2)), 80).to(DEVICE, dtype)
    with torch.inference_mode():
        audio = model.embed_audio(mel[None])
        logits = model.logits(torch.tensor([[50257, 50362]], device=DEVICE), audio)
    row("Whisper encoder + decoder (random tiny.en weights, real shapes)", f"{DEVICE} {dtype}".replace("torch.", ""),
        f"logits {tuple(logits.shape)}, finite: {bool(torch.isfinite(logits.float()).all())}",
        bool(torch.isfinite(logits.float()).all()))


@guarded("language model (random SmolLM2-135M weights, real shapes)")
def check_language_model() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from services.backends.generation import generation_dtype

    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
                         tie_word_embeddings=True)
    dtype = generation_dtype(DEVICE)
    model = LlamaForCausalLM(config).to(DEVICE, dtype).eval()
    prompt = torch.randint(0, 49152, (1, 64), device=DEVICE)
    with torch.inference_mode():
        model.generate(prompt, max_new_tokens=4, do_sample=False)
        started = time.perf_counter()
        out = model.generate(prompt, max_new_tokens=32, min_new_tokens=32, do_sample=False)
    seconds = time.perf_counter() - started
    row("language model (random SmolLM2-135M weights, real shapes), 32 greedy tokens",
        f"{DEVICE} {dtype}".replace("torch.", ""), f"{(out.shape[1] - 64) / seconds:.0f} tokens/s", out.shape[1] == 96)


@guarded("NanoDet (real ONNX weights)")
def check_nanodet() -> None:
    model = manager(DEVICE).get("nanodet-g")
    found = model.predict(images()[-1:], threshold=0.35)[0]
    note = getattr(model, "device_note", "") or "as asked"
    row("NanoDet-g (real ONNX weights), the street sample", model.device,
        f"{len(found)} boxes, bus found: {any(d.label == 'bus' for d in found)}; device: {note}",
        any(d.label == "bus" for d in found))


class Blob:
    """A fake model holding real device memory, for the eviction check."""

    def __init__(self, spec: ModelSpec, device: str) -> None:
        self.device = device
        self.tensor = torch.empty(int(spec.size_mb * MB), dtype=torch.uint8, device=device)

    def memory_bytes(self) -> int:
        return self.tensor.numel()

    def close(self) -> None:
        del self.tensor


def blob_catalog(*sizes: float) -> Catalog:
    return Catalog([ModelSpec(id=f"blob{i}", task="image-classification", name=f"blob {i}", backend="blob",
                              source="local", licence="MIT", size_mb=size, default=i == 0)
                    for i, size in enumerate(sizes)])


@guarded("eviction under MODEL_MEMORY_BUDGET_MB frees GPU memory")
def check_eviction() -> None:
    if not CUDA:
        skipped("eviction under MODEL_MEMORY_BUDGET_MB frees GPU memory")
        return
    mgr = ModelManager(blob_catalog(512, 512), device="cuda", budget_mb=768, loaders={"blob": Blob},
                       check=lambda spec: Availability(True, "test"))
    start = cuda_mb()
    mgr.get("blob0")
    one = cuda_mb()
    mgr.get("blob1")  # over the budget: blob0 is evicted
    after = cuda_mb()
    ok = mgr.loaded_ids() == ["blob1"] and after - start < 600
    row("eviction under a 768 MB budget (two 512 MB models)", "cuda",
        f"allocated {start:.0f} -> {one:.0f} MB with one, {after:.0f} MB after loading the second "
        f"(loaded: {mgr.loaded_ids()})", ok)


@guarded("single-flight loads")
def check_single_flight() -> None:
    mgr = manager(DEVICE)
    barrier = threading.Barrier(8)

    def get():
        barrier.wait()
        mgr.get("efficientnet-lite0")

    threads = [threading.Thread(target=get) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    loads = mgr.stats("efficientnet-lite0").loads
    row("single-flight: 8 threads ask for EfficientNet-Lite0 at once", DEVICE, f"{loads} load(s)", loads == 1)


@guarded("out of memory while loading: evict, retry once")
def check_oom_retry() -> None:
    attempts = []

    def loader(spec: ModelSpec, device: str):
        attempts.append(spec.id)
        if spec.id == "blob1" and len(mgr.loaded_ids()) > 0:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 64 MiB")
        return Blob(spec, device)

    mgr = ModelManager(blob_catalog(64, 64), device=DEVICE, loaders={"blob": loader},
                       check=lambda spec: Availability(True, "test"))
    mgr.get("blob0")
    mgr.get("blob1")
    ok = mgr.loaded_ids() == ["blob1"] and attempts == ["blob0", "blob1", "blob1"]
    row("out of memory while loading (raised by the loader): idle models evicted, retried once", DEVICE,
        f"attempts {attempts}, loaded {mgr.loaded_ids()}", ok)


def table() -> str:
    lines = [f"GPU check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             "| check | device, precision | result | ok |", "|---|---|---|---|"]
    for r in ROWS:
        mark = "yes" if r.ok else "skipped" if r.ok is None else "**no**"
        lines.append(f"| {r.check} | {r.device} | {r.result} | {mark} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    check_environment()
    for check in (check_lite0_agreement, check_sentiment, check_whisper, check_language_model, check_nanodet,
                  check_eviction, check_single_flight, check_oom_retry):
        check()
    text = table()
    print("\n" + text)
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "artifacts"
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.md").write_text(text)
    return 0 if all(r.ok is not False for r in ROWS) else 1


if __name__ == "__main__":
    sys.exit(main())
