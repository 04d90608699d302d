"""The same model behind other servers, for bench/peers.py to compare the service against.

* ``litserve``: LitServe hosting :class:`model.tagger.Tagger`, with its own dynamic batching
  (``--max-batch-size``, ``--batch-timeout``) and its inference worker in a process of its own,
  as in the service.
* ``fastapi``: a plain FastAPI endpoint that calls ``tagger.tag`` once per request (a sync
  ``def``, so FastAPI runs it in its thread pool), without batching across requests.

Both answer ``POST /v1/tag`` with ``{"text": ...}`` or ``{"texts": [...]}`` in the service's
own response shape, serialised by the same function
(:func:`service.http.schemas.tag.encode_tags`), so that what differs is the serving, not the
JSON. ``GET /health`` answers once the model is loaded. Torch gets ``--threads`` intra-op
threads, one by default as in the service.

    python -m bench.peer_servers litserve --port 8001 --max-batch-size 32 --batch-timeout 0.005
    python -m bench.peer_servers fastapi --port 8002
"""

from __future__ import annotations

import argparse

import torch
from fastapi import FastAPI, Response
from pydantic import BaseModel

from model.tagger import Tagger
from service.core.backend import describe
from service.http.schemas.tag import encode_tags as to_json


class Texts(BaseModel):
    """The service's raw-text request forms."""

    text: str | None = None
    texts: list[str] | None = None

    def all(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


def plain_fastapi(threads: int) -> FastAPI:
    """One forward pass per request, in FastAPI's thread pool."""
    torch.set_num_threads(threads)
    tagger = Tagger.load()
    info = describe(tagger)
    app = FastAPI()

    @app.post("/v1/tag")
    def tag(request: Texts) -> Response:
        with torch.inference_mode():
            results = tagger.tag(request.all())
        return Response(to_json(info, results), media_type="application/json")

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def run_litserve(port: int, threads: int, max_batch_size: int, batch_timeout: float) -> None:
    """LitServe with one API server process and one inference worker, batching requests."""
    import litserve as ls  # the bench extra

    from bench.litserve_api import BatchedTagAPI, TagAPI

    api = (
        BatchedTagAPI(threads, max_batch_size=max_batch_size, batch_timeout=batch_timeout)
        if max_batch_size > 1
        else TagAPI(threads)
    )
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, fast_queue=True)
    server.run(
        host="127.0.0.1",
        port=port,
        num_api_servers=1,
        log_level="warning",
        generate_client_file=False,
        access_log=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("server", choices=["litserve", "fastapi"])
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--max-batch-size", type=int, default=32, help="LitServe only")
    parser.add_argument("--batch-timeout", type=float, default=0.005, help="LitServe, seconds")
    args = parser.parse_args()
    if args.server == "litserve":
        run_litserve(args.port, args.threads, args.max_batch_size, args.batch_timeout)
        return
    import uvicorn

    uvicorn.run(
        plain_fastapi(args.threads),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
