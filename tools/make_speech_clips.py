"""Make the synthetic speech clips in tests/data with espeak-ng (Debian package espeak-ng):
non-English speech for translation tests, and English read by the Polish voice, which
Whisper base takes for Latin on auto-detect (the misdetection test). Run once; the MP3s
are committed.

    python tools/make_speech_clips.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import av

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
CLIPS = {
    "speech_de.mp3": ("de", "Guten Morgen. Ich heiße Anna und ich wohne in Berlin. Heute ist das Wetter schön, "
                            "und wir gehen in den Park."),
    "speech_fr.mp3": ("fr", "Bonjour, je m'appelle Pierre. J'habite à Paris, et le matin je bois un café avec "
                            "mes amis."),
    "speech_es.mp3": ("es", "Buenos días. Me llamo Carmen y vivo en Madrid. Mañana vamos a la playa con mi familia."),
    "accented_en.mp3": ("pl", "And so my fellow Americans, ask not what your country can do for you, ask what you "
                              "can do for your country."),
}


def to_mp3(wav: Path, target: Path) -> None:
    with av.open(str(wav)) as source, av.open(str(target), "w") as sink:
        stream = sink.add_stream("libmp3lame", rate=22050, layout="mono")
        stream.bit_rate = 48_000
        for frame in source.decode(audio=0):
            frame.pts = None
            for packet in stream.encode(frame):
                sink.mux(packet)
        for packet in stream.encode(None):
            sink.mux(packet)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        for name, (voice, text) in CLIPS.items():
            wav = Path(tmp) / "clip.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-s", "150" if name == "accented_en.mp3" else "140", "-w", str(wav), text],
                           check=True)
            to_mp3(wav, DATA / name)
            print(f"wrote {DATA / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
