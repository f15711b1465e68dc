"""What a project looks like on every audience's pages: its colours, its logo, its button.

Shared by the public pages, the API's button and the treasurers' pages, so that none
of them imports another's views.
"""

from __future__ import annotations

import re

from flask import url_for
from markupsafe import escape

from conservancy.projects.models import Project

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def brand(project: Project) -> dict[str, str | None]:
    """The project's colours (only well-formed ones reach the style attribute) and logo."""
    return {
        "primary": project.primary_colour if _COLOUR.match(project.primary_colour) else None,
        "accent": project.accent_colour if _COLOUR.match(project.accent_colour) else None,
        "logo": _logo_url(project.logo_path) if project.logo_path else None,
    }


def _logo_url(path: str) -> str:
    """An uploaded logo (``logos/<name>``, see projects.settings) or a file under static/."""
    if path.startswith("logos/"):
        return url_for("files.logo", name=path.removeprefix("logos/"))
    return url_for("static", filename=path)


def embed_snippet(project: Project, base_url: str) -> str:
    """The HTML a project pastes into its own site: the button, linking to its donation page."""
    donate = f"{base_url}/donate/{project.slug}"
    image = f"{base_url}/api/v1/projects/{project.slug}/button.svg"
    name = escape(project.name)
    return f'<a href="{donate}"><img src="{image}" alt="Donate to {name}" height="28"></a>'
