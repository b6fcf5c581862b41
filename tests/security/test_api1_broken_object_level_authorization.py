"""OWASP API1:2023 Broken Object Level Authorization (BOLA).

An API that takes an object id must check that the caller may reach that object. The full
defence is tested by the isolation matrix, tests/ecosystem/test_isolation_matrix.py: it walks
the URLconf, and for every route with an id (API, partner console, portal) checks that
another partner's (or customer's) object answers exactly like an id that does not exist and
changes nothing; a new route without a case fails it by name. Here: that the matrix is in
place, and one end-to-end probe a reviewer can read on its own.
"""

from __future__ import annotations

import importlib


def test_the_isolation_matrix_guards_every_object_route():
    matrix = importlib.import_module("tests.ecosystem.test_isolation_matrix")

    assert callable(matrix.test_every_object_route_has_a_case)
    assert len(matrix.API_CASES) >= 10  # one per /api/v1/ route name with an id


def test_another_partners_referral_answers_like_one_that_does_not_exist(world):
    from tests.builders import make_api

    stranger = make_api()
    theirs = stranger.get(f"/api/v1/referrals/{world.referral.pk}")
    missing = stranger.get("/api/v1/referrals/ref_000000000000000000000000")

    assert theirs.status_code == missing.status_code == 404
    strip = lambda body: {k: v for k, v in body.items() if k != "instance"}  # noqa: E731
    assert strip(theirs.json()) == strip(missing.json())
    assert world.customer.pii().email not in theirs.content.decode()
