"""Where the files the package ships are: the templates, the static files, the migrations.

They are kept at the top of the checkout (``templates/``, ``static/``, ``migrations/``) and
setup.py maps them into the package as ``conservancy.templates``, ``conservancy.static`` and
``conservancy.migrations``, so an installed wheel and an editable checkout are asked alike,
through importlib.resources, never through a path relative to the source tree.

Jinja, Flask and Alembic want real folders: for a package installed as files (a wheel, an
editable install) ``as_file`` hands the folder itself; the paths stay valid until exit.
"""

from __future__ import annotations

import atexit
from contextlib import ExitStack
from functools import cache
from importlib.resources import as_file, files
from pathlib import Path

_held = ExitStack()
atexit.register(_held.close)


@cache
def _folder(package: str) -> Path:
    try:
        found = files(package)
    except ModuleNotFoundError:
        # An install from before the mapping (editable_mode=compat) cannot see the folders.
        raise RuntimeError(
            f"{package} is not installed: install conservancy again "
            "(make system-libs, or pip install --editable .)"
        ) from None
    return _held.enter_context(as_file(found))


def templates() -> Path:
    """The Jinja templates: the site's pages, mail, receipts and reports."""
    return _folder("conservancy.templates")


def static() -> Path:
    """The site's style sheets and images, served under /static."""
    return _folder("conservancy.static")


def migrations() -> Path:
    """Alembic's script location: env.py and versions/."""
    return _folder("conservancy.migrations")
