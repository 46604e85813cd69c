"""A local SMTP server for the alert tests: it accepts every message on 127.0.0.1 and keeps it (no TLS, no login).

Python 3.12 removed ``smtpd`` and aiosmtpd is not a dependency, so this speaks the few SMTP commands smtplib sends
(EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) over a ``socketserver`` thread.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest


@dataclass
class Sink:
    """The messages received, parsed; ``host`` and ``port`` of the server."""

    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    def texts(self) -> list[str]:
        """Each message's subject and body (the HTML part's text, its <pre> unwrapped and unescaped: what a reader
        sees)."""
        out = []
        for message in self.messages:
            part = message.get_body(preferencelist=("html", "plain"))
            body = part.get_content().strip().removeprefix("<pre>").removesuffix("</pre>") if part else ""
            out.append(f"{message['Subject']}\n{html.unescape(body)}")
        return out


class _Handler(socketserver.StreamRequestHandler):
    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        sink: Sink = self.server.sink  # type: ignore[attr-defined]
        self._say("220 sink ready")
        while line := self.rfile.readline():
            command = line.decode(errors="replace").strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self._say("250 sink")
            elif command.startswith("DATA"):
                self._say("354 end with <CRLF>.<CRLF>")
                data = bytearray()
                while (chunk := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                sink.messages.append(email.message_from_bytes(bytes(data), policy=email.policy.default))
                self._say("250 queued")
            elif command.startswith("QUIT"):
                self._say("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self._say("250 ok")


@contextmanager
def smtp_sink(conn_id: str) -> Iterator[Sink]:
    """Serve SMTP on a free port of 127.0.0.1; while it runs, the Airflow connection ``conn_id`` points at it."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    sink = Sink("127.0.0.1", server.server_address[1])
    server.sink = sink  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    extra = {"disable_ssl": True, "disable_tls": True, "from_email": "mathlabel@example.org"}
    connection = {"conn_type": "smtp", "host": sink.host, "port": sink.port, "extra": extra}
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection))
            yield sink
    finally:
        server.shutdown()
        server.server_close()
