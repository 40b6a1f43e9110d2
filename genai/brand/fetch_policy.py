"""Which URLs and addresses a brand-page fetch may reach: public hosts on the default ports only.

A brand page URL comes from a user, and the server fetches it from inside its own network, so a
URL must not reach what only the server can: loopback, private and link-local ranges (a cloud's
metadata service at 169.254.169.254), carrier-grade NAT, multicast and reserved space. IPv4 written
as one number, in octal or hex (`2130706433`, `0x7f.1`), and IPv6 that embeds IPv4 (`::ffff:127.0.0.1`,
6to4, NAT64) are read as the address they stand for. Hosts and networks named in `allow_hosts`
(for an intranet, or tests on 127.0.0.1) and ports in `allow_ports` are let through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from genai.errors import BrandFetchError, InvalidInputError

__all__ = ["DEFAULT_PORTS", "FetchPolicy", "literal_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def literal_address(host: str) -> IPAddress | None:
    """The address a host names when it is an IP literal in any spelling libc accepts, else None."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # inet_aton reads what resolvers read: "2130706433", "0x7f.1", "017700000001", "127.1".
    if host and all(label.isalnum() for label in host.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True for a globally routable unicast address, looking through IPv4 embedded in IPv6."""
    inner = _embedded_ipv4(address)
    if inner is not None and not is_public(inner):
        return False
    return address.is_global and not address.is_multicast


def _parse_allowed(entries: tuple[str, ...]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for i, raw in enumerate(entries):
        entry = raw.strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if "/" in entry or ":" in entry or any(ch.isspace() for ch in entry):
            raise InvalidInputError(
                f"{raw!r} is neither a host name nor an IP network", field=f"allow_hosts[{i}]"
            )
        names.add(entry)
    return frozenset(names), tuple(networks)


@dataclass(frozen=True)
class FetchPolicy:
    """The hosts, networks and ports a fetch may reach beyond public hosts on ports 80 and 443."""

    allow_hosts: tuple[str, ...] = ()  # host names or IP networks ("127.0.0.1", "10.0.0.0/8")
    allow_ports: tuple[int, ...] = ()
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names, networks = _parse_allowed(tuple(self.allow_hosts))
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_networks", networks)
        for i, port in enumerate(self.allow_ports):
            if not 0 < port < 65536:
                raise InvalidInputError(f"{port} is not a TCP port", field=f"allow_ports[{i}]")

    def address_allowed(self, host: str, address: IPAddress) -> bool:
        """Whether `host`, resolved to `address`, may be connected to."""
        if is_public(address):
            return True
        if host.lower().rstrip(".") in self._names:
            return True
        inner = _embedded_ipv4(address)
        return any(address in net or (inner is not None and inner in net) for net in self._networks)

    def check_address(self, host: str, address: IPAddress) -> None:
        """Raise BrandFetchError unless `host` may be reached at `address`."""
        if not self.address_allowed(host, address):
            raise BrandFetchError(
                f"refused {host}: it resolves to the non-public address {address}", field="url"
            )

    def check_url(self, url: str) -> None:
        """Refuse a URL whose scheme, port or literal address is not allowed, before any request."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise BrandFetchError(f"{url!r} is not a valid URL", field="url") from None
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if scheme not in DEFAULT_PORTS or not host:
            raise BrandFetchError(f"refused {url}: only http(s) URLs with a host are fetched", field="url")
        if port is not None and port != DEFAULT_PORTS[scheme] and port not in self.allow_ports:
            raise BrandFetchError(
                f"refused {url}: port {port} is not {scheme}'s default port {DEFAULT_PORTS[scheme]}",
                field="url",
            )
        address = literal_address(host)
        if address is not None:
            self.check_address(host, address)
