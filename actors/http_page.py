"""The node's one HTTP page, `GET /metrics`: just enough HTTP/1.x for Prometheus, `curl` and `clusterctl top`.

A node serves it on its own port beside the cluster protocol (the reactor tells the two apart by the first
byte: a frame's length prefix starting with "G" would announce more than a gigabyte, over any frame limit)
or on the layout's `metrics_port`. Every answer closes the connection: a scrape is one request every few
seconds, and keeping connections open would only leave more sockets for the reactor to watch.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_REQUEST_HEAD = 8192
"""Bytes of request line and headers read before answering 431: a scraper's request is a few hundred."""

METRICS_PATH = "/metrics"
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NotServed(Exception):
    """Raised by a renderer that has no page to give (a reactor run without metrics)."""


def server_error() -> bytes:
    return _response(500, "Internal Server Error", b"the metrics page failed to render; see the node's log\n")


def request_complete(head: bytes | bytearray) -> bool:
    """Whether the request head is all here (or too long to wait for more)."""
    return b"\r\n\r\n" in head or b"\n\n" in head or len(head) > MAX_REQUEST_HEAD


def answer(head: bytes | bytearray, render: Callable[[], bytes]) -> bytes:
    """The whole response to one request head; `render` makes the metrics page, called only for it."""
    if len(head) > MAX_REQUEST_HEAD and b"\n\n" not in head and b"\r\n\r\n" not in head:
        return _response(431, "Request Header Fields Too Large", b"request head over 8192 bytes\n")
    line = bytes(head).split(b"\n", 1)[0].strip()
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return _response(400, "Bad Request", b"expected: GET /metrics HTTP/1.1\n")
    method, target = parts[0], parts[1].split(b"?", 1)[0]
    if method not in (b"GET", b"HEAD"):
        return _response(405, "Method Not Allowed", b"only GET\n", allow=True)
    if target not in (METRICS_PATH.encode(), b"/"):
        return _response(404, "Not Found", b"this node serves /metrics\n")
    try:
        body = render()
    except NotServed:
        return _response(404, "Not Found", b"this node serves no metrics\n")
    return _response(
        200, "OK", b"" if method == b"HEAD" else body, content_type=METRICS_CONTENT_TYPE, length=len(body)
    )


def _response(
    status: int,
    reason: str,
    body: bytes,
    *,
    content_type: str = "text/plain; charset=utf-8",
    length: int | None = None,
    allow: bool = False,
) -> bytes:
    headers = [
        f"HTTP/1.1 {status} {reason}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body) if length is None else length}",
        "Connection: close",
    ]
    if allow:
        headers.append("Allow: GET, HEAD")
    return ("\r\n".join(headers) + "\r\n\r\n").encode("ascii") + body
