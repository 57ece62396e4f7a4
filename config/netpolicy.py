"""Which network addresses Spinneret may connect to (crawl, recheck, webhooks): pure stdlib.

Public addresses only, unless `allow_private` (SPINNERET_ALLOW_PRIVATE_NETWORKS) opens every
network or `allowed_networks` (SPINNERET_ALLOWED_NETWORKS, CIDRs) opens some. An IPv6
address that embeds an IPv4 one (mapped, 6to4, Teredo, NAT64, IPv4-compatible) is judged by
the IPv4 address too, and the legacy IPv4 spellings a resolver would accept (`127.1`,
`2130706433`, `0177.0.0.1`, `0x7f.1`) are IP literals, not names.

Kept free of aiohttp and in config/ (the deployment's policy, like its settings) so that
the crawler, the recheck, webhook delivery and site validation (records) share it.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import re
import socket
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_PRIVATE_ENV = "SPINNERET_ALLOW_PRIVATE_NETWORKS"
ALLOWED_NETWORKS_ENV = "SPINNERET_ALLOWED_NETWORKS"
HOW_TO_ALLOW = (f"to reach it, add its network to {ALLOWED_NETWORKS_ENV} (CIDRs, e.g. "
                f"10.0.0.0/8) or set {ALLOW_PRIVATE_ENV}=true")
_NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_IPV4_COMPAT = ipaddress.ip_network("::/96")
# The forms inet_aton (and so getaddrinfo) reads as IPv4: 1-4 parts, decimal/octal/hex.
_LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?",
                          re.IGNORECASE)
_RESOLVE_TIMEOUT_S = 3.0


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs (or single addresses) as networks; ValueError names the bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not a network (CIDR such as 10.0.0.0/8)") from None
    return tuple(networks)


def ip_literal(host: str) -> IPAddress | None:
    """The address a URL host spells, or None for a name. Brackets and zones are ignored."""
    literal = host.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(literal)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(literal):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(literal.rstrip(".")))
        except OSError:
            return None  # e.g. a part too big: no resolver reads it as an address either
    return None


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (a packet to it may reach them)."""
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64_PREFIXES[0] or (ip in _IPV4_COMPAT and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _public(ip: IPAddress) -> bool:
    return not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified or not ip.is_global)


class NetworkPolicy:
    def __init__(self, allow_private: bool = False, allowed_networks: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.allowed_networks = parse_networks(allowed_networks)

    @classmethod
    def from_settings(cls, settings) -> NetworkPolicy:
        return cls(settings.allow_private_networks, getattr(settings, "allowed_networks", ()))

    def _allowed_network(self, ip: IPAddress) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed_networks)

    def ip_allowed(self, ip: IPAddress) -> bool:
        if self.allow_private or self._allowed_network(ip):
            return True
        if isinstance(ip, ipaddress.IPv6Address):
            embedded = embedded_ipv4(ip)
            if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d, nothing more
                return self.ip_allowed(ip.ipv4_mapped)
            if any(ip in net for net in _NAT64_PREFIXES):
                return bool(embedded) and all(self.ip_allowed(v4) for v4 in embedded)
            if embedded and not all(self.ip_allowed(v4) for v4 in embedded):
                return False
        return _public(ip)

    def address_allowed(self, address: str) -> bool:
        """For a resolved address (no legacy forms: resolvers answer in canonical form)."""
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return self.ip_allowed(ip)

    def literal_refusal(self, host: str) -> str:
        """Why an IP-literal host is refused ("" if allowed, or if it is a name)."""
        ip = ip_literal(host)
        if ip is None or self.ip_allowed(ip):
            return ""
        spelled = host.strip("[]")
        shown = f"{spelled} ({ip})" if spelled != str(ip) else spelled
        return f"address {shown} not allowed (not public; {HOW_TO_ALLOW})"

    def host_refusal(self, host: str, port: int | None = None) -> str:
        """Like `literal_refusal`, and a name is resolved now (blocking, a few seconds at
        most) and refused if any address is not allowed. A name that does not resolve is
        not refused here: it is checked again when connecting."""
        refusal = self.literal_refusal(host)
        if refusal or ip_literal(host) is not None:
            return refusal
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            infos = pool.submit(socket.getaddrinfo, host, port or 80,
                                proto=socket.IPPROTO_TCP).result(_RESOLVE_TIMEOUT_S)
        except (OSError, UnicodeError, concurrent.futures.TimeoutError):
            return ""
        finally:
            pool.shutdown(wait=False)
        bad = sorted({str(info[4][0]) for info in infos
                      if not self.address_allowed(str(info[4][0]))})
        if bad:
            return f"{host} resolves to {', '.join(bad)} (not public; {HOW_TO_ALLOW})"
        return ""
