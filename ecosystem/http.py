"""The gateway's one outbound HTTP seam: POSTing a webhook to a partner's endpoint (and
fetching a JWKS an operator names, for verify_receipt).

urllib3 directly, not ``requests``: it neither follows redirects nor reads proxy settings
from the environment unless asked, and it lets the connection go to an address the SSRF
guard validated while TLS still verifies the certificate for the URL's host name.
Connections are kept alive in a small pool per (address, host) for each process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from ecosystem import ssrf

USER_AGENT = "EcosystemGateway-Webhooks/1"
RESPONSE_BODY_LIMIT = 2048
# A longer body is not read to the end: the connection is dropped rather than drained.
DRAIN_LIMIT = 64 * 1024
MAX_POOLS = 256
CONNECTIONS_PER_POOL = 16
ERROR_LENGTH = 300


@dataclass(frozen=True)
class HttpResult:
    status_code: int | None
    body: str
    latency_ms: int
    error: str = ""


_pools: OrderedDict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = OrderedDict()
_pools_lock = threading.Lock()


def _pool(target: ssrf.Target, address: str) -> urllib3.HTTPConnectionPool:
    key = (target.scheme, address, target.port, target.host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None:
            _pools.move_to_end(key)
            return pool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address,
                target.port,
                maxsize=CONNECTIONS_PER_POOL,
                cert_reqs="CERT_REQUIRED",
                assert_hostname=target.host,
                server_hostname=target.host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(address, target.port, maxsize=CONNECTIONS_PER_POOL)
        _pools[key] = pool
        while len(_pools) > MAX_POOLS:
            _pools.popitem(last=False)[1].close()
        return pool


def _describe(exc: Exception, timeout: float) -> str:
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError) and not isinstance(
        exc, NewConnectionError
    ):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, SSLError):
        return f"TLS error: {exc}"[:ERROR_LENGTH]
    if isinstance(exc, NewConnectionError):
        return f"connection failed: {exc.__cause__ or exc}"[:ERROR_LENGTH]
    return f"{type(exc).__name__}: {exc}"[:ERROR_LENGTH]


def _read_body(response: urllib3.BaseHTTPResponse) -> str:
    data = response.read(RESPONSE_BODY_LIMIT)
    remaining = response.length_remaining
    if remaining is not None and remaining <= DRAIN_LIMIT:
        response.drain_conn()
    else:
        response.close()
    response.release_conn()
    return data.decode("utf-8", errors="replace")


def post(
    target: ssrf.Target, *, body: bytes, headers: dict[str, str], timeout: float
) -> HttpResult:
    """POST ``body`` once to a target the SSRF guard produced (``ssrf.check_url``), connecting
    only to its validated addresses: no redirects followed, no retries, ``timeout`` overall.

    Never raises for network trouble: the result carries the status or the error.
    """
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    request_headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **headers,
    }
    error = ""
    for address in target.addresses:
        remaining = timeout - (time.monotonic() - started)
        if remaining <= 0:
            break
        try:
            response = _pool(target, address).urlopen(
                "POST",
                target.request_target,
                body=body,
                headers=request_headers,
                redirect=False,
                retries=False,
                assert_same_host=False,
                timeout=urllib3.Timeout(total=remaining),
                preload_content=False,
            )
            text = _read_body(response)
        except NewConnectionError as exc:
            error = _describe(exc, timeout)  # try the host's next validated address
            continue
        except HTTPError as exc:
            return HttpResult(None, "", elapsed_ms(), _describe(exc, timeout))
        return HttpResult(response.status, text, elapsed_ms())
    return HttpResult(None, "", elapsed_ms(), error or f"timed out after {timeout:g} s")


def get_json(url: str, *, timeout: float = 10) -> object:
    """GET a JSON document an operator named (verify_receipt's --jwks URL): no SSRF guard,
    since no partner chooses the address; redirects are not followed. Raises OSError on a
    network failure or a non-200 answer, ValueError on a body that is not JSON."""
    try:
        response = urllib3.request(
            "GET",
            url,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            timeout=urllib3.Timeout(total=timeout),
            redirect=False,
            retries=False,
        )
    except HTTPError as exc:
        raise OSError(f"{url}: {_describe(exc, timeout)}") from None
    if response.status != 200:
        raise OSError(f"{url}: HTTP {response.status}")
    return response.json()
