"""Who to notify: override > registered > security.txt > RDAP abuse contact, cached per host.

Real parts only: a loopback HTTP server serves security.txt and an RDAP service, the
database is SQLite or PostgreSQL (SPINNERET_TEST_DATABASE=postgres), mail goes through
the real `smtp` fixture. Nothing reaches the network: hosts are 127.0.0.1 or names pinned
to it with the crawler's StaticResolver.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from spinneret.crawler.ssrf import StaticResolver
from spinneret.notices import rdap, security_txt
from spinneret.notices.contacts import ContactResolver
from spinneret.notices.service import NoticeService
from spinneret.records.contacts import (
    NO_CONTACT,
    ContactRepository,
    InvalidContact,
    normalise_host,
)
from spinneret.records.models import Delivery, Notice, Site
from spinneret.records.sites import to_record
from tests.notices.conftest import sending_now
from tests.notices.contact_servers import (
    SECURITY_TXT_PATH,
    Answer,
    LoopbackServer,
    rdap_answer,
    rdap_ip_answer,
)
from tests.notices.contact_servers import (
    security_txt as security_txt_file,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RDAP_PATH = "/ip/127.0.0.1"


@pytest.fixture
def site_server():
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def rdap_server():
    with LoopbackServer() as server:
        server.routes[RDAP_PATH] = rdap_answer()
        yield server


@pytest.fixture
def lookup_settings(settings, rdap_server):
    settings.rdap_base_url = rdap_server.url
    settings.contact_lookup_timeout_s = 5
    return settings


def unregistered_site(db, base_url: str, name: str = "reported"):
    """A site known only from a report: no owner e-mail, abuse e-mail or webhook (the
    registration form refuses such sites, so the row is written directly)."""
    with db.session() as session:
        row = Site(name=name, base_url=base_url, hosts=[normalise_host(base_url)],
                   include_patterns=[], exclude_patterns=[], owner_email="")
        session.add(row)
        session.flush()
        return to_record(row)


def resolver(db, settings, clock, **kwargs) -> ContactResolver:
    return ContactResolver.from_settings(db, settings, clock=clock, **kwargs)


# --- security.txt and RDAP parsing (pure) -------------------------------------------------

def test_security_txt_mailto_contacts_in_order_other_kinds_ignored():
    text = security_txt_file("mailto:security@site.test", "https://site.test/report",
                             "tel:+1-555-0101", "mailto:abuse@site.test?subject=Report",
                             "mailto:security@site.test").decode()
    parsed = security_txt.parse(text, now=NOW)
    assert parsed.emails == ["security@site.test", "abuse@site.test"]
    assert parsed.problem == ""
    assert parsed.expires == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_security_txt_signed_inline_is_read_between_the_armor_lines():
    text = ("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
            "Contact: mailto:signed@site.test\nExpires: 2099-01-01T00:00:00.000Z\n"
            "-----BEGIN PGP SIGNATURE-----\n\nContact: mailto:not-signed@site.test\n"
            "-----END PGP SIGNATURE-----\n")
    assert security_txt.parse(text, now=NOW).emails == ["signed@site.test"]


@pytest.mark.parametrize(("text", "problem"), [
    ("Contact: mailto:old@site.test\nExpires: 2020-01-01T00:00:00Z\n", "expired on 2020"),
    ("Contact: mailto:x@site.test\nExpires: next tuesday\n", "is not a date"),
    ("Contact: https://site.test/report\nExpires: 2099-01-01T00:00:00Z\n", "no Contact"),
    ("<html><body>Not found</body></html>", "no Contact"),
    ("Contact: mailto:not an address\n", "no Contact"),
])
def test_security_txt_without_usable_contact_says_why(text, problem):
    parsed = security_txt.parse(text, now=NOW)
    assert parsed.emails == []
    assert problem in parsed.problem


def test_rdap_abuse_entity_found_nested_and_other_roles_ignored():
    import json

    answer = json.loads(rdap_ip_answer("198.51.100.7", abuse_email="abuse@isp.test"))
    [(email, detail)] = rdap.abuse_contacts(answer)
    assert email == "abuse@isp.test"
    assert "ABUSE-TH1-TEST" in detail and "NET-TEST-0001" in detail


def test_rdap_answers_without_abuse_contact_or_malformed():
    assert rdap.abuse_contacts({"objectClassName": "ip network", "entities": [
        {"roles": ["abuse"], "vcardArray": ["vcard", "not a list"]},
        {"roles": "abuse", "vcardArray": ["vcard", [["email", {}, "text", "a@b.test"]]]},
        {"roles": ["abuse"], "vcardArray": ["vcard", [["email", {}, "text", "junk"]]]},
    ]}) == []
    with pytest.raises(ValueError, match="not a JSON object"):
        rdap.abuse_contacts(["not", "an", "object"])


@pytest.mark.parametrize(("given", "host"), [
    ("Example.ORG", "example.org"), ("example.org:8443", "example.org"),
    ("https://Example.org/page?x=1", "example.org"), ("127.0.0.1", "127.0.0.1"),
    ("[2001:db8::1]", "2001:db8::1"), ("example.org.", "example.org"),
])
def test_hosts_are_keyed_by_lower_case_name_without_port(given, host):
    assert normalise_host(given) == host


@pytest.mark.parametrize("bad", ["", "  ", "exa mple.org", "a/b", "x@y.test"])
def test_bad_host_is_a_clear_error(bad):
    with pytest.raises(InvalidContact, match="is not a host name"):
        normalise_host(bad)


# --- the resolver against loopback servers -------------------------------------------------

async def test_order_override_then_registered_then_security_txt_then_rdap(
        db, lookup_settings, clock, site_server, rdap_server, make_site):
    registered = make_site("registered", owner_email="owner@site.test",
                           abuse_email="abuse@site.test", base_url=site_server.url)
    contacts = resolver(db, lookup_settings, clock)
    # Registered contacts come first, without any lookup.
    found = await contacts.resolve("127.0.0.1", site=registered)
    assert [(c.email, c.source) for c in found.contacts] == [
        ("owner@site.test", "registered"), ("abuse@site.test", "registered")]
    assert site_server.requests == [] and rdap_server.requests == []
    # An override wins over them.
    ContactRepository(db).set_override("127.0.0.1", "hotline@site.test", note="asked by phone",
                                       actor="test", now=clock.now())
    found = await contacts.resolve("127.0.0.1", site=registered)
    assert [(c.email, c.source, c.detail) for c in found.contacts] == [
        ("hotline@site.test", "override", "asked by phone")]
    ContactRepository(db).clear_override("127.0.0.1", actor="test")
    # No registered contact: security.txt, then (when it has none) RDAP.
    reported = unregistered_site(db, site_server.url)
    site_server.routes[SECURITY_TXT_PATH] = Answer(body=security_txt_file(
        "mailto:security@site.test"))
    found = await contacts.resolve("127.0.0.1", site=reported)
    assert [(c.email, c.source) for c in found.contacts] == [("security@site.test",
                                                              "security.txt")]
    assert found.contacts[0].detail == f"{site_server.url}.well-known/security.txt"
    assert rdap_server.requests == []
    del site_server.routes[SECURITY_TXT_PATH]
    found = await contacts.resolve("127.0.0.1", site=reported, refresh=True)
    assert [(c.email, c.source) for c in found.contacts] == [("abuse@hosting.test", "rdap")]
    assert "ABUSE-TH1-TEST" in found.contacts[0].detail
    assert rdap_server.requests == [RDAP_PATH]
    assert any("security.txt: HTTP 404" in e for e in found.errors)


@pytest.mark.parametrize(("answer", "why"), [
    (Answer(body=security_txt_file("mailto:old@site.test", expires="2020-01-01T00:00:00Z")),
     "expired on 2020-01-01"),
    (None, "HTTP 404"),
    (Answer(body=b"\x89PNG\r\n\x1a\n\x00\x00garbage\xff\xfe"), "not UTF-8"),
    (Answer(body=b"Contact me maybe\nwhatever: 1\n"), "no Contact: mailto: line"),
    (Answer(content_type="text/html", body=b"<html>Contact: mailto:a@b.test</html>"),
     "served as text/html"),
])
async def test_unusable_security_txt_is_absent_and_rdap_answers(
        db, lookup_settings, clock, site_server, answer, why):
    if answer is not None:
        site_server.routes[SECURITY_TXT_PATH] = answer
    reported = unregistered_site(db, site_server.url)
    found = await resolver(db, lookup_settings, clock).resolve("127.0.0.1", site=reported)
    assert [(c.email, c.source) for c in found.contacts] == [("abuse@hosting.test", "rdap")]
    assert any(why in error for error in found.errors), found.errors


async def test_cache_is_used_until_it_expires_then_looked_up_again(
        db, lookup_settings, clock, site_server, rdap_server):
    site_server.routes[SECURITY_TXT_PATH] = Answer(body=security_txt_file("mailto:s@site.test"))
    reported = unregistered_site(db, site_server.url)
    lookup_settings.contact_cache_ttl_s = 3600
    contacts = resolver(db, lookup_settings, clock)
    first = await contacts.resolve("127.0.0.1", site=reported)
    assert not first.from_cache
    assert (first.expires_at - first.fetched_at).total_seconds() == 3600
    clock.advance(3599)
    again = await contacts.resolve("127.0.0.1", site=reported)
    assert again.from_cache and [c.email for c in again.contacts] == ["s@site.test"]
    assert site_server.count(SECURITY_TXT_PATH) == 1
    # --refresh looks up at once, whatever the cache says.
    await contacts.resolve("127.0.0.1", site=reported, refresh=True)
    assert site_server.count(SECURITY_TXT_PATH) == 2
    clock.advance(3601)
    site_server.routes[SECURITY_TXT_PATH] = Answer(body=security_txt_file("mailto:new@site.test"))
    fresh = await contacts.resolve("127.0.0.1", site=reported)
    assert not fresh.from_cache and [c.email for c in fresh.contacts] == ["new@site.test"]
    assert site_server.count(SECURITY_TXT_PATH) == 3


async def test_nothing_found_is_cached_for_the_shorter_negative_ttl(
        db, lookup_settings, clock, site_server, rdap_server):
    rdap_server.routes[RDAP_PATH] = Answer(200, "application/rdap+json",
                                           b'{"objectClassName": "ip network"}')
    lookup_settings.contact_cache_ttl_s = 7 * 24 * 3600
    lookup_settings.contact_negative_cache_ttl_s = 600
    reported = unregistered_site(db, site_server.url)
    contacts = resolver(db, lookup_settings, clock)
    found = await contacts.resolve("127.0.0.1", site=reported)
    assert found.contacts == () and found.source == NO_CONTACT
    assert (found.expires_at - found.fetched_at).total_seconds() == 600
    assert any("rdap: no abuse contact" in e for e in found.errors)
    clock.advance(300)
    assert (await contacts.resolve("127.0.0.1", site=reported)).from_cache
    clock.advance(301)
    rdap_server.routes[RDAP_PATH] = rdap_answer()
    later = await contacts.resolve("127.0.0.1", site=reported)
    assert [c.email for c in later.contacts] == ["abuse@hosting.test"]
    assert rdap_server.count(RDAP_PATH) == 2


async def test_rdap_down_is_a_recorded_failure_not_a_crash(db, settings, clock, site_server):
    from tests.notices.smtp_server import free_port

    settings.rdap_base_url = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    reported = unregistered_site(db, site_server.url)
    found = await resolver(db, settings, clock).resolve("127.0.0.1", site=reported)
    assert found.contacts == ()
    assert any(e.startswith("rdap: connection") for e in found.errors), found.errors
    cached = ContactRepository(db).cached("127.0.0.1")
    assert cached.source == NO_CONTACT and cached.errors == found.errors


async def test_rdap_garbage_answer_is_recorded(db, lookup_settings, clock, site_server,
                                               rdap_server):
    rdap_server.routes[RDAP_PATH] = Answer(200, "application/rdap+json", b"{not json")
    reported = unregistered_site(db, site_server.url)
    found = await resolver(db, lookup_settings, clock).resolve("127.0.0.1", site=reported)
    assert found.contacts == ()
    assert any("rdap: unreadable answer" in e for e in found.errors)


async def test_lookups_obey_the_network_policy(db, lookup_settings, clock, site_server,
                                               rdap_server):
    """The deployment's default refuses loopback: nothing is fetched, the refusal is
    recorded (the tests' settings allow private networks, as the crawler tests do)."""
    site_server.routes[SECURITY_TXT_PATH] = Answer(body=security_txt_file("mailto:s@site.test"))
    strict = lookup_settings.model_copy(update={"allow_private_networks": False})
    reported = unregistered_site(db, site_server.url)
    found = await resolver(db, strict, clock).resolve("127.0.0.1", site=reported)
    assert found.contacts == ()
    assert site_server.requests == [] and rdap_server.requests == []
    assert any("ssrf_blocked" in e and "not public" in e for e in found.errors), found.errors


async def test_names_resolve_through_the_injected_resolvers(db, lookup_settings, clock,
                                                            site_server, rdap_server):
    base_url = f"http://site.test:{site_server.port}/"
    site_server.routes[SECURITY_TXT_PATH] = Answer(status=500)
    reported = unregistered_site(db, base_url)

    async def addresses(host: str) -> list[str]:
        assert host == "site.test"
        return ["127.0.0.1"]

    found = await resolver(db, lookup_settings, clock, addresses=addresses,
                           http_resolver=StaticResolver({"site.test": ["127.0.0.1"]})
                           ).resolve("site.test", site=reported)
    assert [c.email for c in found.contacts] == ["abuse@hosting.test"]
    assert any("HTTP 500" in e for e in found.errors)


async def test_override_is_validated_and_cleared(db, clock):
    repo = ContactRepository(db)
    with pytest.raises(InvalidContact, match="is not an e-mail address"):
        repo.set_override("site.test", "not-an-address", actor="test", now=clock.now())
    assert repo.override("site.test") is None
    repo.set_override("Site.Test:8443", "a@site.test", actor="test", now=clock.now())
    repo.set_override("site.test", "b@site.test", note="newer", actor="test", now=clock.now())
    assert repo.override("site.test").email == "b@site.test"
    assert repo.clear_override("site.test", actor="test") is True
    assert repo.clear_override("site.test", actor="test") is False


# --- the notice path ----------------------------------------------------------------------

@pytest.fixture
def service(db, lookup_settings, clock, smtp) -> NoticeService:
    return NoticeService(db, sending_now(lookup_settings, smtp), clock=clock)


def _deliveries(db) -> list[tuple[str, str, str, str]]:
    with db.session() as session:
        return [(d.recipient, d.recipient_source, d.kind, d.status) for d in session.scalars(
            select(Delivery).order_by(Delivery.id))]


async def test_unregistered_site_is_notified_at_its_security_txt_contact(
        service, db, smtp, site_server, rdap_server, record_match):
    site_server.routes[SECURITY_TXT_PATH] = Answer(body=security_txt_file(
        "mailto:security@site.test"))
    reported = unregistered_site(db, site_server.url)
    record_match(reported, f"{site_server.url}img/1.png")
    result = await service.send_once()
    assert len(result.sent) == 1
    [received] = smtp.messages
    assert received.rcpt_tos == ["security@site.test"]
    assert _deliveries(db) == [("security@site.test", "security.txt", "initial", "sent")]
    [view] = service.list()
    assert [(d.recipient, d.recipient_source) for d in view.deliveries] == [
        ("security@site.test", "security.txt")]
    assert view.to_json()["deliveries"][0]["recipient_source"] == "security.txt"
    assert rdap_server.requests == []


async def test_registered_site_is_notified_as_before_with_source_registered(
        service, db, smtp, site_server, rdap_server, record_match, make_site):
    site = make_site(owner_email="owner@example.org", base_url=site_server.url)
    record_match(site, f"{site_server.url}img/1.png")
    await service.send_once()
    assert [m.rcpt_tos for m in smtp.messages] == [["owner@example.org"]]
    assert _deliveries(db) == [("owner@example.org", "registered", "initial", "sent")]
    assert site_server.requests == [] and rdap_server.requests == []


async def test_override_replaces_the_registered_owner_for_its_host(
        service, db, smtp, site_server, record_match, make_site, clock):
    site = make_site(owner_email="owner@example.org", base_url=site_server.url)
    ContactRepository(db).set_override("127.0.0.1", "legal@site.test", actor="test",
                                       now=clock.now())
    record_match(site, f"{site_server.url}img/1.png")
    await service.send_once()
    assert [m.rcpt_tos for m in smtp.messages] == [["legal@site.test"]]
    assert _deliveries(db) == [("legal@site.test", "override", "initial", "sent")]


async def test_no_contact_anywhere_fails_the_notice_with_the_reason_kept(
        service, db, smtp, site_server, record_match):
    from tests.notices.smtp_server import free_port

    service.settings.rdap_base_url = f"http://127.0.0.1:{free_port()}/"
    reported = unregistered_site(db, site_server.url)
    record_match(reported, f"{site_server.url}img/1.png")
    result = await service.send_once()  # does not raise
    assert result.sent == [] and smtp.messages == []
    with db.session() as session:
        assert session.scalar(select(Notice.status)) == "failed"
    cached = ContactRepository(db).cached("127.0.0.1")
    assert any("security.txt: HTTP 404" in e for e in cached.errors)
    assert any(e.startswith("rdap: connection") for e in cached.errors)


async def test_rdap_contact_used_when_security_txt_is_missing(
        service, db, smtp, site_server, rdap_server, record_match):
    reported = unregistered_site(db, site_server.url)
    record_match(reported, f"{site_server.url}img/1.png")
    await service.send_once()
    assert [m.rcpt_tos for m in smtp.messages] == [["abuse@hosting.test"]]
    assert _deliveries(db) == [("abuse@hosting.test", "rdap", "initial", "sent")]


async def test_a_host_that_never_resolves_is_given_up_on_and_recorded(
        db, lookup_settings, clock, smtp, site_server, record_match):
    """The service passes its lookup options on (here: a DNS answer that never comes)."""
    import asyncio

    lookup_settings.contact_lookup_timeout_s = 0.2
    lookup_settings.notice_batch_window_s = 0
    lookup_settings.smtp_port = smtp.port
    never = asyncio.Event()

    async def hanging(host: str) -> list[str]:
        await never.wait()
        return []

    service = NoticeService(db, lookup_settings, clock=clock,
                            contact_lookup={"addresses": hanging})
    reported = unregistered_site(db, site_server.url)
    record_match(reported, f"{site_server.url}img/1.png")
    [found] = await service.prepare_contacts()
    assert found.contacts == ()
    assert "rdap: 127.0.0.1 did not resolve within 0.2s" in found.errors
    await service.send_once()  # the cached "nothing found" is used: no second lookup wait
    assert smtp.messages == []
