"""The favicon: one small SVG in static/, named by both base templates (the site's and the
admin's, which the partner console shares), so no page sends the browser to a missing
/favicon.ico. The browser check that it loads under the CSP is tests/browser/test_csp.py."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tests.builders import make_partner, make_staff

ICON = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    ["/login/", "/partners/apply/", "/no-such-page/", "/admin/login/", "/partner-admin/login/"],
)
def test_every_base_template_names_the_favicon_once(client, path):
    page = client.get(path).content.decode()

    assert page.count('rel="icon"') == 1, path
    assert ICON in page, path


def test_the_signed_in_admin_and_console_pages_name_it_too(client, ecosystem_admin):
    staff = Client()
    staff.force_login(make_staff(make_partner()))

    for who, path in (
        (client, "/admin/"),
        (client, "/admin/partners/partner/"),
        (staff, "/partner-admin/"),
    ):
        response = who.get(path)
        assert response.status_code == 200, path
        assert response.content.decode().count(ICON) == 1, path


def test_the_favicon_is_a_small_svg_that_loads_nothing_and_runs_nothing():
    path = finders.find("favicon.svg")
    assert path is not None
    source = Path(path).read_text(encoding="utf-8")

    root = ElementTree.fromstring(source)

    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(source.encode()) < 2048
    # An SVG icon is an image: nothing in it may need the CSP's script, style or a fetch.
    assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=|href=|url\(", source, re.I)
