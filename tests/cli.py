"""The ``conservancy`` command run in the test's own process.

Starting the console script costs most of a second of CPU before it does anything
(Python, SQLAlchemy, the runtime's modules), and the suite ran it some six hundred times.
:func:`invoke` runs the same click command with click's test runner instead: the same
commands, options, environment-made settings, output streams and exit status, and an
unexpected exception still reaches stderr as a traceback. It answers as
``subprocess.run`` does, so a test reads it the same way either way.

What a real process alone can show stays in one: the console script as installed and an
operator runs it (tests/foundation/test_cli.py and its neighbours), servers and workers
(`serve`, `demo`, `worker`), and everything that kills, crashes or races processes
(tests/ledger/processes.py's helpers).
"""

from __future__ import annotations

import os
import subprocess
import traceback
from collections.abc import Mapping

from click.testing import CliRunner

from conservancy.cli import commands
from conservancy.infra.config import Settings
from tests.environment import settings_env


def invoke(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``conservancy *args`` with ``env``'s ``CONSERVANCY_*`` settings (and none of this
    process's others) as its environment, as a CompletedProcess."""
    settings: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("CONSERVANCY_")
    }
    settings.update({k: v for k, v in env.items() if k.startswith("CONSERVANCY_")})
    result = CliRunner().invoke(
        commands(), list(args), env=settings, prog_name="conservancy", catch_exceptions=True
    )
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # What Python prints when an exception ends a process.
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(
        ["conservancy", *args], result.exit_code, result.stdout, stderr
    )


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """``conservancy *args`` with the test's ``settings``, as :func:`invoke` runs it."""
    return invoke(settings_env(settings), *args)
