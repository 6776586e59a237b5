"""Speech speed and accuracy: the service's Whisper against faster-whisper on the same
weights, and each speed-up measured with its word error rate (``run.py --tasks speech``).

Every engine gets the same decoded 16 kHz audio in the same process, one after the other,
on the bundled tiny.en: its CTranslate2 file for faster-whisper, the same file converted
for openai-whisper. Real-time factor = processing seconds / audio seconds.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable

import numpy as np
import psutil
import torch

from benchmarks.speech_set import recordings, word_error_rate
from services.catalog import Catalog, resolve_path
from services.inputs.audio import SAMPLE_RATE, decode_audio

Engine = Callable[[np.ndarray], str]
LONG_SECONDS = 600.0


def _tiny(int8_head: bool = True):
    """The bundled tiny.en as the service loads it, with or without the int8 output head."""
    from services.backends import transcription

    previous = os.environ.get("WHISPER_INT8_HEAD")
    os.environ["WHISPER_INT8_HEAD"] = "1" if int8_head else "0"
    try:
        return transcription.load_whisper(Catalog.load().get("whisper-tiny.en"), "cpu")
    finally:
        os.environ.pop("WHISPER_INT8_HEAD") if previous is None else os.environ.update(WHISPER_INT8_HEAD=previous)


def _service(int8_head: bool, batch: int) -> Engine:
    model = _tiny(int8_head)
    return lambda audio: model.transcribe(audio, language="en", batch=batch, budget_seconds=3600).text


class _DynamicInt8Linear(torch.nn.Module):
    """FBGEMM dynamic int8 (weights per channel, activations per call): what
    ``torch.ao.quantization.quantize_dynamic`` builds, without its deprecated front end."""

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127).clamp(min=1e-8)
        quantized = torch.quantize_per_channel(weight, scales, torch.zeros(len(scales), dtype=torch.long), 0,
                                               torch.qint8)
        bias = None if linear.bias is None else linear.bias.detach().float()
        self.packed = torch.ops.quantized.linear_prepack(quantized, bias)

    def forward(self, x):
        flat = torch.ops.quantized.linear_dynamic(x.reshape(-1, x.shape[-1]).float(), self.packed, True)
        return flat.reshape(*x.shape[:-1], -1)


def _dynamic_int8_everywhere(module: torch.nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, _DynamicInt8Linear(child))
        else:
            _dynamic_int8_everywhere(child)


def _service_dynamic_int8() -> Engine:
    """The service default with every Linear of encoder and decoder in dynamic int8 as well."""
    model = _tiny()
    _dynamic_int8_everywhere(model.model)
    return lambda audio: model.transcribe(audio, language="en", budget_seconds=3600).text


def _openai_whisper_defaults() -> Engine:
    import whisper

    model = _tiny(int8_head=False).model
    return lambda audio: whisper.transcribe(model, audio, language="en", fp16=False)["text"]


def _faster_whisper(beam_size: int) -> Engine:
    from faster_whisper import WhisperModel

    folder = resolve_path(Catalog.load().get("whisper-tiny.en")).parent  # the CTranslate2 model the package ships
    model = WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=torch.get_num_threads())

    def run(audio: np.ndarray) -> str:
        segments, _ = model.transcribe(audio, language="en", beam_size=beam_size)
        return " ".join(s.text.strip() for s in segments)

    return run


ENGINES: dict[str, Callable[[], Engine]] = {
    "**baseline: faster-whisper 1.2.1, int8, beam 5** (its defaults)": lambda: _faster_whisper(5),
    "faster-whisper 1.2.1, int8, greedy": lambda: _faster_whisper(1),
    "openai-whisper `transcribe()` defaults, float32 (before this work)": _openai_whisper_defaults,
    "service: pieces at pauses, float32, one at a time": lambda: _service(False, 1),
    "service: + int8 output head, one at a time": lambda: _service(True, 1),
    "**service default: + int8 head, 8 pieces batched**": lambda: _service(True, 8),
    "default + dynamic int8 on every Linear (FBGEMM; not kept)": _service_dynamic_int8,
}


def _timed(engine: Engine, audio: np.ndarray, repeat: int = 1) -> tuple[float, str]:
    best, text = float("inf"), ""
    for _ in range(repeat):
        started = time.perf_counter()
        text = engine(audio)
        best = min(best, time.perf_counter() - started)
    return best, text


def _long_file(items) -> tuple[np.ndarray, str, float]:
    """The real-speech set end to end with 2 s pauses, repeated past ten minutes."""
    gap = np.zeros(2 * SAMPLE_RATE, np.float32)
    audio, references = [], []
    while sum(a.size for a in audio) < LONG_SECONDS * SAMPLE_RATE:
        for item in items:
            audio += [decode_audio(item.audio), gap]
            references.append(item.reference)
    joined = np.concatenate(audio)
    return joined, " ".join(references), joined.size / SAMPLE_RATE


def bench_speech_speed() -> str:
    items = recordings()
    decoded = [decode_audio(item.audio) for item in items]
    jfk = decoded[-1]
    long_audio, long_reference, long_seconds = _long_file(items)
    set_seconds = sum(a.size for a in decoded) / SAMPLE_RATE
    rows = [f"### Speech speed: bundled tiny.en, {torch.get_num_threads()} threads, one process", "",
            f"Real speech: `jfk.mp3` (11.0 s) and the set (three LibriVox sonnets and jfk, {set_seconds:.0f} s), "
            f"and those with 2 s pauses repeated to {long_seconds / 60:.1f} minutes. WER after Whisper's "
            "English normaliser.", "",
            "| engine | RTF jfk | RTF set | WER set | RTF long file | WER long file | RTF jfk / baseline | "
            "RTF long / baseline |", "|---|---|---|---|---|---|---|---|"]
    baseline: tuple[float, float] | None = None
    for name, make in ENGINES.items():
        engine = make()
        engine(jfk)  # warm
        jfk_s, _ = _timed(engine, jfk, repeat=3)
        set_s, texts = 0.0, []
        for audio in decoded:
            seconds, text = _timed(engine, audio)
            set_s += seconds
            texts.append(text)
        long_s, long_text = _timed(engine, long_audio)
        rtf_jfk, rtf_long = jfk_s / 11.0, long_s / long_seconds
        baseline = baseline or (rtf_jfk, rtf_long)
        rows.append(f"| {name} | {rtf_jfk:.3f} | {set_s / set_seconds:.3f} | "
                    f"{100 * word_error_rate([i.reference for i in items], texts):.1f}% | {rtf_long:.3f} | "
                    f"{100 * word_error_rate([long_reference], [long_text]):.1f}% | {rtf_jfk / baseline[0]:.2f}x | "
                    f"{rtf_long / baseline[1]:.2f}x |")
        print(rows[-1], file=sys.stderr, flush=True)  # a long run shows its rows as they come
        del engine
    rows += ["", _interleaved_jfk(jfk), "", _bfloat16_row(jfk), "", _long_memory(items)]
    return "\n".join(rows) + "\n"


def _interleaved_jfk(jfk: np.ndarray, rounds: int = 15) -> str:
    """jfk alone is one window, and the two engines are close on it: alternate them, so that the
    machine's drift hits both, and compare medians."""
    import statistics

    baseline, service = _faster_whisper(5), _service(True, 8)
    times: dict[str, list[float]] = {"baseline": [], "service": []}
    for _ in range(rounds):
        for name, engine in (("baseline", baseline), ("service", service)):
            times[name].append(_timed(engine, jfk)[0])
    base, ours = statistics.median(times["baseline"]), statistics.median(times["service"])
    return (f"jfk interleaved, median of {rounds} each: faster-whisper int8 beam 5 RTF {base / 11:.3f}, service "
            f"default {ours / 11:.3f}, ratio **{ours / base:.2f}x**.")


