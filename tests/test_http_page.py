"""The node's metrics page as HTTP: what each request gets, decided without a socket."""

from __future__ import annotations

import pytest

from actors import http_page


def page() -> bytes:
    return b"up 1\n"


def status(response: bytes) -> bytes:
    return response.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    ("request_head", "expected"),
    [
        (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 200 OK"),
        (b"GET /metrics?name=x HTTP/1.0\r\n\r\n", b"HTTP/1.1 200 OK"),
        (b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK"),
        (b"GET /nothing HTTP/1.1\r\n\r\n", b"HTTP/1.1 404 Not Found"),
        (b"POST /metrics HTTP/1.1\r\n\r\n", b"HTTP/1.1 405 Method Not Allowed"),
        (b"GET /metrics\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
        (b"GARBAGE\r\n\r\n", b"HTTP/1.1 400 Bad Request"),
    ],
)
def test_each_request_gets_its_status(request_head: bytes, expected: bytes) -> None:
    assert http_page.request_complete(request_head)
    assert status(http_page.answer(request_head, page)) == expected


def test_the_page_comes_with_prometheus_content_type_and_its_length_and_closes() -> None:
    response = http_page.answer(b"GET /metrics HTTP/1.1\r\n\r\n", page)
    head, body = response.split(b"\r\n\r\n", 1)
    assert body == b"up 1\n"
    assert b"Content-Type: text/plain; version=0.0.4" in head
    assert b"Content-Length: 5" in head and b"Connection: close" in head
    head_only = http_page.answer(b"HEAD /metrics HTTP/1.1\r\n\r\n", page)
    assert head_only.endswith(b"\r\n\r\n") and b"Content-Length: 5" in head_only


def test_a_request_head_is_awaited_until_complete_and_an_endless_one_is_refused() -> None:
    assert not http_page.request_complete(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    endless = b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 2000
    assert http_page.request_complete(endless)
    assert status(http_page.answer(endless, page)) == b"HTTP/1.1 431 Request Header Fields Too Large"


def test_a_node_without_metrics_answers_404_and_the_page_is_rendered_only_when_asked() -> None:
    def not_served() -> bytes:
        raise http_page.NotServed()

    assert status(http_page.answer(b"GET /metrics HTTP/1.1\r\n\r\n", not_served)) == b"HTTP/1.1 404 Not Found"
    assert status(http_page.answer(b"GET /other HTTP/1.1\r\n\r\n", not_served)) == b"HTTP/1.1 404 Not Found"
