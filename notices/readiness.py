"""Is this deployment fit to send takedown notices? Placeholder sender details and loopback
owner links are refused; the crawler's example contact URL is only warned about.

A notice goes to a stranger who must be able to tell who asks, on what basis, by when, and
how to answer: a notice signed by `spinneret@localhost` with links to 127.0.0.1 is worse than
none. `spinneret demo` (and only it) sets `notice_demo`, which lifts the placeholder and
loopback checks and marks every message as a demo.
"""

from __future__ import annotations

import ipaddress
from email.utils import parseaddr
from urllib.parse import urlsplit

# Reserved example names (RFC 2606/6761) and the values Spinneret ships with: a deployment
# that still has one of them has not been configured.
PLACEHOLDER_DOMAINS = ("localhost", "example.com", "example.org", "example.net")
PLACEHOLDER_SUFFIXES = (".localhost", ".example", ".invalid", ".example.com", ".example.org",
                        ".example.net")
SHIPPED_MAIL_FROM = "Spinneret <spinneret@localhost>"
SHIPPED_CONTACT_URL = "https://example.org/spinneret-contact"


def is_placeholder_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host in PLACEHOLDER_DOMAINS or host.endswith(PLACEHOLDER_SUFFIXES)


def is_loopback_host(host: str) -> bool:
    host = host.lower().strip("[]").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _address_problem(setting: str, value: str) -> str | None:
    address = parseaddr(value)[1]
    if not value.strip():
        return f"{setting} is not set"
    if "@" not in address:
        return f"{setting} {value!r} is not an e-mail address"
    domain = address.rpartition("@")[2]
    if is_placeholder_host(domain):
        return f"{setting} {value!r} is a placeholder address ({domain})"
    return None


def sending_problems(settings) -> list[str]:
    """Why notices must not go out with these settings (empty: they may).

    Each problem names the environment variable to set, so one line tells the operator what
    to change."""
    if settings.notice_demo:
        return []
    problems: list[str] = []
    if not settings.notice_sender_organisation.strip():
        problems.append("SPINNERET_NOTICE_SENDER_ORGANISATION is not set")
    for setting, value in (("SPINNERET_NOTICE_CONTACT_EMAIL", settings.notice_contact_email),
                           ("SPINNERET_MAIL_FROM", settings.mail_from)):
        problem = _address_problem(setting, value)
        if problem:
            problems.append(problem)
    if not settings.notice_legal_basis.strip():
        problems.append("SPINNERET_NOTICE_LEGAL_BASIS is not set")
    problems.extend(public_url_problems(settings))
    return problems


def public_url_problems(settings) -> list[str]:
    """The owner links' base URL must be one a site owner can reach."""
    url = settings.public_base_url
    host = urlsplit(url).hostname or ""
    if not host:
        return [f"SPINNERET_PUBLIC_BASE_URL {url!r} is not an absolute URL"]
    if is_loopback_host(host):
        return [f"SPINNERET_PUBLIC_BASE_URL {url} is a loopback address: site owners "
                "cannot open their links"]
    if is_placeholder_host(host):
        return [f"SPINNERET_PUBLIC_BASE_URL {url} is a placeholder host"]
    return []


def contact_url_problems(settings) -> list[str]:
    """The crawler's User-Agent names this URL to every site it fetches from."""
    url = settings.contact_url
    host = urlsplit(url).hostname or ""
    if url == SHIPPED_CONTACT_URL or not host or is_placeholder_host(host):
        return [f"SPINNERET_CONTACT_URL {url} is a placeholder: the crawler's User-Agent "
                "tells every site it visits to look there"]
    return []


def refusal(settings) -> str | None:
    """One line saying why notices are held, or None when they may be sent."""
    problems = sending_problems(settings)
    if not problems:
        return None
    return "notices are not sent until this deployment is configured: " + "; ".join(problems)


def deployment_warnings(settings) -> list[str]:
    """What `serve`, `worker`, `beat` and `config show` warn about (nothing is refused)."""
    warnings = [f"{problem} (notices are held until it is fixed)"
                for problem in sending_problems(settings)]
    if not settings.notice_demo:
        warnings.extend(contact_url_problems(settings))
    return warnings
