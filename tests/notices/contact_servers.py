"""A loopback HTTP server on its own thread (stdlib http.server) for the contact lookups:
a site's /.well-known/security.txt and an RDAP service's /ip/<address>. On a thread, so
that sync CLI tests and async tests can both use it. Routes can change while it runs."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    content_type: str = "text/plain; charset=utf-8"
    body: bytes = b""


@dataclass
class LoopbackServer:
    routes: dict[str, Answer] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def start(self) -> LoopbackServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                owner.requests.append(self.path)
                answer = owner.routes.get(self.path, Answer(404, "text/plain", b"not found"))
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def count(self, path: str) -> int:
        return self.requests.count(path)


SECURITY_TXT_PATH = "/.well-known/security.txt"


def security_txt(*contacts: str, expires: str = "2099-12-31T23:59:59Z") -> bytes:
    lines = ["# Security contacts of a synthetic test site", *(f"Contact: {c}" for c in contacts)]
    if expires:
        lines.append(f"Expires: {expires}")
    lines += ["Preferred-Languages: en", ""]
    return "\r\n".join(lines).encode()


def rdap_ip_answer(address: str, abuse_email: str = "abuse@hosting.test") -> bytes:
    """An RDAP ip network answer shaped like a regional registry's (RFC 9083): the abuse
    role entity sits inside the registrant organisation's entities, next to a technical
    contact whose address must not be taken."""
    def vcard(name: str, kind: str, email: str) -> list:
        return ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", name],
                          ["kind", {}, "text", kind],
                          ["email", {"type": "work"}, "text", email],
                          ["tel", {"type": ["work", "voice"]}, "uri", "tel:+1-555-0100"]]]
    answer = {
        "rdapConformance": ["rdap_level_0", "nro_rdap_profile_0", "cidr0"],
        "objectClassName": "ip network",
        "handle": "NET-TEST-0001",
        "startAddress": address, "endAddress": address, "ipVersion": "v4",
        "name": "TEST-HOSTING-NET", "type": "ASSIGNED", "country": "ZZ",
        "entities": [{
            "objectClassName": "entity", "handle": "ORG-TH1-TEST", "roles": ["registrant"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"],
                                     ["fn", {}, "text", "Test Hosting Ltd"],
                                     ["kind", {}, "text", "org"]]],
            "entities": [
                {"objectClassName": "entity", "handle": "NOC-TH1-TEST", "roles": ["technical"],
                 "vcardArray": vcard("Network Operations", "group", "noc@hosting.test")},
                {"objectClassName": "entity", "handle": "ABUSE-TH1-TEST", "roles": ["abuse"],
                 "vcardArray": vcard("Abuse Desk", "group", abuse_email)},
            ],
        }],
        "events": [{"eventAction": "registration", "eventDate": "2020-01-01T00:00:00Z"}],
        "links": [{"rel": "self", "href": f"https://rdap.test/ip/{address}",
                   "type": "application/rdap+json"}],
    }
    return json.dumps(answer).encode()


def rdap_answer(address: str = "127.0.0.1", **kwargs) -> Answer:
    return Answer(200, "application/rdap+json", rdap_ip_answer(address, **kwargs))
