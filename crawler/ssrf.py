"""SSRF guard: only http(s), and only public addresses unless private networks are allowed.

The check runs inside the aiohttp resolver, i.e. on the very addresses the connector then
connects to, so a name that resolves to a public address for a check and a private one for
the connection (DNS rebinding) cannot slip through. IP literals never reach a resolver in
aiohttp, so `check_url` checks them before the request.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from crawler.errors import SsrfBlocked
from crawler.types import ALLOWED_SCHEMES

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SsrfPolicy:
    def __init__(self, allow_private: bool = False, allowed_networks: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.allowed_networks = tuple(ipaddress.ip_network(n, strict=False)
                                      for n in allowed_networks)
        # raw host -> refusal detail ("" = allowed); a crawl asks about few hosts, often
        self._host_verdicts: dict[str, str] = {}

    def address_allowed(self, address: str) -> bool:
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if self.allow_private or any(ip in net for net in self.allowed_networks):
            return True
        return not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
                    or ip.is_reserved or ip.is_unspecified or not ip.is_global)

    def check_url(self, url: URL | str) -> URL:
        """Scheme check, plus the address check for IP-literal hosts. Returns the URL."""
        parsed = URL(url) if isinstance(url, str) else url
        if parsed.scheme not in ALLOWED_SCHEMES:
            raise SsrfBlocked(str(parsed), f"scheme {parsed.scheme!r} not allowed")
        host = parsed.raw_host
        if not host:
            raise SsrfBlocked(str(parsed), "no host")
        verdict = self._host_verdicts.get(host)
        if verdict is None:
            verdict = self._host_verdict(host)
            if len(self._host_verdicts) < 100_000:
                self._host_verdicts[host] = verdict
        if verdict:
            raise SsrfBlocked(str(parsed), verdict)
        return parsed

    def _host_verdict(self, host: str) -> str:
        literal = host.strip("[]")
        try:
            ipaddress.ip_address(literal.split("%", 1)[0])
        except ValueError:
            return ""  # a name: checked by the resolver at connect time
        if not self.address_allowed(literal):
            return f"address {literal} not allowed"
        return ""


class GuardedResolver(AbstractResolver):
    """Wraps a resolver; refuses a host if ANY of its addresses is not allowed."""

    def __init__(self, policy: SsrfPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        bad = [r["host"] for r in results if not self.policy.address_allowed(r["host"])]
        if bad or not results:
            detail = f"{host} resolves to {', '.join(bad)}" if bad else f"{host} did not resolve"
            raise SsrfBlocked(host, detail)
        return results

    async def close(self) -> None:
        await self.inner.close()


class StaticResolver(AbstractResolver):
    """Answers from a fixed name -> addresses map (tests, pinned hosts); other names go to
    `fallback` if given, else fail."""

    def __init__(self, table: dict[str, list[str]],
                 fallback: AbstractResolver | None = None) -> None:
        self.table = {name.lower(): list(addrs) for name, addrs in table.items()}
        self.fallback = fallback

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        addresses = self.table.get(host.lower())
        if not addresses:
            if self.fallback is not None:
                return await self.fallback.resolve(host, port, family)
            raise OSError(f"{host}: name not known")
        return [
            ResolveResult(hostname=host, host=addr, port=port,
                          family=socket.AF_INET6 if ":" in addr else socket.AF_INET,
                          proto=0, flags=socket.AI_NUMERICHOST)
            for addr in addresses
        ]

    async def close(self) -> None:
        if self.fallback is not None:
            await self.fallback.close()
