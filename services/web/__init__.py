"""The HTTP API: the task interface over FastAPI, beside the pages and the CLI.

``make api`` (``python -m services.web``) serves it with uvicorn on 127.0.0.1:8000;
with ``SERVICES_BACKEND=ray`` the same app is Ray Serve's ingress
(``python -m services.remote --http``). OpenAPI docs at ``/docs``.
"""
