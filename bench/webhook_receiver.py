"""A fast webhook receiver for the webhook benchmark and drill (asyncio, HTTP/1.1 keep-alive).

Answers every POST with 200 after checking its Standard Webhooks signature against the
secrets in ``--secrets`` (a JSON object: request path -> ``whsec_`` secret), and appends
``<unix time> <webhook-id> <ok|bad>`` per request to ``--log``. Run it as a process:

    python -m bench.webhook_receiver --port 8191 --secrets secrets.json --log received.log
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import signal
import time
from pathlib import Path

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def valid(secret: str, msg_id: str, timestamp: str, signatures: str, body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (item.partition(",") for item in signatures.split())
    )


class Receiver(asyncio.Protocol):
    secrets: dict[str, str] = {}
    lines: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < head_end + 4 + length:
                return
            body = self.buffer[head_end + 4 : head_end + 4 + length]
            self.buffer = self.buffer[head_end + 4 + length :]
            path = head[0].split(" ")[1]
            msg_id = headers.get("webhook-id", "-")
            secret = self.secrets.get(path, "")
            ok = bool(secret) and valid(
                secret,
                msg_id,
                headers.get("webhook-timestamp", ""),
                headers.get("webhook-signature", ""),
                body,
            )
            self.lines.append(f"{time.time():.6f} {msg_id} {'ok' if ok else 'bad'}\n")
            self.transport.write(RESPONSE)  # type: ignore[attr-defined]


async def serve(port: int, log: Path) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Receiver, "127.0.0.1", port, reuse_address=True, backlog=1024)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    with log.open("a") as out:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):  # flush what arrived every 0.2 s
                await asyncio.wait_for(stop.wait(), timeout=0.2)
            lines, Receiver.lines = Receiver.lines, []
            out.writelines(lines)
            out.flush()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secrets", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    Receiver.secrets = json.loads(args.secrets.read_text())
    asyncio.run(serve(args.port, args.log))


if __name__ == "__main__":
    main()
