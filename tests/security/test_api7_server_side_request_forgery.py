"""OWASP API7:2023 Server Side Request Forgery.

A partner gives the gateway a URL to call (a webhook endpoint): the gateway must never be
made to reach its own network, the cloud metadata service, or to probe ports. The guard
(ecosystem/ssrf.py) resolves the host at check and at delivery, refuses any non-public
address (the address table is in tests/ecosystem/test_webhooks_ssrf.py), connects to exactly
the address it checked (no rebinding), follows no redirect, allows only configured ports
(443 by default) and normalises host names with IDNA (UTS #46) so a homograph shows as the
``xn--`` name it is. Here: the URL forms, end to end through the API and the console.
"""

from __future__ import annotations

import pytest

from ecosystem import ssrf
from partners.webhooks.models import WebhookEndpoint
from tests.builders import make_api

PUBLIC = "93.184.216.34"
ENDPOINTS = "/api/v1/webhook-endpoints"


@pytest.fixture
def dns(monkeypatch):
    """Every name resolves to a public address; the test sees which names were asked."""
    asked: list[str] = []

    def resolve(host, port):
        asked.append(host)
        return [PUBLIC]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    return asked


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.partner.example:22/in",  # ssh: the delivery status would be a port probe
        "https://hooks.partner.example:25/in",
        "https://hooks.partner.example:6379/in",
        "https://hooks.partner.example:8443/in",
        "https://hooks.partner.example:80/in",
        "https://hooks.partner.example:0/in",
        "https://[2606:2800:220:1:248:1893:25c8:1946]:8080/in",
        "https://93.184.216.34:5432/in",
    ],
)
def test_a_port_outside_the_allowed_list_is_refused(dns, url):
    with pytest.raises(ssrf.WebhookUrlNotAllowed, match=r"Port \d+ is not allowed"):
        ssrf.check_url(url)
    assert dns == []  # refused before any lookup


def test_the_allowed_ports_are_a_setting(dns, settings):
    settings.WEBHOOK_ALLOWED_PORTS = [443, 8443]

    assert ssrf.check_url("https://hooks.partner.example:8443/in").port == 8443
    assert ssrf.check_url("https://hooks.partner.example/in").port == 443
    with pytest.raises(ssrf.WebhookUrlNotAllowed, match="443, 8443"):
        ssrf.check_url("https://hooks.partner.example:22/in")


@pytest.mark.parametrize(
    ("url", "ascii_url"),
    [
        # A Cyrillic ie (U+0435) in place of a Latin "e": a homograph of example.com.
        ("https://\u0435xample.com/in", "https://xn--xample-2of.com/in"),
        ("https://HOOKS.Partner.EXAMPLE/in?x=1", "https://hooks.partner.example/in?x=1"),
        ("https://hooks\u3002partner.example/in", "https://hooks.partner.example/in"),  # 。
        ("https://m\u00fcnchen.example/in", "https://xn--mnchen-3ya.example/in"),
        ("https://fa\u00df.example/in", "https://xn--fa-hia.example/in"),  # non-transitional
        (
            "https://\uff48\uff4f\uff4f\uff4b\uff53.example/in",
            "https://hooks.example/in",
        ),  # fullwidth letters
        ("https://xn--mnchen-3ya.example/in", "https://xn--mnchen-3ya.example/in"),
        ("https://hooks.partner.example./in", "https://hooks.partner.example/in"),
        ("https://hooks.partner.example:443/in", "https://hooks.partner.example:443/in"),
        ("  https://hooks.partner.example/in  ", "https://hooks.partner.example/in"),
        ("https://hooks.partner.example/in#frag", "https://hooks.partner.example/in"),
        ("https://\u200bexample.com/in", "https://example.com/in"),  # UTS 46 drops U+200B
    ],
)
def test_host_names_are_normalised_to_ascii_and_resolved_as_such(dns, url, ascii_url):
    target = ssrf.check_url(url)

    assert target.url == ascii_url
    assert dns == [target.host] and target.host.isascii()
    assert target.host_header.split(":")[0] == target.host


@pytest.mark.parametrize(
    "url",
    [
        "https://ex ample.com/in",
        "https://%65xample.com/in",
        "https://hooks_partner.example/in",
        "https://xn--zz.example/in",  # not a valid A-label
        "https://xn--.example/in",
        "https://" + "a" * 64 + ".example/in",  # a label longer than 63
    ],
)
def test_a_host_name_that_idna_refuses_is_refused(dns, url):
    with pytest.raises(ssrf.WebhookUrlNotAllowed):
        ssrf.check_url(url)
    assert dns == []


def test_partner_staff_and_the_api_are_shown_the_ascii_form(db, dns):
    api = make_api()
    body = {"url": "https://\u0435xample.com/hooks", "event_types": ["referral.received"]}

    created = api.post(ENDPOINTS, body, format="json")

    assert created.status_code == 201, created.content
    assert created.json()["url"] == "https://xn--xample-2of.com/hooks"
    assert WebhookEndpoint.objects.get().url == "https://xn--xample-2of.com/hooks"
    patched = api.patch(
        f"{ENDPOINTS}/{created.json()['id']}",
        {"url": "https://m\u00fcnchen.example/x"},
        format="json",
    )
    assert patched.json()["url"] == "https://xn--mnchen-3ya.example/x"


def test_the_api_refuses_a_probing_port_with_a_problem_next_to_the_field(db, dns):
    api = make_api()
    body = {"url": "https://hooks.partner.example:22/in", "event_types": ["referral.received"]}

    refused = api.post(ENDPOINTS, body, format="json")

    assert refused.status_code in (400, 422)
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "webhook_url_not_allowed"
    assert not WebhookEndpoint.objects.exists()
