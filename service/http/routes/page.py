"""``GET /``: the page that shows what backward context changes (static HTML and JavaScript
from ``service/static``, no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[2] / "static"

router = APIRouter(tags=["page"])


@router.get("/", response_class=FileResponse, include_in_schema=False)
async def page() -> FileResponse:
    """The page: type text, see the BiGRU's entities and the forward-only tagger's."""
    return FileResponse(STATIC / "index.html", media_type="text/html")


def mount_static(app: FastAPI) -> None:
    """Serve the page's script and style sheet under ``/static``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
