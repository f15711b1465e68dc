"""``conservancy stripe stand-in``: options, and a clear refusal when the port is taken."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from conservancy.cli.stripe import stripe


def test_help_names_the_options() -> None:
    result = CliRunner().invoke(stripe, ["stand-in", "--help"])
    assert result.exit_code == 0
    for option in ("--port", "--webhook-url", "--webhook-secret", "12111"):
        assert option in result.output


def test_a_taken_port_is_a_one_line_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(stripe, ["stand-in", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
