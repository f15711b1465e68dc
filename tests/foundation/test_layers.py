"""The layers of ARCHITECTURE.md, checked: every import in every module under conservancy/.

Each module is parsed with ``ast`` (never imported) and every ``import`` and ``from ...
import`` in it counts, at the top, inside a function or under TYPE_CHECKING alike: an
import that only runs later is a dependency all the same. A failure names the file, the
line and the import, and the rule it breaks; ARCHITECTURE.md says why the rule is there.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "conservancy"

# Bottom to top. A module may import its own layer and the layers below it, never above.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("conservancy.money", "conservancy.kernel", "conservancy.infra")),
    ("stand-in", ("conservancy.standin",)),
    (
        "domain",
        (
            "conservancy.projects",
            "conservancy.donations",
            "conservancy.payments",
            "conservancy.ledger",
            "conservancy.receipts",
            "conservancy.reports",
            "conservancy.sponsorships",
            "conservancy.staff",
            "conservancy.expenses",
            "conservancy.mail",
            "conservancy.portal",
            "conservancy.bank",
        ),
    ),
    ("background", ("conservancy.background",)),
    ("runtime", ("conservancy.runtime", "conservancy.models", "conservancy.jobs")),
    ("web", ("conservancy.web",)),
    ("entry points", ("conservancy.cli", "conservancy")),
]
# The stand-in (a fake Stripe for the demo and tests) sits beside the domain, not under
# it: nothing of the domain may use it, and it may use only the foundation.
BESIDE = {("stand-in", "domain"), ("domain", "stand-in")}

# The web's audiences: each a package under conservancy/web/ with its views and forms.
AUDIENCES = ("public", "portal", "treasurer", "staff", "api", "stripe")
# The one shared web module that may import every audience: the app factory registers them.
FACTORY = "conservancy.web.app"

# Third-party edges: each imported only where listed (prefixes of module names).
EDGES: dict[str, tuple[str, ...]] = {
    "stripe": ("conservancy.payments.stripe_gateway", "conservancy.standin"),
    "beancount": ("conservancy.ledger",),
    "beanquery": ("conservancy.ledger",),
    "weasyprint": ("conservancy.receipts.render",),
    "rq": ("conservancy.background.jobs",),
    "redis": ("conservancy.background.jobs",),
    "webauthn": ("conservancy.staff.security_keys",),
    "ofxtools": ("conservancy.bank.formats",),
    "defusedxml": ("conservancy.bank.formats",),
    "beangulp": ("conservancy.ledger.bank_importers",),
}
# HTTP belongs to the web (and to the stand-in, a web server of its own), the commands and
# create_app (conservancy/__init__.py).
HTTP = ("flask", "flask_wtf", "werkzeug", "wtforms")
HTTP_ALLOWED = ("conservancy.web", "conservancy.cli", "conservancy.standin")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    path: Path
    line: int
    target: str  # the imported module (or module.name for ``from m import name``)

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                # ``from conservancy.web import auth`` imports the module conservancy.web.auth
                yield Import(module, path, node.lineno, f"{source}.{alias.name}")


def all_imports() -> list[Import]:
    return [i for path in sorted(PACKAGE.rglob("*.py")) for i in imports_of(path)]


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(name: str) -> int | None:
    """The index in LAYERS of the longest prefix that holds ``name``."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            # The package itself (create_app) is an entry point; what is under it is not.
            held = name == prefix if prefix == "conservancy" else within(name, prefix)
            if held and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return None if best is None else best[0]


MODULES = {module_name(path) for path in PACKAGE.rglob("*.py")}


def own_module(target: str) -> str | None:
    """The conservancy module an import names: ``from m import name`` names m.name when
    that is a module, m otherwise."""
    if not within(target, "conservancy"):
        return None
    return target if target in MODULES else target.rpartition(".")[0]


def audience_of(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) >= 3 and parts[:2] == ["conservancy", "web"] and parts[2] in AUDIENCES:
        return parts[2]
    return None


def is_forms(name: str) -> bool:
    """A forms module (``forms``, ``donate_form``, ``money_forms`` ...), or a name in one."""
    return any("form" in part for part in name.split(".")[3:])


# -- the rules --------------------------------------------------------------------------


def layer_breaches(imports: list[Import]) -> list[str]:
    found = []
    for i in imports:
        target = own_module(i.target)
        if target is None:
            continue
        mine, theirs = layer_of(i.module), layer_of(target)
        if mine is None or theirs is None:
            found.append(
                f"{i.where()}: a module in no layer; add it to LAYERS (and ARCHITECTURE.md)"
            )
            continue
        names = (LAYERS[mine][0], LAYERS[theirs][0])
        if names in BESIDE or (theirs > mine and mine != theirs):
            found.append(f"{i.where()}: the {names[0]} layer may not import the {names[1]} layer")
    return found


def audience_breaches(imports: list[Import]) -> list[str]:
    found = []
    for i in imports:
        target = own_module(i.target)
        if target is None or not within(i.module, "conservancy.web"):
            continue
        mine, theirs = audience_of(i.module), audience_of(target)
        if theirs is None or mine == theirs:
            continue
        if mine is None and i.module != FACTORY:
            found.append(
                f"{i.where()}: a shared web module may not import an audience's package "
                f"(web/{theirs}/); move what both need into a shared module"
            )
        elif mine is not None and not is_forms(target):
            found.append(
                f"{i.where()}: web/{mine}/ may not import web/{theirs}/'s views; "
                "move what both need into a shared module of conservancy/web/"
            )
    return found


def edge_breaches(imports: list[Import]) -> list[str]:
    found = []
    for i in imports:
        top = i.target.split(".")[0]
        if top in EDGES and not any(within(i.module, p) for p in EDGES[top]):
            found.append(f"{i.where()}: only {', '.join(EDGES[top])} may import {top}")
        http_ok = i.module == "conservancy" or any(within(i.module, p) for p in HTTP_ALLOWED)
        if top in HTTP and not http_ok:
            found.append(f"{i.where()}: HTTP ({top}) belongs to the web, not the {i.module}")
    return found


RULES = {
    "layers point down": layer_breaches,
    "audiences keep to themselves": audience_breaches,
    "third-party edges": edge_breaches,
}


@pytest.mark.parametrize("rule", RULES)
def test_imports_keep_to_the_documented_layers(rule: str) -> None:
    breaches = RULES[rule](all_imports())
    assert not breaches, f"{rule} (ARCHITECTURE.md, Layers):\n  " + "\n  ".join(breaches)


def test_the_check_sees_every_module() -> None:
    """A new top-level package fails here until it is given a layer (and a line in
    ARCHITECTURE.md), rather than slipping past the rules."""
    lost = sorted(
        module_name(path) for path in PACKAGE.rglob("*.py") if layer_of(module_name(path)) is None
    )
    assert not lost, f"modules in no layer of tests/foundation/test_layers.py: {lost}"
