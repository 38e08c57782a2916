"""Where webhooks may be delivered: public addresses only, unless the operator allows a network.

A webhook URL is chosen by a caller; delivering to it makes the gateway send requests on that
caller's behalf. Without a policy it could reach loopback services, the private network, or a cloud
metadata endpoint (SSRF). The host is resolved and every address it resolves to is checked, at
registration and again at each delivery (a name may be rebound to a private address after it was
registered); a delivery is then made to the address that was checked, not to a new lookup.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from schema.errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses it resolves to (as getaddrinfo gives them).
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Cloud metadata endpoints that are not caught by "not global" on every platform.
_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))


class AddressRefused(InvalidRequest):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


async def system_resolver(host: str, port: int) -> list[str]:
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(entry[4][0]) for entry in found]


@dataclass(slots=True, frozen=True)
class Target:
    """A webhook URL and the address a delivery connects to."""

    url: SplitResult
    address: IPAddress

    @property
    def host(self) -> str:
        return self.url.hostname or ""

    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address (the Host header keeps the name)."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = f"{host}:{self.url.port}" if self.url.port else host
        return self.url._replace(netloc=netloc).geturl()


class AddressPolicy:
    def __init__(self, allowed: Iterable[str] = (), resolver: Resolver = system_resolver):
        """`allowed`: networks (CIDR) webhooks may reach although they are not public."""
        self.allowed: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in allowed)
        self.resolver = resolver

    def permitted(self, address: IPAddress) -> bool:
        if any(address in network for network in self.allowed):
            return True
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return self.permitted(address.ipv4_mapped)
        return address.is_global and not address.is_multicast and address not in _METADATA

    async def check(self, url: str) -> Target:
        """The URL's target, resolved; raises AddressRefused (or InvalidRequest for a malformed
        URL) when it is not http(s) or any address the host resolves to is not permitted."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest("'url' must be an http(s) URL with a host")
        if parts.username is not None or parts.password is not None:
            raise InvalidRequest("'url' must not carry credentials; sign deliveries with the secret instead")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise InvalidRequest("'url' has an invalid port") from None
        try:
            resolved = await self.resolver(parts.hostname, port)
        except (OSError, UnicodeError) as exc:
            raise AddressRefused(f"the webhook host {parts.hostname!r} does not resolve ({exc})") from None
        addresses = _addresses(resolved)
        if not addresses:
            raise AddressRefused(f"the webhook host {parts.hostname!r} does not resolve")
        refused = [a for a in addresses if not self.permitted(a)]
        if refused:
            raise AddressRefused(
                f"the webhook host {parts.hostname!r} resolves to {refused[0]}, which is not a public address; "
                "an operator can allow a network with ODDSGATE_WEBHOOK_ALLOWED_NETWORKS"
            )
        return Target(parts, addresses[0])


def _addresses(found: Sequence[str]) -> list[IPAddress]:
    addresses: list[IPAddress] = []
    for text in found:
        # A scoped IPv6 address (fe80::1%eth0) names its interface after '%'.
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses
