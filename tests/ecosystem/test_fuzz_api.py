"""Schemathesis over the live ``/api/schema/``: the API answers as its schema says.

A live server on PostgreSQL (CI's second pass) with the demo ecosystem seeded, real OAuth
tokens of its three partners (every scope, from ``/o/token/``), and every operation of the
schema fuzzed with schema-valid (positive) and schema-invalid (negative) requests under all
of schemathesis's checks: no server error, status codes, content types, response headers and
bodies as documented, invalid data refused, authentication not ignored. Then the stateful
phase follows the links schemathesis derives between operations (the schema declares none;
ids in one answer feed the path of the next), as each partner.

Budget: ``FUZZ_EXAMPLES`` examples per operation and mode (default 8; the run stays well
under five minutes on CI's machine). ``FUZZ_SEED`` picks another random sequence; by default
the run is derandomized so a failure in CI reproduces locally. CONTRIBUTING says how to run
it and what to do when it fails.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ecosystem import ssrf

pytestmark = pytest.mark.services

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
SEED = os.environ.get("FUZZ_SEED")
STATEFUL_SCENARIOS = int(os.environ.get("FUZZ_STATEFUL_SCENARIOS", "5"))  # per partner
# Operations where a schema-valid request can still be refused with 400, and why: rules that
# JSON Schema cannot state. positive_data_acceptance is off for them alone; every other check
# (and the negative phase) still runs.
RULES_BEYOND_THE_SCHEMA = {
    "GET /api/v1/events": "until must be later than since (a rule across two parameters)",
    "POST /api/v1/partner-registrations": "slug_taken: the slug is another partner's (state)",
    "POST /api/v1/offers": "ends_at after starts_at, cap_total not below cap_per_customer, text "
    "left in the body once sanitised (rules across fields)",
    "PATCH /api/v1/offers/{offer_id}": "as POST /api/v1/offers, against the stored offer",
}
# A public address for any webhook host: the SSRF guard's DNS seam, mocked (no resolver here).
PUBLIC_ADDRESS = "93.184.215.14"


@dataclass
class Tally:
    operations: set[str] = field(default_factory=set)
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    unsatisfiable: list[str] = field(default_factory=list)
    stateful_steps: int = 0

    def report(self, seconds: float) -> str:
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(self.statuses.items()))
        return (
            f"fuzz: {len(self.operations)} operations, {self.examples} examples in "
            f"{seconds:.0f} s, {len(self.failures)} failures; statuses {statuses}; no "
            f"negative case possible for {len(self.unsatisfiable)}; stateful: "
            f"{self.stateful_steps} linked calls"
        )


def _hypothesis_settings(examples: int):
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the budget is for breadth
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture
def fuzz_world(postgresql, transactional_db, taxonomy, settings, monkeypatch, live_server):
    """The demo ecosystem behind a live server, and a real token for each of its partners."""
    settings.DEBUG = True  # seed_demo refuses otherwise
    settings.API_RATE_LIMIT_PER_MINUTE = 1_000_000  # breadth, not the throttle (documented)
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: [PUBLIC_ADDRESS])
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    tokens = []
    for partner in json.loads(out.getvalue())["partners"]:
        answer = requests.post(
            f"{live_server.url}/o/token/",
            data={"grant_type": "client_credentials"},
            auth=(partner["client_id"], partner["client_secret"]),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        tokens.append(answer.json()["access_token"])
    return live_server.url, tokens


def _fuzz(operation, mode, *, base_url, tokens, excluded, tally) -> None:
    """EXAMPLES requests to ``operation`` in ``mode``, each as one of the partners."""

    @_hypothesis_settings(EXAMPLES)
    @given(case=operation.as_strategy(generation_mode=mode), token=st.sampled_from(tokens))
    def fuzz(case, token):
        tally.examples += 1
        key = (case.headers or {}).get("Idempotency-Key")
        if mode is GenerationMode.POSITIVE and key is not None:
            # Generated keys repeat ("0", "00"), and a key reused with another body is 422 by
            # design (tests/ecosystem/test_idempotency.py). Keep each valid key, made unique.
            case.headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"
        response = case.call_and_validate(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            excluded_checks=excluded,
            timeout=60,
        )
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1

    if SEED is not None:
        fuzz = seed(int(SEED))(fuzz)
    fuzz()


def _stateful(schema, *, base_url, tokens, tally) -> None:
    """The stateful phase: sequences that follow the links schemathesis derives between
    operations (a referral created, then read, accepted, converted...), as each partner."""
    workflow = schema.as_state_machine()
    for token in tokens:

        class Calls(workflow):  # type: ignore[misc, valid-type]
            def before_call(self, case):
                tally.stateful_steps += 1
                key = (case.headers or {}).get("Idempotency-Key")
                if key is not None:
                    case.headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"

            def validate_response(self, response, case, additional_checks=None, **kwargs):
                # The per-operation allowance for rules beyond the schema holds here too.
                beyond = case.operation.label in RULES_BEYOND_THE_SCHEMA
                case.validate_response(
                    response,
                    additional_checks=additional_checks,
                    excluded_checks=[positive_data_acceptance] if beyond else None,
                    transport_kwargs=kwargs or None,
                    recorder=self.recorder,
                )

            def get_call_kwargs(self, case, token=token):
                return {
                    "base_url": base_url,
                    "headers": {"Authorization": f"Bearer {token}"},
                    "timeout": 60,
                }

        try:
            Calls.run(
                settings=settings(
                    max_examples=STATEFUL_SCENARIOS,
                    stateful_step_count=6,
                    deadline=None,
                    database=None,
                    derandomize=SEED is None,
                    phases=[Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
            )
        except (Exception, BaseExceptionGroup) as failure:
            tally.failures.append(f"stateful ({token[:6]}…):\n{failure}")


def test_every_operation_answers_as_the_schema_says_under_fuzzing(fuzz_world, capsys):
    base_url, tokens = fuzz_world
    schema = schemathesis.openapi.from_url(f"{base_url}/api/schema/?format=json")

    @schema.hook
    def map_query(ctx, query):
        # A cursor is opaque: one that this API did not hand out is refused (400), and no
        # generator can make one. Lists are fuzzed from their first page.
        if isinstance(query, dict):
            query.pop("cursor", None)
        return query

    tally, started = Tally(), time.monotonic()

    for result in schema.get_all_operations():
        operation = result.ok()
        tally.operations.add(operation.label)
        excluded = [positive_data_acceptance] if operation.label in RULES_BEYOND_THE_SCHEMA else []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(
                    operation,
                    mode,
                    base_url=base_url,
                    tokens=tokens,
                    excluded=excluded,
                    tally=tally,
                )
            except Unsatisfiable:  # nothing of this operation can be made invalid (a bare GET)
                tally.unsatisfiable.append(f"{operation.label} ({mode.value})")
            except (Exception, BaseExceptionGroup) as failure:  # collected, reported together
                tally.failures.append(f"{operation.label} ({mode.value}):\n{failure}")

    _stateful(schema, base_url=base_url, tokens=tokens, tally=tally)

    with capsys.disabled():  # the counts go to CI's log whatever pytest captures
        print(f"\n{tally.report(time.monotonic() - started)}")
    assert not tally.failures, "\n\n".join(tally.failures)
    assert len(tally.operations) >= 28
