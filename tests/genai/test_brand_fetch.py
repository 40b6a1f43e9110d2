"""Fetching brand pages from a real HTTP server on 127.0.0.1: what may be reached, by when, how much."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from genai.brand.fetch import fetch_brand
from genai.brand.fetch_policy import FetchPolicy, literal_address
from genai.errors import BrandFetchError, InvalidInputError
from tests.support.page_server import PageHandler, PageServer, page_server, redirect_to


@pytest.fixture
def server() -> Iterator[PageServer]:
    with page_server() as live:
        yield live


def local(server: PageServer) -> FetchPolicy:
    """The policy that lets a test reach its own server."""
    return FetchPolicy(allow_hosts=("127.0.0.1",), allow_ports=(server.port,))


def test_a_page_on_a_loopback_address_is_refused_by_default(server: PageServer) -> None:
    with pytest.raises(BrandFetchError, match=r"non-public address 127\.0\.0\.1"):
        fetch_brand(server.url + "/", policy=FetchPolicy(allow_ports=(server.port,)))

    assert server.seen == []


def test_a_name_that_resolves_to_loopback_is_refused(server: PageServer) -> None:
    with pytest.raises(BrandFetchError, match="non-public address"):
        fetch_brand(f"http://localhost:{server.port}/", policy=FetchPolicy(allow_ports=(server.port,)))

    assert server.seen == []


def test_a_port_other_than_the_default_is_refused_unless_allowed(server: PageServer) -> None:
    with pytest.raises(BrandFetchError, match=f"port {server.port} is not http's default port 80"):
        fetch_brand(server.url + "/", policy=FetchPolicy(allow_hosts=("127.0.0.1",)))

    assert server.seen == []


def test_a_page_on_an_allowed_host_and_port_is_fetched(server: PageServer) -> None:
    kit = fetch_brand(server.url + "/shop", policy=local(server))

    assert kit.name == "Local Candles"
    assert server.seen == ["/shop"]


def test_an_allowed_network_lets_its_addresses_through(server: PageServer) -> None:
    policy = FetchPolicy(allow_hosts=("127.0.0.0/8",), allow_ports=(server.port,))

    assert fetch_brand(server.url + "/", policy=policy).name == "Local Candles"


def test_an_allowed_redirect_is_followed(server: PageServer) -> None:
    server.route("/old", redirect_to("/new"))

    assert fetch_brand(server.url + "/old", policy=local(server)).name == "Local Candles"
    assert server.seen == ["/old", "/new"]


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]:{port}/",
        "http://0x7f.0.0.2:{port}/",
        "http://192.168.0.10/",
        "ftp://127.0.0.1/",
        "http://127.0.0.1:1/",
    ],
)
def test_a_redirect_to_an_address_or_port_that_is_not_allowed_is_refused(
    server: PageServer, target: str
) -> None:
    server.route("/", redirect_to(target.format(port=server.port)))

    with pytest.raises(BrandFetchError, match="refused"):
        fetch_brand(server.url + "/", policy=local(server))

    assert server.seen == ["/"]


def test_redirects_are_capped_at_five(server: PageServer) -> None:
    server.route("/loop", redirect_to("/loop"))

    with pytest.raises(BrandFetchError, match="redirects too many times"):
        fetch_brand(server.url + "/loop", policy=local(server))

    assert server.seen == ["/loop"] * 6


def _drip_body(handler: PageHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.end_headers()
    handler.wfile.write(b"<title>Slow</title>")
    for _ in range(100):
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.1)


def _drip_headers(handler: PageHandler) -> None:
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(100):
        handler.wfile.write(b"X-Slow: 1\r\n")
        handler.wfile.flush()
        time.sleep(0.1)


@pytest.mark.parametrize("drip", [_drip_body, _drip_headers], ids=["body", "headers"])
def test_a_server_that_drips_bytes_is_cut_off_at_the_one_deadline(
    server: PageServer, drip: Callable[[PageHandler], None]
) -> None:
    server.route("/slow", drip)
    started = time.monotonic()

    with pytest.raises(BrandFetchError, match="did not answer within 1 s"):
        fetch_brand(server.url + "/slow", timeout=1.0, policy=local(server))

    # Each byte comes well within a per-read timeout; only a deadline for the whole fetch stops it.
    assert time.monotonic() - started < 3.0


def _endless(handler: PageHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.end_headers()
    handler.wfile.write(b"<title>Big</title>")
    for _ in range(200):
        handler.wfile.write(b"x" * 65_536)


def _declared_huge(handler: PageHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/html")
    handler.send_header("Content-Length", "50000000")
    handler.end_headers()
    handler.wfile.write(b"<title>Big</title>")


@pytest.mark.parametrize(
    ("respond", "message"),
    [(_endless, "larger than the 100,000-byte limit"), (_declared_huge, "50,000,000 bytes, over")],
    ids=["streamed", "declared"],
)
def test_a_body_over_the_size_cap_is_refused(
    server: PageServer, respond: Callable[[PageHandler], None], message: str
) -> None:
    server.route("/big", respond)

    with pytest.raises(BrandFetchError, match=message):
        fetch_brand(server.url + "/big", max_bytes=100_000, policy=local(server))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[fe80::1]/",
        "http://[fd12:3456::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
        "https://127.0.0.1./",
    ],
)
def test_non_public_addresses_in_any_spelling_are_refused_before_a_request(url: str) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        raise AssertionError("no request may be sent")

    with pytest.raises(BrandFetchError, match="refused"):
        fetch_brand(url, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("host", "address"),
    [("8.8.8.8", "8.8.8.8"), ("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("[::1]", "::1")],
)
def test_literal_addresses_are_read_in_the_spellings_resolvers_accept(host: str, address: str) -> None:
    assert str(literal_address(host)) == address


@pytest.mark.parametrize("host", ["shop.example", "cafe", "123.shop.example", "xn--bcher-kva.example"])
def test_host_names_are_not_mistaken_for_addresses(host: str) -> None:
    assert literal_address(host) is None


def test_a_public_address_and_an_allowed_port_pass_the_policy() -> None:
    FetchPolicy().check_url("https://93.184.215.14/")
    FetchPolicy(allow_ports=(8443,)).check_url("https://shop.example:8443/")
    with pytest.raises(BrandFetchError, match="port 8443"):
        FetchPolicy().check_url("https://shop.example:8443/")


def test_an_allow_list_entry_that_is_neither_host_nor_network_names_its_place() -> None:
    with pytest.raises(InvalidInputError) as info:
        FetchPolicy(allow_hosts=("intranet.example", "10.0.0.0/33"))

    assert info.value.field == "allow_hosts[1]"


def _resolving(answers: dict[str, list[str]]) -> Callable[..., list[tuple[Any, ...]]]:
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    return getaddrinfo


def test_a_name_with_any_non_public_address_among_its_answers_is_refused(
    server: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", _resolving({"shop.test": ["93.184.215.14", "127.0.0.1"]}))

    with pytest.raises(BrandFetchError, match=r"refused shop\.test: .* 127\.0\.0\.1"):
        fetch_brand(f"http://shop.test:{server.port}/", policy=FetchPolicy(allow_ports=(server.port,)))


def test_the_connection_goes_to_the_address_that_was_checked_with_the_name_kept(
    server: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts: list[str] = []
    server.route("/", lambda handler: (hosts.append(handler.headers["Host"]), handler.send_page()))
    monkeypatch.setattr(socket, "getaddrinfo", _resolving({"shop.test": ["127.0.0.1"]}))

    kit = fetch_brand(f"http://shop.test:{server.port}/", policy=local(server))

    assert kit.name == "Local Candles" and hosts == [f"shop.test:{server.port}"]
