"""The SSRF guard: a webhook may reach only public HTTPS hosts.

The host is resolved once per check and every address it resolves to must be public
(not loopback, private, link-local, multicast, reserved, unspecified, shared or a cloud
metadata address, including IPv4 hidden inside IPv6). The delivery then connects to one of
exactly those validated addresses, sending the original host name as Host and TLS SNI, so a
DNS answer that changes between the check and the connection (rebinding) cannot redirect it.

Only the ports in ``settings.WEBHOOK_ALLOWED_PORTS`` (443 by default) may be reached: on any
other, delivery statuses would turn the gateway into a port scanner of the partner's host.
Host names are normalised to their ASCII form by IDNA (UTS #46 mapping, IDNA 2008 rules), so
``check_url(...).url`` is what partner staff are shown and what is stored: a homograph
(a Cyrillic ``\u0435`` for a Latin ``e``) shows as the ``xn--`` name it really is.

``settings.WEBHOOK_ALLOWED_INSECURE_HOSTS`` names ``host:port`` pairs that may use http and
must resolve to loopback only: a receiver on this machine, for development and tests.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import idna
from django.conf import settings

from ecosystem.errors import ApplicationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_ADDRESSES = {
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class WebhookUrlNotAllowed(ApplicationError):
    code = "webhook_url_not_allowed"
    title = "This webhook URL is not allowed."


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``addresses``) and what to call it (``host``)."""

    scheme: str
    host: str
    port: int
    host_header: str
    request_target: str
    addresses: tuple[str, ...]
    url: str  # the URL with its host in ASCII: store and show this one


def resolve(host: str, port: int) -> list[str]:
    """The DNS seam: every address ``host`` resolves to, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why a webhook must not connect to ``ip``, or None when it is a public address."""
    embedded = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if embedded is not None:
        reason = blocked_reason(embedded)
        if reason:
            return f"{reason} (inside {ip})"
        if ip.ipv4_mapped is not None:  # type: ignore[union-attr]
            return None  # the connection goes to the IPv4 address itself
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip in _METADATA_ADDRESSES, "a cloud metadata address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def _insecure_allowed(host: str, port: int) -> bool:
    allowed = {
        entry.strip().lower().replace("[", "").replace("]", "")
        for entry in settings.WEBHOOK_ALLOWED_INSECURE_HOSTS
    }
    return f"{host}:{port}" in allowed


def check_address(address: str, *, loopback_only: bool) -> None:
    """Refuse ``address`` unless it is public (or, for an allowed development host, loopback)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if loopback_only:
        reason = None if ip.is_loopback else "not loopback (required for an insecure host)"
    else:
        reason = blocked_reason(ip)
    if reason:
        raise WebhookUrlNotAllowed(f"The host resolves to {address}, {reason}.")


def ascii_host(host: str) -> str:
    """``host`` as DNS and TLS see it: IP literals as they are, names through IDNA (UTS #46,
    non-transitional) to their ASCII form. Raises WebhookUrlNotAllowed for a name IDNA
    refuses (a space, ``%``, ``_``, a malformed ``xn--`` label)."""
    try:
        ipaddress.ip_address(host)
        return host.lower()
    except ValueError:
        pass
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        raise WebhookUrlNotAllowed(
            "The host is not a valid domain name (IDNA 2008 with UTS #46 mapping)."
        ) from None


def check_url(url: str) -> Target:
    """Parse, resolve and validate ``url``; raise WebhookUrlNotAllowed when it is unsafe."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise WebhookUrlNotAllowed("The URL cannot be parsed.") from None
    if parts.scheme not in {"https", "http"} or not (parts.hostname or "").rstrip("."):
        raise WebhookUrlNotAllowed("Use an https:// URL with a host name.")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlNotAllowed("Credentials in the URL are not allowed; sign requests instead.")
    host = ascii_host((parts.hostname or "").rstrip("."))
    default_port = 443 if parts.scheme == "https" else 80
    port = default_port if port is None else port  # ":0" is port 0, not the default
    insecure_allowed = _insecure_allowed(host, port)
    if parts.scheme != "https" and not insecure_allowed:
        raise WebhookUrlNotAllowed("Use an https:// URL.")
    if port not in settings.WEBHOOK_ALLOWED_PORTS and not insecure_allowed:
        allowed = ", ".join(str(p) for p in settings.WEBHOOK_ALLOWED_PORTS)
        raise WebhookUrlNotAllowed(f"Port {port} is not allowed; webhooks may use {allowed}.")
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise WebhookUrlNotAllowed(f"The host {host!r} cannot be resolved.") from None
    if not addresses:
        raise WebhookUrlNotAllowed(f"The host {host!r} cannot be resolved.")
    for address in addresses:
        check_address(address, loopback_only=insecure_allowed)
    bracketed = f"[{host}]" if ":" in host else host
    netloc = bracketed if parts.port is None else f"{bracketed}:{port}"
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port,
        host_header=bracketed if port == default_port else f"{bracketed}:{port}",
        request_target=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        addresses=tuple(addresses),
        url=urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
    )
