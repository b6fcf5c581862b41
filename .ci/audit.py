"""The dependency audit: every pin in requirements.lock against known vulnerabilities.

1. pip-audit over requirements.lock (PyPI's vulnerability service). A vulnerability with a
   fixed version fails the audit unless .ci/audit-allow.toml accepts it, with a reason and a
   date; an allow-list entry past its ``until`` date no longer counts.
2. PyPI's project JSON for each pin (the one PyPI endpoint every machine of ours reaches):
   a pinned release that its maintainers yanked fails the audit, with their reason; when the
   pin is the latest release, the vulnerabilities PyPI lists for it count like pip-audit's.

pip-audit asks PyPI's per-release JSON (/pypi/NAME/VERSION/json). Where that endpoint is not
served (a registry mirror), pip-audit can audit no pin: the script says so in its closing
lines, counts those pins as unaudited, and fails only under AUDIT_STRICT=1.

Exit status: 0 clean, 1 a finding, 2 the audit could not run at all.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import subprocess
import sys
import tomllib
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
ALLOW = ROOT / ".ci" / "audit-allow.toml"
PYPI = os.environ.get("AUDIT_PYPI_JSON", "https://pypi.org/pypi")


def pins() -> dict[str, str]:
    found = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def allowed(today: datetime.date) -> dict[str, dict]:
    """The accepted vulnerabilities still in force, by id (each needs reason and until)."""
    if not ALLOW.exists():
        return {}
    entries = tomllib.loads(ALLOW.read_text()).get("accept", [])
    accepted = {}
    for entry in entries:
        missing = {"id", "package", "reason", "accepted_on", "until"} - entry.keys()
        if missing:
            sys.exit(f"audit-allow.toml: entry {entry.get('id', '?')} lacks {sorted(missing)}")
        if entry["until"] < today:
            print(f"audit: allow-list entry {entry['id']} expired on {entry['until']}")
            continue
        accepted[entry["id"]] = entry
    return accepted


def pip_audit() -> tuple[list[dict], list[str]]:
    """(vulnerabilities found, pins pip-audit could not audit)."""
    result = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
        [
            sys.executable,
            "-m",
            "pip_audit",
            "-r",
            str(LOCK),
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(result.stderr[-2000:], file=sys.stderr)
        sys.exit(2)
    found, skipped = [], []
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped.append(dep["name"])
        for vuln in dep.get("vulns", []):
            found.append({"package": dep["name"], "version": dep["version"], **vuln})
    return found, skipped


def project(name: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{PYPI}/{name}/json", timeout=30) as response:  # noqa: S310
            return json.load(response)
    except OSError:
        return None


def pypi_json(locked: dict[str, str]) -> tuple[list[dict], list[str], list[str]]:
    """(vulnerabilities of pins that are the latest release, yanked pins, unreachable)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = dict(zip(locked, pool.map(project, locked), strict=True))
    vulns, yanked, unreachable = [], [], []
    for name, data in answers.items():
        version = locked[name]
        if data is None:
            unreachable.append(name)
            continue
        files = data.get("releases", {}).get(version) or []
        if files and all(f.get("yanked") for f in files):
            reason = files[0].get("yanked_reason") or "no reason given"
            yanked.append(f"{name}=={version} was yanked: {reason}")
        if data["info"]["version"] == version:
            for vuln in data.get("vulnerabilities") or []:
                vulns.append(
                    {
                        "package": name,
                        "version": version,
                        "id": vuln["id"],
                        "fix_versions": vuln.get("fixed_in") or [],
                        "aliases": vuln.get("aliases") or [],
                    }
                )
    return vulns, yanked, unreachable


def main() -> int:
    today = datetime.datetime.now(datetime.UTC).date()
    locked = pins()
    accepted = allowed(today)
    audited, skipped = pip_audit()
    latest_vulns, yanked, unreachable = pypi_json(locked)

    failures = []
    seen = set()
    for vuln in audited + latest_vulns:
        key = (vuln["package"], vuln["id"])
        if key in seen:
            continue
        seen.add(key)
        ids = {vuln["id"], *vuln.get("aliases", [])}
        if ids & accepted.keys():
            print(f"audit: accepted {vuln['id']} in {vuln['package']} (see audit-allow.toml)")
        elif vuln.get("fix_versions"):
            fixes = ", ".join(vuln["fix_versions"])
            failures.append(
                f"{vuln['package']}=={vuln['version']}: {vuln['id']} (fixed in {fixes})"
            )
        else:
            print(f"audit: {vuln['package']} {vuln['id']} has no fixed release yet")
    failures += yanked

    for line in failures:
        print(f"audit: FAIL {line}")
    pip_audited = len(locked) - len(skipped)
    print(
        f"audit: {len(locked)} pins; pip-audit audited {pip_audited}"
        f" ({len(skipped)} not served by its vulnerability service);"
        f" PyPI JSON checked {len(locked) - len(unreachable)} for yanked releases"
        f" and latest-release advisories; {len(accepted)} allow-list entries in force;"
        f" {len(failures)} findings"
    )
    if failures:
        return 1
    if len(unreachable) == len(locked):
        print("audit: PyPI's JSON API is not reachable: the audit did not run")
        return 2
    if skipped and os.environ.get("AUDIT_STRICT") == "1":
        print("audit: AUDIT_STRICT=1 and some pins could not be audited by pip-audit")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
