"""The web app of `cxr serve`: one page, one upload endpoint, the model card as JSON.

FastAPI with a small hand-written page rather than gradio: FastAPI and uvicorn are small,
already among cxr's (optional) dependencies, and leave every safety choice to us, where
gradio brings ~60 packages, writes every upload to a temporary folder on disk (this page
keeps none), and shows its own UI around ours. The page posts the file's raw bytes
(``fetch``, no multipart parser): the byte limit is enforced while the body streams in,
before it is decoded; the pixel limit is checked from the image header.

Routes: ``GET /`` the page (model card warnings first, then the upload, then the result and
the metrics with CIs); ``POST /api/analyse`` one image -> JSON (probabilities, decision,
overlays) or ``{"error": "<one line>"}`` with status 400/413; ``GET /api/card`` the model
card; ``GET /healthz``. Inference runs in a worker thread under the model's lock, so the
server keeps answering while a map is computed and concurrent uploads are queued.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

# at the top, not inside build_app: FastAPI reads the handlers' annotations by name
# (this module is imported only by `cxr serve`, after it checked that FastAPI is installed)
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from cxr.runtime.errors import CxrError

if TYPE_CHECKING:
    from cxr.pipelines.serve.served_model import ServedModel


def _one_line(text: str, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def render_page(served: ServedModel, max_bytes: int) -> str:
    import jinja2
    from markupsafe import Markup

    from cxr import __version__
    from cxr.pipelines.classify.model_card import card_html

    pkg = resources.files("cxr.pipelines.serve")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string((pkg / "serve_page.html").read_text(encoding="utf-8"))
    card = served.card["cxr"]
    return template.render(
        run=str(served.folder.root), model=f"{served.info.backbone} ({served.info.task})",
        rule=served.decision_rule(), warnings=card["warnings"],
        card=Markup(card_html(served.card, warnings=False)), card_source=served.card_source,
        max_mb=f"{max_bytes / 1e6:g}", max_pixels=f"{served.max_pixels / 1e6:g}",
        method=served.method, version=__version__,
    )


def build_app(served: ServedModel, *, max_bytes: int) -> FastAPI:
    """The app over ``served``; uploads above ``max_bytes`` are refused unread."""
    import anyio

    app = FastAPI(title="cxr serve", docs_url=None, redoc_url=None, openapi_url=None)
    page = render_page(served, max_bytes)

    def error(status: int, text: str) -> JSONResponse:
        return JSONResponse({"ok": False, "error": _one_line(text)}, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "run": str(served.folder.root)}

    @app.get("/api/card")
    def card() -> dict[str, Any]:
        return served.card

    @app.post("/api/analyse")
    async def analyse(request: Request) -> JSONResponse:
        name = _one_line(request.headers.get("x-filename") or "upload", 120)
        limit = f"{max_bytes / 1e6:g} MB upload limit"
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            return error(413, f"{name}: {int(declared) / 1e6:.1f} MB is over the {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                return error(413, f"{name}: over the {limit}")
            chunks.append(chunk)
        data = b"".join(chunks)
        try:
            # a worker thread: the event loop keeps answering while the map is computed;
            # the model's lock queues concurrent uploads
            result = await anyio.to_thread.run_sync(served.analyse, data, name)
        except CxrError as exc:
            return error(400, str(exc))
        except Exception as exc:  # noqa: BLE001 - any decoder failure is one line, not a crash
            return error(400, f"{name}: could not be analysed ({type(exc).__name__}: {exc})")
        return JSONResponse(result)

    return app
