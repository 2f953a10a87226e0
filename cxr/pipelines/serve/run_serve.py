"""`cxr serve RUN`: a local web page over a finished classify run.

Loads the run's ``best.ckpt`` and model card once (:mod:`.served_model`), builds the app
(:mod:`.serve_app`) and runs it under uvicorn on ``host:port`` (127.0.0.1 by default: the page
has no login, so showing it to a network is an explicit ``--host 0.0.0.0``). ``--port 0``
binds a free port; the URL is printed either way, on a line of its own, before the first
request is accepted.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cxr.runtime.errors import ConfigError

if TYPE_CHECKING:
    from cxr.config import ServeConfig


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (0: a free port), or a one-line error."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be between 0 and 65535, got {port}")
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(64)
    return sock


def run_serve(run: str | Path, cfg: ServeConfig) -> None:
    """Serve ``run`` until interrupted (see the module docstring)."""
    try:
        import uvicorn
    except ImportError:
        raise ConfigError("cxr serve needs FastAPI and uvicorn: pip install 'cxr[serve]'") from None
    from cxr.pipelines.serve.serve_app import build_app
    from cxr.pipelines.serve.served_model import ServedModel

    if not cfg.max_upload_mb > 0:
        raise ConfigError(f"--max-upload-mb must be > 0, got {cfg.max_upload_mb}")
    served = ServedModel(run, device=cfg.device, method=cfg.method, max_pixels=cfg.max_pixels)
    app = build_app(served, max_bytes=int(cfg.max_upload_mb * 1e6))
    sock = bind(cfg.host, cfg.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"cxr serve: {served.info.backbone} ({served.info.task}) from {served.folder.root}",
          file=sys.stderr, flush=True)
    print(f"serving on http://{shown}:{port}/ (Ctrl+C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
