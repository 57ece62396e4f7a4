"""One parser for a site's fields (records.sites.parse_site_fields): the API's JSON, the UI's
form and the CLI's options give the same NewSite, and a bad field is one clear error."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from spinneret.records.errors import InvalidSite
from spinneret.records.sites import parse_site_fields
from spinneret.records.types import NewSite

EXPECTED = {
    "base_url": "http://example.test/", "name": "ex", "owner_email": "o@example.test",
    "max_pages": 5, "max_depth": 2, "rate_per_s": 1.5, "ignore_robots": True,
    "include_patterns": ("/a", "/b"), "exclude_patterns": ("/private",),
}


def test_json_and_form_give_the_same_site():
    json_fields = parse_site_fields({
        "url": "http://example.test/", "name": "ex", "owner_email": "o@example.test",
        "max_pages": 5, "max_depth": 2, "rate_per_s": 1.5, "ignore_robots": True,
        "include": ["/a", "/b"], "exclude": ["/private"],
    })
    form_fields = parse_site_fields(MultiDict({
        "url": " http://example.test/ ", "name": "ex", "owner_email": "o@example.test",
        "abuse_email": "", "max_pages": "5", "max_depth": " 2", "rate_per_s": "1.5",
        "ignore_robots": "on", "include": "/a\n\n /b \n", "exclude": "/private",
        "csrf": "token-of-the-form",  # not a site field: passed over
    }), form=True)
    assert json_fields == form_fields == EXPECTED
    assert NewSite(**json_fields).include_patterns == ("/a", "/b")


def test_json_null_clears_and_absent_leaves_alone():
    assert parse_site_fields({"max_pages": None, "hosts": ["b.test"]}) == {
        "max_pages": None, "hosts": ("b.test",)}
    # An unchecked box is not sent by a browser: robots are obeyed.
    assert parse_site_fields({}, form=True) == {"ignore_robots": False}


@pytest.mark.parametrize(("data", "form", "says"), [
    ({"url": "http://x/", "colour": "red"}, False, "unknown site field(s): colour"),
    ({"max_pages": "5"}, False, "field 'max_pages' must be an integer"),
    ({"max_depth": True}, False, "field 'max_depth' must be an integer"),
    ({"rate_per_s": "fast"}, False, "field 'rate_per_s' must be an integer or a number"),
    ({"include": ["/a", 3]}, False, "field 'include' must be a list of strings"),
    ({"name": "a\x00b"}, False, "field 'name' must not contain NUL characters"),
    ({"max_pages": "five"}, True, "max pages must be a whole number"),
    ({"rate_per_s": "1,5"}, True, "rate must be a number of requests per second"),
    ({"name": "a\x00b"}, True, "form field 'name' must not contain NUL characters"),
])
def test_a_bad_field_is_named(data, form, says):
    with pytest.raises(InvalidSite) as raised:
        parse_site_fields(data, form=form)
    assert str(raised.value) == says
