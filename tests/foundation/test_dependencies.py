"""Issue 16, finding 11: the dependencies are the tested set, pinned with hashes.

`make` builds .venv from requirements/constraints.txt alone (`pip --require-hashes`), so
the versions a test run sees are the ones in that file; these tests say when the venv, the
file and setup.cfg have drifted apart, and keep setup.cfg's floors past known advisories.
"""

from __future__ import annotations

import configparser
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "requirements" / "constraints.txt"

# Releases with published advisories that setup.cfg must not admit (issue 16, finding 11):
# requests before 2.32.4 (.netrc credentials leaked to other hosts), urllib3 before 2.6
# (unbounded decompression), Flask 3.1.0 (signing with the fallback keys).
ADVISORIES = {"requests": "2.32.3", "urllib3": "2.5.0", "flask": "3.1.0"}


def pins(path: Path = CONSTRAINTS) -> dict[str, tuple[Version, list[str]]]:
    """Name -> (pinned version, its hashes), from a requirements file made by uv."""
    text = path.read_text().replace("\\\n", " ")
    found: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split()
        name, _, version = spec.partition("==")
        assert version, f"{spec!r} in {path.name} is not pinned with =="
        hashes = [o.removeprefix("--hash=") for o in options if o.startswith("--hash=")]
        found[canonicalize_name(name)] = (Version(version), hashes)
    return found


def setup_cfg_requirements() -> list[Requirement]:
    """install_requires and the dev extra, as setup.cfg spells them."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    lines += cfg["options.extras_require"]["dev"].splitlines()
    return [Requirement(line) for line in lines if line.strip()]


def test_every_pin_carries_hashes() -> None:
    pinned = pins()
    assert {"flask", "requests", "urllib3", "pip", "setuptools"} <= pinned.keys()
    unhashed = [name for name, (_, hashes) in pinned.items() if not hashes]
    assert unhashed == []
    assert all(h.startswith("sha256:") for _, hashes in pinned.values() for h in hashes)


def test_the_constraints_hold_a_release_for_everything_setup_cfg_asks() -> None:
    pinned = pins()
    missing, outside = [], []
    for requirement in setup_cfg_requirements():
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            missing.append(name)
        elif not requirement.specifier.contains(pinned[name][0], prereleases=True):
            outside.append(f"{name}=={pinned[name][0]} ({requirement})")
    assert missing == [], "run `make constraints` (README, Upgrading dependencies)"
    assert outside == [], "run `make constraints` (README, Upgrading dependencies)"


def test_setup_cfg_admits_no_release_with_a_known_advisory() -> None:
    asked = {canonicalize_name(r.name): r for r in setup_cfg_requirements()}
    admitted = {
        name: str(asked[name].specifier) if name in asked else "anything (not asked for)"
        for name, release in ADVISORIES.items()
        if name not in asked or asked[name].specifier.contains(release)
    }
    assert admitted == {}
    pinned = pins()
    assert all(pinned[name][0] > Version(release) for name, release in ADVISORIES.items())


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="not running in a virtualenv")
def test_the_venv_holds_exactly_the_pinned_releases() -> None:
    """A package installed by hand, or a pin moved without reinstalling, shows here."""
    installed = {
        canonicalize_name(d.metadata["Name"]): Version(d.version)
        for d in metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) != "conservancy"
    }
    pinned = {name: version for name, (version, _) in pins().items()}
    drift = {
        name: (installed.get(name), pinned.get(name))
        for name in installed.keys() | pinned.keys()
        if installed.get(name) != pinned.get(name)
    }
    assert drift == {}, "(installed, pinned): `rm -rf .venv && make system-libs` reinstalls"


def test_the_production_set_is_the_tested_set_without_the_dev_tools() -> None:
    """requirements/production.txt (the README's production install) pins nothing untested."""
    tested = pins()
    production = pins(REPO / "requirements" / "production.txt")
    untested = {
        name: version
        for name, (version, hashes) in production.items()
        if name not in tested or tested[name] != (version, hashes)
    }
    assert untested == {}
    assert {"flask", "gunicorn", "psycopg", "setuptools"} <= production.keys()
    assert not {"pytest", "mypy", "ruff", "playwright", "uv"} & production.keys()
