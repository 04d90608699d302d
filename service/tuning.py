"""The measured knobs of the service: :class:`Tuning`, read from ``NER_*`` variables like the
settings users set (:mod:`service.settings`). Each default, and the figure behind it, is in
BENCHMARKS.md ("Where the defaults come from") and the README's tuning table.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "NER_"


class Tuning(BaseSettings):
    """The measured knobs: each default and the figure behind it are in BENCHMARKS.md."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    max_batch_size: int = Field(128, ge=1)
    """Most sentences in one batch; 1 turns dynamic batching off."""

    max_batch_tokens: int = Field(16384, ge=1)
    """Token budget of one batch, padding included (sentences x longest sentence)."""

    max_wait_ms: float = Field(0.0, ge=0, le=10_000)
    """How long a batch waits for more sentences after its first one arrived."""

    call_cost_tokens: int | None = Field(None, ge=0)
    """One model call's cost in padded tokens: a batch sorted by length is cut into calls
    where the padding saved outweighs an extra call. Unset: 1000 on the CPU, never on CUDA."""

    model_worker_min_tokens: int = Field(400, ge=0)
    """While one batch computes, another goes to a free model process only once this many
    tokens wait (small batches cost more per sentence); 0 sends every batch at once."""

    model_in_server_tokens: int | None = Field(None, ge=0)
    """Largest batch, in tokens, that a copy of the model in the server tags on its event loop
    while its request is the only one in progress and no other batch is out (about 115 MB
    more memory); 0: none. Unset: 64 on the CPU with model processes, else 0."""

    model_nice: int | None = Field(None, ge=0, le=19)
    """Added to the model processes' niceness, so that the event loop comes first when the
    CPUs are short. Unset: 5 with model processes, else 0."""

    torch_threads: int = Field(1, ge=1)
    """CPU threads of each copy of the model (``torch.set_num_threads``)."""

    deciding_max_sentence_tokens: int = Field(100, ge=1)
    """Longest sentence of a ``/v1/compare`` request with ``deciding_words`` (413 beyond)."""

    deciding_max_tokens: int = Field(16384, ge=1)
    """Padded prefix tokens of one request's deciding words, one model call (413 beyond)."""

    max_client_inflight: int | None = Field(None, ge=1)
    """Tag requests one client address may have in progress (429 beyond); unset: no limit."""
