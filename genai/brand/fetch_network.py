"""The network under a brand-page fetch: vetted addresses only, and one deadline for everything.

Each connection resolves its host, checks every address the name resolves to against the
`FetchPolicy`, and connects to the address it checked, so a name that resolves elsewhere a second
time (DNS rebinding) gains nothing. TLS still verifies the certificate against the host name. Every
resolve, connect, TLS handshake, read and write gets only the time left until the fetch's single
deadline, so a server that drips a byte a second cannot hold a worker past it.
"""

from __future__ import annotations

import socket
import time
import typing
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager

import httpcore
import httpx

from genai.brand.fetch_policy import FetchPolicy, IPAddress, literal_address
from genai.errors import BrandFetchError

__all__ = ["Deadline", "guarded_transport"]

# getaddrinfo has no timeout of its own; a few shared threads let a fetch give up on a slow resolver.
_RESOLVER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="brand-fetch-dns")


class Deadline:
    """A point in time by which the whole fetch must be done."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises httpcore.ReadTimeout once none are."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout(f"the fetch passed its {self.seconds:g} s deadline")
        return left

    def clamp(self, timeout: float | None) -> float:
        """`timeout`, cut to the time left."""
        left = self.left()
        return left if timeout is None else min(timeout, left)


def _resolve(host: str, port: int, deadline: Deadline) -> list[IPAddress]:
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    future = _RESOLVER.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=deadline.left())
    except FutureTimeout:
        raise httpcore.ConnectTimeout(f"resolving {host} passed the deadline") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = literal_address(str(sockaddr[0]).split("%", 1)[0])
        if address is not None and address not in addresses:
            addresses.append(address)
    if not addresses:
        raise httpcore.ConnectError(f"{host} resolves to no address")
    return addresses


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation ends by the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: typing.Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, self._deadline.clamp(timeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to addresses the policy allows, and only until the deadline."""

    def __init__(self, policy: FetchPolicy, deadline: Deadline) -> None:
        self._policy = policy
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port, self._deadline)
        for address in addresses:  # every address, so one public answer cannot hide a private one
            self._policy.check_address(host, address)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = self._inner.connect_tcp(
                    str(address), port, self._deadline.clamp(timeout), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        assert error is not None
        raise error

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self._deadline.left()))


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


_ERRORS: list[tuple[type[Exception], type[httpx.HTTPError]]] = [
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.NetworkError, httpx.TransportError),
    (httpcore.ProtocolError, httpx.TransportError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
]


@contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's errors as the httpx errors the fetch handles; policy refusals pass through."""
    try:
        yield
    except BrandFetchError:
        raise
    except Exception as exc:
        for source, target in _ERRORS:
            if isinstance(exc, source):
                raise target(str(exc) or type(exc).__name__) from exc
        raise


class _GuardedTransport(httpx.BaseTransport):
    def __init__(self, policy: FetchPolicy, deadline: Deadline) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=4,
            network_backend=_GuardedBackend(policy, deadline),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def guarded_transport(policy: FetchPolicy, deadline: Deadline) -> httpx.BaseTransport:
    """An httpx transport that reaches only what `policy` allows and gives up at `deadline`."""
    return _GuardedTransport(policy, deadline)
