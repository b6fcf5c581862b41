"""A real SMTP server on 127.0.0.1 for the email outbox tests: it answers each message with
the next scripted reply (250 by default), so a test can make the mail server refuse."""

from __future__ import annotations

import socketserver
import threading
from collections import deque
from dataclasses import dataclass, field


@dataclass
class SmtpServer:
    replies: deque[str] = field(default_factory=deque)
    messages: list[bytes] = field(default_factory=list)
    refused: int = 0
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def __post_init__(self) -> None:
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self) -> None:
                self.reply("220 localhost test SMTP")
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                    if verb == "DATA":
                        self.reply("354 go ahead")
                        data = b"".join(iter(lambda: self.rfile.readline(), b".\r\n"))
                        answer = server.replies.popleft() if server.replies else "250 queued"
                        with server.arrived:
                            if answer.startswith("250"):
                                server.messages.append(data)
                            else:
                                server.refused += 1
                            server.arrived.notify_all()
                        self.reply(answer)
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 localhost" if verb in {"EHLO", "HELO"} else "250 ok")

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def refuse(self, times: int, reply: str = "451 try again later") -> None:
        self.replies.extend([reply] * times)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[bytes]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout):
                raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
            return list(self.messages)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
