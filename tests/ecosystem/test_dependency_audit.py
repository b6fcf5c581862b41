"""The dependency audit (.ci/audit.py): what fails it, what an allow-list entry accepts.

PyPI is the outbound seam here: ``project`` (PyPI's JSON) and ``pip_audit`` (its
vulnerability service) answer from the tables below.
"""

from __future__ import annotations

import datetime
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def audit(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lock = tmp_path / "requirements.lock"
    lock.write_text("django==5.2.19\n    # via ecosystem-gateway\nrequests==2.32.0\n")
    monkeypatch.setattr(module, "LOCK", lock)
    monkeypatch.setattr(module, "ALLOW", tmp_path / "audit-allow.toml")
    module.pypi = {
        "django": {"info": {"version": "5.2.19"}, "releases": {"5.2.19": [{}]}},
        "requests": {"info": {"version": "2.34.0"}, "releases": {"2.32.0": [{}]}},
    }
    module.found = []
    monkeypatch.setattr(module, "project", lambda name: module.pypi.get(name))
    monkeypatch.setattr(module, "pip_audit", lambda: (module.found, []))
    return module


def test_the_lock_file_is_read_pin_by_pin(audit):
    assert audit.pins() == {"django": "5.2.19", "requests": "2.32.0"}


def test_clean_pins_pass(audit):
    assert audit.main() == 0


def test_a_vulnerability_with_a_fix_fails(audit, capsys):
    audit.found = [
        {"package": "requests", "version": "2.32.0", "id": "GHSA-x", "fix_versions": ["2.32.4"]}
    ]
    assert audit.main() == 1
    assert "requests==2.32.0: GHSA-x (fixed in 2.32.4)" in capsys.readouterr().out


def test_a_vulnerability_without_a_fix_is_reported_but_passes(audit, capsys):
    audit.found = [{"package": "requests", "version": "2.32.0", "id": "GHSA-y", "fix_versions": []}]
    assert audit.main() == 0
    assert "GHSA-y has no fixed release yet" in capsys.readouterr().out


def test_an_advisory_on_the_latest_release_counts_from_pypi_json(audit):
    audit.pypi["django"]["vulnerabilities"] = [
        {"id": "PYSEC-1", "fixed_in": ["5.2.20"], "aliases": ["CVE-1"]}
    ]
    assert audit.main() == 1


def test_a_yanked_pin_fails_with_its_reason(audit, capsys):
    audit.pypi["requests"]["releases"]["2.32.0"] = [{"yanked": True, "yanked_reason": "CVE-2"}]
    assert audit.main() == 1
    assert "requests==2.32.0 was yanked: CVE-2" in capsys.readouterr().out


def test_an_allow_list_entry_accepts_until_its_date(audit):
    audit.found = [
        {"package": "requests", "version": "2.32.0", "id": "GHSA-x", "fix_versions": ["2.32.4"]}
    ]
    until = datetime.date.today() + datetime.timedelta(days=30)
    entry = (
        '[[accept]]\nid = "GHSA-x"\npackage = "requests"\nreason = "Not reached."\n'
        f"accepted_on = 2026-12-01\nuntil = {until.isoformat()}\n"
    )
    audit.ALLOW.write_text(entry)
    assert audit.main() == 0
    audit.ALLOW.write_text(entry.replace(until.isoformat(), "2020-01-01"))
    assert audit.main() == 1


def test_an_allow_list_entry_without_a_reason_is_refused(audit):
    audit.ALLOW.write_text('[[accept]]\nid = "GHSA-x"\npackage = "requests"\n')
    with pytest.raises(SystemExit, match="lacks"):
        audit.main()


def test_no_answer_from_pypi_at_all_is_not_a_pass(audit):
    audit.pypi = {}
    assert audit.main() == 2
