"""Check the CTranslate2 -> openai-whisper conversion against faster-whisper itself.

Run in an environment that has faster-whisper (not a project dependency):

    python3 -m venv /tmp/fw && /tmp/fw/bin/pip install faster-whisper openai-whisper==20250625 torch==2.14.1 av
    /tmp/fw/bin/python tools/verify_whisper.py AUDIO [--model whisper-tiny.en]

It feeds the same log-mel features to both encoders and reports the largest
difference, then transcribes with beam search (beam 5, temperature 0, no
previous-text conditioning) in both and compares the words.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import ctranslate2
    import torch
    import whisper
    from faster_whisper import WhisperModel as FasterWhisper

    from services.backends.transcription import converted_checkpoint
    from services.catalog import Catalog, resolve_path
    from services.inputs import decode_audio

    parser = argparse.ArgumentParser()
    parser.add_argument("audio", type=Path)
    parser.add_argument("--model", default="whisper-tiny.en")
    args = parser.parse_args()

    spec = Catalog.load().get(args.model)
    parts = [resolve_path(spec)]
    if spec.option("extra_path"):
        parts.append(resolve_path(spec, "extra_path", "extra_package"))
    ours = whisper.load_model(str(converted_checkpoint(parts, spec.option("whisper_name"))), device="cpu")
    ct2_dir = parts[0].parent
    if len(parts) > 1:  # faster-whisper needs one model.bin: assemble it in a temp folder
        import shutil
        import tempfile

        ct2_dir = Path(tempfile.mkdtemp())
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy(parts[0].parent / name, ct2_dir / name)
        with open(ct2_dir / "model.bin", "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
    reference = FasterWhisper(str(ct2_dir), device="cpu", compute_type="float32")

    audio = decode_audio(args.audio)
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), ours.dims.n_mels)
    with torch.no_grad():
        ours_out = ours.encoder(mel[None]).numpy()
    ref_out = np.array(reference.model.encode(ctranslate2.StorageView.from_array(mel[None].numpy()), to_cpu=True))
    diff = np.abs(ours_out - ref_out)
    print(f"encoder output {ours_out.shape}: max |diff| {diff.max():.2e}, mean |diff| {diff.mean():.2e}, "
          f"max |value| {np.abs(ref_out).max():.1f}")

    options = dict(beam_size=5, temperature=0.0, condition_on_previous_text=False)
    language = None if ours.is_multilingual else "en"
    ours_text = whisper.transcribe(ours, audio, language=language, fp16=False, **options)["text"].strip()
    segments, _ = reference.transcribe(audio, language=language, without_timestamps=False, vad_filter=False, **options)
    ref_text = " ".join(s.text.strip() for s in segments).strip()
    print(f"openai-whisper (converted): {ours_text}")
    print(f"faster-whisper (original):  {ref_text}")
    norm = lambda s: "".join(c.lower() for c in s if c.isalnum() or c.isspace()).split()  # noqa: E731
    print("identical words" if norm(ours_text) == norm(ref_text) else "TRANSCRIPTS DIFFER")


if __name__ == "__main__":
    main()
