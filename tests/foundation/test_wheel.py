"""The README's production install: the wheel, installed in a fresh virtualenv outside the
checkout, carries its templates, static files and migrations, so `conservancy init` migrates
and `conservancy serve` serves a project's donation page.

The wheel is built as the README's step 2 builds it, with the setuptools already installed
(`--no-build-isolation`); the dependencies come from the package index, or pip's cache, as
requirements/production.txt lists them, checked by hash (installed by uv, pip's drop-in, when
it is beside this Python: see the test). Without an index to reach the test skips and says
so. Nothing is byte-compiled at install: Python compiles what it imports all the same, and
compiling all of every package took a third of the test's time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from datetime import datetime
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from tests.foundation.test_demo import free_port
from tests.receipts.pdfs import WEASYPRINT_PROBLEM

CHECKOUT = Path(__file__).resolve().parents[2]
SHIPPED = ("templates", "static", "migrations")  # top-level folders the wheel carries
STARTUP_LIMIT = 60.0  # seconds; a bound on waiting, not a performance claim
SLUG, NAME = "tinyproj", "Tiny Project"

pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    """This process's environment without our settings or anything that finds the checkout;
    and Python keeps the bytecode it compiles, as on a server (this machine may say not to,
    and the venv, installed without byte-compiling, would compile each module it imports
    again in every process)."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
    for name in drop:
        env.pop(name, None)
    return env


def run(args: list[str | Path], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env={**clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def pip_or_skip(args: list[str | Path], cwd: Path) -> None:
    """Run pip; if it fails because no package index answers, skip the test, saying so."""
    done = run(args, cwd)
    if done.returncode == 0:
        return
    probe = run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", cwd / "probe", "flask"], cwd
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(nothing said)"])[-1]
        pytest.skip(f"no package index to install the wheel's dependencies from: {last}")
    pytest.fail(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")


def checkout_copy(into: Path) -> Path:
    """The checkout as `pip install .` reads it, without what runs or builds leave in it."""
    anywhere = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*_cache")
    at_the_top = {".git", ".venv", "build", "dist", "instance", "ledgers", "receipts", "bench"}

    def ignored(folder: str, names: list[str]) -> set[str]:
        top = {n for n in names if n in at_the_top} if Path(folder) == CHECKOUT else set()
        return top | set(anywhere(folder, names))

    shutil.copytree(CHECKOUT, into, ignore=ignored)
    return into


def shipped_files() -> set[str]:
    return {
        path.relative_to(CHECKOUT).as_posix()
        for folder in SHIPPED
        for path in (CHECKOUT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=STARTUP_LIMIT) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def test_the_wheel_installed_outside_the_checkout_initialises_and_serves(
    tmp_path: Path,
) -> None:
    # The wheel, built as `pip install .` builds it.
    dist = tmp_path / "dist"
    source = checkout_copy(tmp_path / "source")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    pip_or_skip([*build, source, "-w", dist], tmp_path)
    [wheel] = dist.glob("conservancy-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        carried = {n.removeprefix("conservancy/") for n in archive.namelist()}
    assert shipped_files() <= carried, "the wheel lacks files of templates/, static/, migrations/"
    assert not any("__pycache__" in name for name in carried)

    # A fresh virtualenv that cannot see the checkout, the wheel installed in it.
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", venv], tmp_path)
    assert made.returncode == 0, made.stderr
    python, conservancy = venv / "bin" / "python", venv / "bin" / "conservancy"
    # As the README's step 2: the tested releases, checked by hash, then the wheel alone.
    # The releases through uv (a dev dependency, beside this Python), pip's drop-in, which
    # installs the same files from the same list in a second rather than forty; the wheel
    # itself, and the check that nothing is missing, through pip as the README has it.
    production = CHECKOUT / "requirements" / "production.txt"
    pip = [python, "-m", "pip", "--disable-pip-version-check", "install", "--no-compile"]
    uv = Path(sys.executable).with_name("uv")
    releases = ["--require-hashes", "--no-deps", "--requirement", production]
    if uv.is_file():
        pip_or_skip([uv, "pip", "install", "--python", python, *releases], tmp_path)
    else:
        pip_or_skip([*pip, *releases], tmp_path)
    pip_or_skip([*pip, "--no-deps", wheel], tmp_path)
    checked = run([python, "-m", "pip", "--disable-pip-version-check", "check"], tmp_path)
    assert checked.returncode == 0, "requirements/production.txt lacks: " + checked.stdout
    site = tmp_path / "site"
    site.mkdir()
    where = run([python, "-c", "import conservancy; print(conservancy.__file__)"], site)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    # The README's steps, in a folder of the site's own, with the default (relative) folders.
    settings = {"CONSERVANCY_ENV": "test"}
    init = run(
        [
            conservancy,
            "init",
            "--sponsor-name",
            "Example Sponsor, Inc.",
            "--ein",
            "12-3456789",
            "--address",
            "1 Main Street\nBrooklyn, NY 11201",
        ],
        site,
        **settings,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert (site / "ledgers" / "main.beancount").is_file()
    assert (site / "instance" / "conservancy.db").is_file()
    added = run([conservancy, "project", "add", SLUG, "--name", NAME], site, **settings)
    assert added.returncode == 0, added.stdout + added.stderr

    # A statement PDF, drawn from the wheel's templates (WeasyPrint needs pango, as ours does).
    if WEASYPRINT_PROBLEM is None:
        statement = site / "statement.pdf"
        first = f"{datetime.now(ZoneInfo('America/New_York')).year}-01-01"  # the books open
        period = ["--from", first, "--to", first]
        drawn = run(
            [conservancy, "statement", SLUG, *period, "--format", "pdf", "--out", statement],
            site,
            **settings,
        )
        assert drawn.returncode == 0, drawn.stdout + drawn.stderr
        assert NAME in PdfReader(BytesIO(statement.read_bytes())).pages[0].extract_text()

    # Served: the donation page, and its style sheet.
    port = free_port()
    log = site / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(conservancy), "serve", "--port", str(port), "--workers", "1"],
            cwd=site,
            env={**clean_env(), **settings},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"conservancy serve exited with {server.returncode}:\n{log.read_text()}"
                )
            try:
                status, page = get(f"http://127.0.0.1:{port}/donate/{SLUG}")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"conservancy serve did not answer:\n{log.read_text()}")
                time.sleep(0.2)
        assert status == 200, page
        assert NAME in page
        assert get(f"http://127.0.0.1:{port}/static/site.css")[0] == 200
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
