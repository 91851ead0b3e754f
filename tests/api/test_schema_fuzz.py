"""The API against its own OpenAPI schema (schemathesis): generated requests to every operation, valid and
invalid, signed in as two roles. No answer is a 5xx, every answer matches the schema, and data that breaks the
schema is refused with a 4xx. Bounded: a few examples per operation and mode, derandomized."""

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from grids import tokens
from tests.cases.test_views import dispatched, report

pytestmark = pytest.mark.postgres
EXAMPLES = 8


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_CLASSES": [],  # the fuzzer sends far more than a person would
    }


def test_every_operation_conforms_to_the_schema(cast, category):
    report(cast, category)
    dispatched(cast, category, departments=("cgzf",))
    secrets = [tokens.token_create(actor=u, user=u, name="fuzz").secret for u in (cast.dispatcher, cast.cg)]
    schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 25
    for operation in operations:
        if operation.path == "/api/v1/auth/token/":
            continue  # failed sign-ins lock the address out (tested in test_tokens.py)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, secrets, checks, failures)()
            except BaseException as exc:  # noqa: BLE001 - hypothesis raises a group: collected and reported together
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:800]}")
    assert not failures, "\n\n".join(failures[:20])


def _fuzz(operation, mode, secrets, checks, failures):
    extra = [negative_data_rejection] if mode == GenerationMode.NEGATIVE else []

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        for secret in secrets:
            # A negative case may carry a broken Authorization of its own: then it must get a 401.
            own = case.headers and any(k.lower() == "authorization" for k in case.headers)
            response = case.call(headers={} if own else {"Authorization": f"Bearer {secret}"})
            try:
                case.validate_response(response, checks=checks + extra)
            except Exception as exc:  # noqa: BLE001 - collected and reported together
                failures.append(f"{operation.label} [{mode.value}]: {str(exc)[:600]}")
                return

    return run


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI handler closes old connections after each request, as a server does; inside a test that would
    close the test's own transaction (Django's test client disconnects it the same way)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
