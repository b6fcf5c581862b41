"""The SSRF guard, with DNS answered by the test (the one seam it has besides HTTP)."""

import pytest

from ecosystem import ssrf

PUBLIC = "93.184.216.34"


@pytest.fixture
def dns(monkeypatch):
    """Answers lookups from a table the test fills: host -> list of addresses."""
    table: dict[str, list[str]] = {}

    def resolve(host, port):
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    return table


def test_a_public_https_url_is_allowed_and_keeps_its_host_for_tls(dns):
    dns["hooks.partner.example"] = [PUBLIC]
    target = ssrf.check_url("https://hooks.partner.example/in?x=1")
    assert target.addresses == (PUBLIC,)
    assert (target.host, target.port, target.host_header) == (
        "hooks.partner.example",
        443,
        "hooks.partner.example",
    )
    assert target.request_target == "/in?x=1"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "cloud metadata"),
        ("::1", "loopback"),
        ("fc00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "not a public address"),
        ("fe80::1", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("2002:a00:1::", "private"),  # 6to4 around 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 around 169.254.169.254
    ],
)
def test_an_ip_literal_that_is_not_public_is_refused(dns, address, reason):
    host = f"[{address}]" if ":" in address else address
    dns[address] = [address]
    with pytest.raises(ssrf.WebhookUrlNotAllowed) as refused:
        ssrf.check_url(f"https://{host}/hook")
    assert refused.value.code == "webhook_url_not_allowed"
    assert reason in refused.value.detail


def test_a_host_name_resolving_to_a_private_address_is_refused(dns):
    dns["intranet.partner.example"] = ["10.1.2.3"]
    with pytest.raises(ssrf.WebhookUrlNotAllowed, match=r"10\.1\.2\.3, a private address"):
        ssrf.check_url("https://intranet.partner.example/hook")


def test_one_private_address_among_public_ones_is_enough_to_refuse(dns):
    dns["mixed.partner.example"] = [PUBLIC, "192.168.0.10"]
    with pytest.raises(ssrf.WebhookUrlNotAllowed, match=r"192\.168\.0\.10"):
        ssrf.check_url("https://mixed.partner.example/hook")


def test_a_public_ipv4_mapped_address_is_allowed(dns):
    dns["v6.partner.example"] = [f"::ffff:{PUBLIC}"]
    assert ssrf.check_url("https://v6.partner.example/").addresses == (f"::ffff:{PUBLIC}",)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.partner.example/hook", "https"),
        ("ftp://hooks.partner.example/hook", "https"),
        ("https:///no-host", "https"),
        ("https://user:pass@hooks.partner.example/hook", "Credentials"),
        ("https://hooks.partner.example:99999/hook", "parsed"),
        ("https://unknown.partner.example/hook", "cannot be resolved"),
    ],
)
def test_malformed_insecure_or_unresolvable_urls_are_refused(dns, url, message):
    dns["hooks.partner.example"] = [PUBLIC]
    with pytest.raises(ssrf.WebhookUrlNotAllowed, match=message):
        ssrf.check_url(url)


def test_an_allowed_development_host_may_use_http_on_loopback_only(dns, settings):
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = ["localhost:8123"]
    dns["localhost"] = ["127.0.0.1", "::1"]
    target = ssrf.check_url("http://localhost:8123/hook")
    assert target.addresses == ("127.0.0.1", "::1")
    assert target.host_header == "localhost:8123"

    dns["localhost"] = ["127.0.0.1", "10.0.0.1"]  # the allowance never extends past loopback
    with pytest.raises(ssrf.WebhookUrlNotAllowed, match="not loopback"):
        ssrf.check_url("http://localhost:8123/hook")


def test_the_development_allowance_is_for_the_listed_port_only(dns, settings):
    settings.WEBHOOK_ALLOWED_INSECURE_HOSTS = ["localhost:8123"]
    dns["localhost"] = ["127.0.0.1"]
    with pytest.raises(ssrf.WebhookUrlNotAllowed, match="https"):
        ssrf.check_url("http://localhost:8124/hook")
    with pytest.raises(ssrf.WebhookUrlNotAllowed, match="Port 8124 is not allowed"):
        ssrf.check_url("https://localhost:8124/hook")
    settings.WEBHOOK_ALLOWED_PORTS = [443, 8124]
    with pytest.raises(ssrf.WebhookUrlNotAllowed, match="loopback"):
        ssrf.check_url("https://localhost:8124/hook")


def test_the_real_resolver_answers_for_an_ip_literal_without_the_network():
    assert ssrf.resolve("127.0.0.1", 443) == ["127.0.0.1"]
