"""Where the API listens (``API_HOST``, ``API_PORT``, ``API_KEY``), serving it, and finding it.

``python -m services.web`` (``make api``) serves it with uvicorn in this process;
``probe_api`` lets the System page say whether it runs and where."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ApiSettings:
    host: str = "127.0.0.1"  # loopback unless asked: models and uploads are not for the whole network
    port: int = 8000
    key: str | None = None  # API_KEY: when set, every request needs "Authorization: Bearer <key>"

    @classmethod
    def from_env(cls) -> "ApiSettings":
        return cls(host=os.environ.get("API_HOST", "").strip() or cls.host,
                   port=int(os.environ.get("API_PORT", "").strip() or cls.port),
                   key=os.environ.get("API_KEY") or None)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


@dataclass(frozen=True)
class ApiProbe:
    url: str
    running: bool
    detail: str


def probe_api(settings: ApiSettings | None = None, timeout: float = 0.5) -> ApiProbe:
    """``GET /health`` on the configured address (with the key, when one is set)."""
    import httpx

    settings = settings or ApiSettings.from_env()
    headers = {"Authorization": f"Bearer {settings.key}"} if settings.key else {}
    try:
        reply = httpx.get(f"{settings.url}/health", headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return ApiProbe(settings.url, False, type(exc).__name__)
    if reply.status_code == 200 and reply.json().get("status") == "ok":
        return ApiProbe(settings.url, True, "healthy")
    return ApiProbe(settings.url, False, f"answered {reply.status_code}")


def main(argv: list[str] | None = None) -> None:
    import logging

    import uvicorn

    from .app import create_app

    env = ApiSettings.from_env()
    parser = argparse.ArgumentParser(prog="python -m services.web", description="Serve the HTTP API.")
    parser.add_argument("--host", default=env.host)
    parser.add_argument("--port", type=int, default=env.port)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app = create_app(api_key=env.key)
    print(f"API on http://{args.host}:{args.port} (docs at /docs)" + (", bearer key required" if env.key else ""),
          flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=5)
