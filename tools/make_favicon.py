"""Draw ``assets/favicon.png`` (a small network of nodes), the page icon.

A file in the repo, not ``:material/...:``: Streamlit turns a Material icon used as
the page icon into an SVG fetched from a font CDN, which fails offline."""

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 128
NODES = [(28, 34), (28, 94), (64, 20), (64, 64), (64, 108), (100, 44), (100, 84)]
EDGES = [(0, 2), (0, 3), (1, 3), (1, 4), (2, 5), (3, 5), (3, 6), (4, 6), (0, 4), (2, 6)]


def main() -> None:
    image = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((2, 2, SIZE - 3, SIZE - 3), radius=26, fill=(255, 75, 75, 255))  # Streamlit red
    for a, b in EDGES:
        draw.line((NODES[a], NODES[b]), fill=(255, 255, 255, 200), width=5)
    for x, y in NODES:
        draw.ellipse((x - 10, y - 10, x + 10, y + 10), fill=(255, 255, 255, 255))
    out = Path(__file__).resolve().parent.parent / "assets" / "favicon.png"
    image.save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
