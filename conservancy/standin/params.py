"""Stripe's form encoding, read back into nested values, and checked against the
``stripe`` library's own parameter types.

The library sends ``metadata[donation_id]=42`` and ``line_items[0][quantity]=1``;
:func:`decode` turns those into ``{"metadata": {"donation_id": "42"}}`` and
``{"line_items": [{"quantity": "1"}]}``. Every leaf stays a string, as on the
wire; the readers below convert and validate, raising Stripe's errors.

Stripe refuses parameters it does not know ("Received unknown parameter"), and
so does the stand-in: :func:`check_known` walks the library's TypedDict for the
endpoint, so a misspelt parameter fails here as it would against Stripe.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from functools import cache
from typing import Any

from conservancy.standin.errors import ParameterError

_KEY_PART = re.compile(r"\[([^\]]*)\]")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
# Keys of the library's request options, which its module-level param types
# also declare; they never travel as parameters.
_OPTIONS = frozenset(
    [
        "api_key",
        "stripe_version",
        "stripe_account",
        "stripe_context",
        "max_network_retries",
        "idempotency_key",
        "content_type",
        "headers",
    ]
)


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])]
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "":  # "expand[]=a": append
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    raise ParameterError(f"Invalid value for {key}.", param=key)
                node = child
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_listify(node[k]) for k in sorted(node, key=int)]
    return {k: _listify(v) for k, v in node.items()}


def check_known(params: dict[str, Any], schema: type) -> None:
    name = _first_unknown(params, schema, "")
    if name is not None:
        raise ParameterError(
            f"Received unknown parameter: {name}", code="parameter_unknown", param=name
        )


def _first_unknown(value: Any, schema: type, prefix: str) -> str | None:
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_unknown(item, schema, f"{prefix}[{index}]")
            if found is not None:
                return found
        return None
    if not isinstance(value, dict):
        return None
    fields = _fields(schema)
    for key, item in value.items():
        name = f"{prefix}[{key}]" if prefix else key
        if key not in fields:
            return name
        nested = fields[key]
        if nested is not None:
            found = _first_unknown(item, nested, name)
            if found is not None:
                return found
    return None


def _is_typeddict(candidate: object) -> bool:
    # The library's TypedDicts come from typing_extensions, which
    # typing.is_typeddict does not recognise on every Python version.
    return (
        isinstance(candidate, type)
        and issubclass(candidate, dict)
        and hasattr(candidate, "__required_keys__")
    )


@cache
def _fields(schema: type) -> dict[str, type | None]:
    """Each field of a TypedDict, with the TypedDict its value must match, if any."""
    module = vars(sys.modules[schema.__module__])
    fields: dict[str, type | None] = {}
    for key, annotation in schema.__annotations__.items():
        if key in _OPTIONS:
            continue
        nested = None
        for word in _IDENTIFIER.findall(repr(annotation)):
            candidate = module.get(word)
            if _is_typeddict(candidate):
                nested = candidate
                break
        fields[key] = nested
    return fields


def _leaf(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if isinstance(value, dict | list):
        raise ParameterError(f"Invalid value for {name}: expected a single value.", param=name)
    return value


def text(
    params: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    choices: tuple[str, ...] | None = None,
    param: str | None = None,
) -> str | None:
    label = param or name
    value = _leaf(params, name)
    if value is None or value == "":
        if required:
            raise ParameterError(
                f"Missing required param: {label}.", code="parameter_missing", param=label
            )
        return None
    if choices is not None and value not in choices:
        raise ParameterError(f"Invalid {label}: must be one of {', '.join(choices)}", param=label)
    assert isinstance(value, str)
    return value


def integer(
    params: dict[str, Any],
    name: str,
    *,
    required: bool = False,
    minimum: int | None = None,
    param: str | None = None,
) -> int | None:
    label = param or name
    raw = text(params, name, required=required, param=label)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d+", raw):
        raise ParameterError(
            f"Invalid integer: {raw}", code="parameter_invalid_integer", param=label
        )
    value = int(raw)
    if minimum is not None and value < minimum:
        raise ParameterError(
            f"Invalid integer: {raw}; must be at least {minimum}",
            code="parameter_invalid_integer",
            param=label,
        )
    return value


def boolean(params: dict[str, Any], name: str) -> bool | None:
    raw = text(params, name, choices=("true", "false"))
    return None if raw is None else raw == "true"


def mapping(params: dict[str, Any], name: str, *, param: str | None = None) -> dict[str, Any]:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise ParameterError(f"Invalid object: {param or name}", param=param or name)
    return value


def metadata(params: dict[str, Any], name: str = "metadata") -> dict[str, str]:
    value = mapping(params, name)
    for key, item in value.items():
        if not isinstance(item, str):
            raise ParameterError(f"Invalid value for {name}[{key}].", param=f"{name}[{key}]")
    return dict(value)


def expand_paths(params: dict[str, Any]) -> list[str]:
    value = params.get("expand")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    raise ParameterError("Invalid array: expand", param="expand")
