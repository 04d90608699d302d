"""Fuzz the running service from its own OpenAPI schema (schemathesis): whatever it is sent,
no server error, and every answer conforms to the schema (status, content type, body)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case

from model.tagger import Tagger
from service.http.app import create_app
from tests.service.support import settings, uvicorn_thread

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def api_schema(
    tiny_tagger: Tagger, tiny_forward_tagger: Tagger
) -> Iterator[schemathesis.BaseSchema]:
    """The schema of a real uvicorn server with the tiny models (comparing, deciding words
    included), loaded from the server."""
    app = create_app(settings(max_texts=8, max_text_chars=2_000), tiny_tagger, tiny_forward_tagger)
    with uvicorn_thread(app) as url:
        yield schemathesis.openapi.from_url(url + "/openapi.json")


# Valid requests by the schema, then requests that break it (wrong types, missing fields...).
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_server_errors_and_answers_match_the_schema(
    api_schema: schemathesis.BaseSchema, mode: GenerationMode
) -> None:
    # schemathesis' own pytest plugin does not run under pytest 9 yet: drive it by hand.
    @given(case=api_schema.as_strategy(generation_mode=mode))
    @hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case: Case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    call()
