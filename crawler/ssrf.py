"""SSRF guard: only http(s), and only the addresses `NetworkPolicy` allows.

The check runs inside the aiohttp resolver, i.e. on the very addresses the connector then
connects to, so a name that resolves to a public address for a check and a private one for
the connection (DNS rebinding) cannot slip through. IP literals never reach a resolver in
aiohttp, so `check_url` checks them before the request.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from spinneret.config.netpolicy import HOW_TO_ALLOW, NetworkPolicy
from spinneret.crawler.errors import SsrfBlocked
from spinneret.crawler.types import ALLOWED_SCHEMES


class SsrfPolicy(NetworkPolicy):
    """`NetworkPolicy` plus the URL checks the fetchers make before every request."""

    def __init__(self, allow_private: bool = False, allowed_networks: Iterable[str] = ()) -> None:
        super().__init__(allow_private, allowed_networks)
        # raw host -> refusal detail ("" = allowed); a crawl asks about few hosts, often
        self._host_verdicts: dict[str, str] = {}

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
            verdict = self.literal_refusal(host)
            if len(self._host_verdicts) < 100_000:
                self._host_verdicts[host] = verdict
        if verdict:
            raise SsrfBlocked(str(parsed), verdict)
        return parsed


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
            detail = (f"{host} resolves to {', '.join(bad)} (not public; {HOW_TO_ALLOW})"
                      if bad else f"{host} did not resolve")
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
