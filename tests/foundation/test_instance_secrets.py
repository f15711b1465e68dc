"""A demo or test instance signs its sessions with a random key of its own, kept in its
instance folder, and serves this machine only (issue 16, finding 7)."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conservancy.infra.config import Environment, Settings, SettingsError, instance_key

CONSERVANCY = Path(sys.executable).parent / "conservancy"


def demo_settings(folder: Path) -> Settings:
    return Settings(env=Environment.DEMO, instance_dir=folder)


def test_each_demo_instance_has_its_own_random_key_kept_in_its_folder(tmp_path: Path) -> None:
    first = demo_settings(tmp_path / "one").web_secret_key()
    second = demo_settings(tmp_path / "two").web_secret_key()

    assert first != second
    assert len(first) >= 32
    kept = tmp_path / "one" / "secret_key"
    assert kept.read_text().strip() == first
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # its owner's only
    instance_key.cache_clear()  # as a new process would: read from the folder
    assert demo_settings(tmp_path / "one").web_secret_key() == first


def test_the_key_is_made_once_when_processes_race_for_it(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from conservancy.infra.config import instance_key; "
        "print(instance_key(Path(sys.argv[1])))"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {run.communicate(timeout=60)[0].strip() for run in runs}
    assert keys == {(tmp_path / "secret_key").read_text().strip()}


def test_a_configured_key_is_used_and_production_still_requires_one(tmp_path: Path) -> None:
    given = Settings(env=Environment.DEMO, instance_dir=tmp_path, secret_key="k" * 40)
    assert given.web_secret_key() == "k" * 40
    assert not (tmp_path / "secret_key").exists()
    with pytest.raises(SettingsError, match="CONSERVANCY_SECRET_KEY is required"):
        Settings(env=Environment.PRODUCTION, instance_dir=tmp_path).web_secret_key()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org"])
def test_serve_outside_production_refuses_to_listen_beyond_this_machine(
    tmp_path: Path, host: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
    env.update(CONSERVANCY_ENV="demo", CONSERVANCY_INSTANCE_DIR=str(tmp_path / "instance"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    result = subprocess.run(
        [str(CONSERVANCY), "serve", "--host", host, "--port", str(port)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1, lines
    assert "serves this machine only" in lines[0]


def test_a_gunicorn_file_binding_every_address_is_refused_outside_production(
    tmp_path: Path,
) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text('bind = "0.0.0.0:8000"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
    env.update(CONSERVANCY_ENV="test", CONSERVANCY_INSTANCE_DIR=str(tmp_path / "instance"))

    result = subprocess.run(
        [str(CONSERVANCY), "serve", "--config", str(conf)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1, lines  # gunicorn's own "Error: ..." line, no traceback
    assert "serves this machine only" in lines[0]


def test_loopback_is_served_in_every_environment() -> None:
    for env in Environment:
        for host in ("127.0.0.1", "::1", "[::1]", "localhost"):
            Settings(env=env).refuse_open_bind(host)
    Settings(env=Environment.PRODUCTION).refuse_open_bind("0.0.0.0")