def _bfloat16_row(jfk: np.ndarray) -> str:
    """bfloat16 only pays where the CPU has it natively (AVX-512 BF16 or AMX); timed here either way."""
    import whisper

    model = _tiny(int8_head=False).model
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(jfk)).unsqueeze(0)
    with torch.inference_mode():
        fp32, _ = _timed(lambda _: model.encoder(mel), jfk, repeat=3)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # whisper's LayerNorm keeps float32 parameters
            bf16, _ = _timed(lambda _: model.encoder(mel), jfk, repeat=2)
    capability = torch.backends.cpu.get_cpu_capability()
    return (f"bfloat16 (CPU capability `{capability}`): the encoder on one 30 s window takes {bf16:.2f} s against "
            f"{fp32:.2f} s in float32 ({bf16 / fp32:.1f}x); not used on this CPU.")


def _long_memory(items) -> str:
    """5- and 30-minute files: the peak resident memory a transcription adds over the decoded samples
    (which the caller already holds) should not depend on the length."""
    model = _tiny()
    speech = [decode_audio(item.audio) for item in items]
    model.transcribe(speech[-1], language="en")  # first-run allocations are not the file's
    gap = np.zeros(2 * SAMPLE_RATE, np.float32)
    found = []
    for minutes in (5, 30):
        parts = []
        while sum(p.size for p in parts) < minutes * 60 * SAMPLE_RATE:
            for audio in speech:
                parts += [audio, gap]
        audio = np.concatenate(parts)[: minutes * 60 * SAMPLE_RATE]
        del parts
        added, seconds, result = _peak_while(lambda: model.transcribe(
            audio, language="en", budget_seconds=3600, progress=lambda d, t, s: None))
        found.append(f"{minutes} min: {seconds:.0f} s (RTF {seconds / (minutes * 60):.3f}), {len(result.segments)} "
                     f"segments, peak {added / 2**20:.0f} MB above the start (samples: {audio.nbytes / 2**20:.0f} MB)")
    return "Long files (the set repeated): " + "; ".join(found) + "."


def _peak_while(work):
    process = psutil.Process()
    before = process.memory_info().rss
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], process.memory_info().rss)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    done.set()
    watcher.join()
    return peak[0] - before, seconds, result
