"""Graceful shutdown: drain the accepted requests before uvicorn stops.

uvicorn, on SIGTERM, closes its listening socket at once and waits for the connections it has;
a load balancer probing ``/readyz`` would only see refused connections, and a SIGTERM that
uvicorn re-raises once it is done makes the process exit with -15 rather than 0. Here the
signal first turns readiness to 503 and refuses new ``/v1/*`` work, with the socket still
open; once every accepted request has been answered (or ``grace`` seconds have passed)
uvicorn's own shutdown follows, and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType

import uvicorn

from service.core.service import Service

# uvicorn's logger: these lines belong with its own shutdown messages, in its format.
log = logging.getLogger("uvicorn.error")


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first SIGTERM or SIGINT drains ``service`` before stopping;
    a second SIGINT (Ctrl+C again) stops at once."""

    def __init__(self, config: uvicorn.Config, service: Service, grace: float) -> None:
        super().__init__(config)
        self.service = service
        self.grace = grace
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drain: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not recorded for uvicorn to re-raise: a drained shutdown is a clean exit.
        drain = self._loop is not None and self.started and not self.service.draining
        # From here /readyz and new /v1/* requests answer 503, and no child process is replaced.
        self.service.begin_shutdown()
        if not drain:
            self.force_exit = self.should_exit and sig == signal.SIGINT
            self.should_exit = True
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        self._drain = asyncio.create_task(self._drain_then_stop(), name="ner-drain")

    async def _drain_then_stop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace
        log.info("draining %d requests (grace %.0f s)", self.service.active, self.grace)
        while self.service.active and loop.time() < deadline:
            await asyncio.sleep(0.02)
        if self.service.active:
            log.warning("%d requests still running after the grace period", self.service.active)
        self.should_exit = True
