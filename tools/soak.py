"""Soak test: many concurrent browser sessions against `streamlit run` on loopback.

    .venv/bin/python tools/soak.py [--sessions 16] [--seconds 120] [--port 8599]

Starts the dashboard, opens ``--sessions`` headless Chromium tabs that loop over
mixed pages (home, text analysis on its example text, detection on the sample
photo, system) until the time is up, and reports errors (page exceptions or
timeouts: must be 0), latency percentiles per page and the server's memory
(RSS) over time, which must level off.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# Headless Chromium on a machine with a closed network: no sandbox (root), no background traffic.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def start_dashboard(port: int) -> subprocess.Popen:
    """`streamlit run app.py` on loopback, offline, returned once it answers its health check."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "DASHBOARD_OFFLINE": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("streamlit did not start within 60 s")


async def visit(tab, base: str, slug: str) -> None:
    """Open one page and wait until its model output is on screen."""
    await tab.goto(f"{base}/{slug}")
    if slug == "text_analysis":
        await tab.get_by_text("confident").first.wait_for(timeout=120_000)
        await tab.locator("mark").first.wait_for(timeout=120_000)
    elif slug == "detection":
        await tab.get_by_text("Use the sample street photo").click(timeout=120_000)
        await tab.get_by_text("objects").first.wait_for(timeout=120_000)
    elif slug == "system":
        await tab.get_by_text("Load, unload, warm up").wait_for(timeout=120_000)
    else:
        await tab.get_by_text("Loaded models").first.wait_for(timeout=120_000)
    await tab.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    if await tab.locator("[data-testid='stException']").count():
        raise RuntimeError("exception shown on the page")


async def session(index: int, browser, base: str, until: float, latencies: dict, errors: list) -> None:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    tab = await context.new_page()
    pages = ["text_analysis", "detection", "", "system"]
    step = index
    while time.monotonic() < until:
        slug = pages[step % len(pages)]
        step += 1
        started = time.monotonic()
        try:
            await visit(tab, base, slug)
            latencies.setdefault(slug or "home", []).append(time.monotonic() - started)
        except Exception as exc:  # counted, reported, and the session goes on
            errors.append(f"session {index} {slug or 'home'}: {type(exc).__name__}: {str(exc)[:120]}")
    await context.close()


async def main_async(args) -> None:
    from playwright.async_api import async_playwright

    server = start_dashboard(args.port)
    base = f"http://127.0.0.1:{args.port}"
    try:
        process = psutil.Process(server.pid)
        memory: list[tuple[float, float]] = []
        latencies: dict[str, list[float]] = {}
        errors: list[str] = []
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            # warm the models once so the soak measures steady state, not first loads
            warm = await browser.new_page()
            for slug in ("text_analysis", "detection"):
                await visit(warm, base, slug)
            await warm.close()
            started = time.monotonic()
            until = started + args.seconds

            async def sample_memory():
                while time.monotonic() < until:
                    memory.append((time.monotonic() - started, process.memory_info().rss / 2**20))
                    await asyncio.sleep(5)

            await asyncio.gather(sample_memory(), *(session(i, browser, base, until, latencies, errors)
                                                    for i in range(args.sessions)))
            await browser.close()
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:  # a busy server may finish a request first: the soak's result stands
            server.kill()
            server.wait(10)
    total = sum(len(v) for v in latencies.values())
    print(f"# Soak: {args.sessions} sessions, {args.seconds} s, {total} page loads, {len(errors)} errors\n")
    print("| page | loads | p50 (s) | p95 (s) |\n|---|---|---|---|")
    for page, values in sorted(latencies.items()):
        ordered = sorted(values)
        print(f"| {page} | {len(values)} | {statistics.median(values):.2f} | {ordered[int(0.95 * (len(ordered) - 1))]:.2f} |")
    quarter = max(1, len(memory) // 4)
    first, last = memory[:quarter], memory[-quarter:]
    print(f"\nserver RSS: start {memory[0][1]:.0f} MB, first quarter mean {statistics.mean(m for _, m in first):.0f} MB, "
          f"last quarter mean {statistics.mean(m for _, m in last):.0f} MB, max {max(m for _, m in memory):.0f} MB")
    for line in errors[:10]:
        print("error:", line)
    sys.exit(1 if errors else 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--port", type=int, default=8599)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
