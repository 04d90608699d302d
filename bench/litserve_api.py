"""The tagger as a LitServe ``LitAPI`` (for bench/peer_servers.py).

A module of its own because LitServe starts its inference worker with ``spawn`` and has to
pickle the API by its importable class name, and because it imports LitServe (the ``bench``
extra) at the top.
"""

from typing import Any

import litserve as ls
import torch
from fastapi import Response

from model.tagger import Tagger
from service.core.backend import describe
from service.http.schemas.tag import encode_tags as to_json


class TagAPI(ls.LitAPI):
    """One request per ``predict``: the texts of ``{"text": ...}`` or ``{"texts": [...]}``."""

    def __init__(self, threads: int, **kwargs: Any) -> None:
        super().__init__(api_path="/v1/tag", **kwargs)
        self.threads = threads

    def setup(self, device: str) -> None:
        torch.set_num_threads(self.threads)
        self.tagger = Tagger.load()
        self.info = describe(self.tagger)

    def decode_request(self, request: dict[str, Any]) -> list[str]:
        text = request.get("text")
        return [text] if isinstance(text, str) else list(request.get("texts") or [])

    def predict(self, texts: list[str]) -> bytes:
        return self.predict_many([texts])[0]

    def predict_many(self, requests: list[list[str]]) -> list[bytes]:
        """Every text of every request in one ``tag`` call, then one body per request."""
        with torch.inference_mode():
            results = self.tagger.tag([text for texts in requests for text in texts])
        out, k = [], 0
        for texts in requests:
            out.append(to_json(self.info, results[k : k + len(texts)]))
            k += len(texts)
        return out

    def encode_response(self, body: bytes) -> Response:
        return Response(body, media_type="application/json")


class BatchedTagAPI(TagAPI):
    """LitServe's batching on: ``predict`` gets the decoded requests of a batch."""

    def predict(self, requests: list[list[str]]) -> list[bytes]:  # type: ignore[override]
        return self.predict_many(requests)
