"""Which addresses the poller may connect to: public ones only, unless private ones are allowed.

A feed or an item link naming `http://169.254.169.254/` (a cloud's metadata service), `localhost`, a host on
the LAN, or a name that resolves to one, is refused before any connection is attempted. The check is made
on every URL before its request (every address its host resolves to, after each redirect too), again in
the HTTP client's own resolver, and last on the destination of every socket the client opens, before it
connects: a name that resolves to a public address for the first check and a private one for the
connection (DNS rebinding) is refused as well.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from aiohappyeyeballs import AddrInfoType, SocketFactoryType
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

_NAT64 = ip_network("64:ff9b::/96")
IPAddress = IPv4Address | IPv6Address


class RefusedAddress(OSError):
    """A URL's host is (or resolves to) an address the policy refuses, or the URL is not http(s)."""


def address_kind(address: IPAddress) -> str | None:
    """What makes `address` non-public ("loopback", "private", "link-local", ...), or None when it is a
    public unicast address. IPv6 forms that carry an IPv4 address (mapped, 6to4, Teredo, NAT64) are judged by
    the IPv4 address they carry as well."""
    if isinstance(address, IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
        if address in _NAT64:
            embedded.append(IPv4Address(int(address) & 0xFFFFFFFF))
        for carried in embedded:
            if carried is not None and (kind := address_kind(carried)):
                return kind
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("non-public", not address.is_global),
    )
    return next((name for name, found in checks if found), None)


@dataclass(frozen=True)
class AddressPolicy:
    """`allow_private`: any address goes (ARCHIVEBOT_FEEDS_ALLOW_PRIVATE=1). `allowed_networks`: non-public
    networks allowed all the same (one intranet host, or 127.0.0.1 in tests), everything else refused."""

    allow_private: bool = False
    allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()

    def problem(self, address: str) -> str | None:
        """Why `address` (an IP address as text, maybe with an IPv6 scope) is refused, or None."""
        try:
            parsed = ip_address(address.split("%", 1)[0])
        except ValueError:
            return f"{address!r} is not an IP address"
        if self.allow_private or any(parsed in network for network in self.allowed_networks):
            return None
        kind = address_kind(parsed)
        return f"{address} is a {kind} address (set ARCHIVEBOT_FEEDS_ALLOW_PRIVATE=1 to allow)" if kind else None


async def check_url(url: str, policy: AddressPolicy) -> None:
    """Raise `RefusedAddress` unless `url` is http(s) and every address its host resolves to is allowed.
    An IP address in the URL is judged as it is, without a lookup."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"}:
        raise RefusedAddress(f"only http and https URLs are fetched, not {parts.scheme or 'a relative URL'!r}")
    host = parts.hostname
    if not host:
        raise RefusedAddress(f"{url!r} has no host")
    try:
        literal: str | None = str(ip_address(host.split("%", 1)[0]))
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise OSError(f"cannot resolve {host!r} ({error.strerror})") from error
        addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        if problem := policy.problem(address):
            raise RefusedAddress(problem if literal else f"{host} resolves to {problem}")


class GuardedResolver(AbstractResolver):
    """The HTTP client's resolver: the system's, refusing a host when any address it resolves to is refused
    (the client then connects to none of them)."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if problem := self._policy.problem(result["host"]):
                raise RefusedAddress(f"{host} resolves to {problem}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket_factory(policy: AddressPolicy) -> SocketFactoryType:
    """The HTTP client's socket factory: a socket only for an allowed destination (it is connected next)."""

    def make(address_info: AddrInfoType) -> socket.socket:
        family, kind, protocol, _, destination = address_info
        if problem := policy.problem(str(destination[0])):
            raise RefusedAddress(problem)
        return socket.socket(family=family, type=kind, proto=protocol)

    return make
