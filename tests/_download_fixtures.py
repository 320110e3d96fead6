"""Test helpers for tests/test_download.py: a scriptable HTTP server on 127.0.0.1 and archive builders."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Route:
    """What the server answers for one path.

    ``fail_first`` requests are answered with ``fail_mode`` ("503": an HTTP 503 error;
    "drop": the headers announce the whole body but the connection closes half-way),
    the later ones normally.  ``truncate_to`` makes every answer a dropped connection
    after that many bytes.  ``send_length=False`` omits Content-Length (close-delimited body).
    ``stall`` seconds of silence follow the first half of the body (a hung server).
    """

    body: bytes = b""
    status: int = 200
    fail_first: int = 0
    fail_mode: str = "503"
    truncate_to: int | None = None
    send_length: bool = True
    stall: float = 0.0
    hits: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # silence the default stderr log
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        with self.server.lock:
            route.hits += 1
            failing = route.hits <= route.fail_first
        if failing and route.fail_mode == "503":
            self.send_error(503, "Service Unavailable")
            return
        if failing and route.fail_mode == "drop":
            self._send_partial(route.body, len(route.body) // 2)
            return
        if route.truncate_to is not None:
            self._send_partial(route.body, route.truncate_to)
            return
        self.send_response(route.status)
        if route.send_length:
            self.send_header("Content-Length", str(len(route.body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if route.stall:
            half = len(route.body) // 2
            self.wfile.write(route.body[:half])
            self.wfile.flush()
            time.sleep(route.stall)
            self.wfile.write(route.body[half:])
        else:
            self.wfile.write(route.body)

    def _send_partial(self, body: bytes, n: int) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:n])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.lock = threading.Lock()


class FixtureServer:
    """An HTTP server on an ephemeral 127.0.0.1 port, serving :class:`Route` objects."""

    def __init__(self) -> None:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> FixtureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def add(self, path: str, route: Route) -> str:
        """Serve ``route`` at ``path``; return its URL."""
        self._server.routes[path] = route
        return self.url(path)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nothing.txt"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_bytes(members: dict[str, bytes], mode: str = "w:gz", links: dict[str, str] | None = None) -> bytes:
    """A tar archive (compression per ``mode``) of regular files, plus symlinks ``name -> target``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip archive of regular files (names stored exactly as given)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def leftovers(parent: Path, keep: tuple[str, ...] = ()) -> list[str]:
    """Names in ``parent`` other than ``keep`` (temporary dirs, partial files)."""
    return sorted(p.name for p in parent.iterdir() if p.name not in keep)


def all_files(root: Path) -> Iterator[str]:
    return (p.relative_to(root).as_posix() for p in sorted(root.rglob("*")) if p.is_file())
