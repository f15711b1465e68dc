"""A browser without JavaScript, over HTTP: it keeps cookies, reads a page's forms (their
hidden fields, CSRF token and once-only key included) and sends them as a person would,
changing only the fields they type in."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests

DRAWING_LIMIT = 60.0  # seconds a document may take to be drawn after the page that made it
RELOADING_LIMIT = 60.0  # seconds the books may take to load again after a change


@dataclass
class Form:
    action: str  # absolute
    method: str
    multipart: bool
    fields: dict[str, str] = field(default_factory=dict)


class _FormReader(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._form = Form(
                action=urljoin(self.base, a.get("action") or self.base),
                method=(a.get("method") or "get").lower(),
                multipart="multipart" in a.get("enctype", ""),
            )
            self.forms.append(self._form)
            return
        form = self._form
        if form is None or ("name" not in a and tag != "option"):
            return
        name = a.get("name", "")
        if tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("radio", "checkbox"):
                if "checked" in a:
                    form.fields[name] = a.get("value", "on")
            elif kind not in ("submit", "button", "file", "image", "reset"):
                form.fields[name] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            form.fields[name] = ""
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select is not None:
            value = a.get("value", "")
            self._first_option.setdefault(self._select, value)
            if "selected" in a:
                form.fields[self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "textarea" and self._textarea is not None:
            if self._form is not None:  # a browser drops the newline that opens a textarea
                text = self._form.fields[self._textarea]
                self._form.fields[self._textarea] = text.removeprefix("\r").removeprefix("\n")
            self._textarea = None
        elif tag == "select" and self._select is not None:
            if self._form is not None and self._select not in self._form.fields:
                self._form.fields[self._select] = self._first_option.get(self._select, "")
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea is not None:
            self._form.fields[self._textarea] += data


def forms_of(html: str, base: str) -> list[Form]:
    reader = _FormReader(base)
    reader.feed(html)
    return reader.forms


class Browser:
    """One person's browser: their cookies, and pages fetched from ``base``."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False

    def url(self, path: str) -> str:
        return urljoin(self.base + "/", path)

    def get(self, path: str, *, status: int = 200) -> requests.Response:
        """The page at ``path``; asserts its status. A page that answers 503 with Retry-After
        (the books are loading after a change, and the page asks to be reloaded shortly) is
        reloaded, as a person would, every half second for up to a minute."""
        deadline = time.monotonic() + RELOADING_LIMIT
        while True:
            answer = self.http.get(self.url(path), allow_redirects=False, timeout=60)
            reload = answer.status_code == 503 and "Retry-After" in answer.headers
            if status == 503 or not reload or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == status, (
            f"GET {path} answered {answer.status_code}, not {status}:\n{answer.text[:2000]}"
        )
        return answer

    def form(self, page: requests.Response, action: str) -> Form:
        """The form on ``page`` whose action ends with ``action``."""
        found = [
            f
            for f in forms_of(page.text, page.url)
            if f.action.split("#")[0].split("?")[0].endswith(action)
        ]
        assert found, f"{page.url} has no form sending to {action}"
        return found[0]

    def submit(
        self,
        form: Form,
        fields: Mapping[str, str] | None = None,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        status: int = 303,
    ) -> requests.Response:
        """Send ``form`` with ``fields`` typed in; asserts the answer's status (a 303 by
        default: the page a form leads to)."""
        data = {**form.fields, **(fields or {})}
        answer = self.http.request(
            form.method.upper(),
            form.action,
            data=data,
            files=dict(files) if files else None,
            allow_redirects=False,
            timeout=60,
        )
        assert answer.status_code == status, (
            f"{form.method.upper()} {form.action} answered {answer.status_code}, not {status}: "
            f"{messages(answer.text) or answer.text[:3000]}"
        )
        return answer

    def fill(
        self,
        path: str,
        action: str,
        fields: Mapping[str, str] | None = None,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        status: int = 303,
    ) -> requests.Response:
        """Open ``path``, fill in its form that sends to ``action``, and send it."""
        return self.submit(self.form(self.get(path), action), fields, files=files, status=status)

    def download(self, path: str, mimetype: str | None = None) -> bytes:
        """A file the page links to: 200 with ``mimetype`` if given (a document still being
        drawn answers 404 for a moment, and one made from books still loading 503 with
        Retry-After; anything else is an answer to report)."""
        deadline = time.monotonic() + DRAWING_LIMIT
        while True:
            answer = self.http.get(self.url(path), allow_redirects=False, timeout=120)
            loading = answer.status_code == 503 and "Retry-After" in answer.headers
            if not (answer.status_code == 404 or loading) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert answer.status_code == 200, (
            f"GET {path} answered {answer.status_code}, not 200: {page_words(answer.text)[:300]}"
        )
        assert mimetype is None or answer.headers["Content-Type"].split(";")[0] == mimetype, (
            f"GET {path} is {answer.headers['Content-Type']}, not {mimetype}"
        )
        return answer.content


def messages(html: str) -> list[str]:
    """The messages a page shows by its fields and above its form."""
    found = re.findall(
        r'<(?:p|div|li)[^>]*class="[^"]*(?:field-error|form-errors|refusal|flash)[^"]*"[^>]*>(.*?)</',
        html,
        flags=re.S,
    )
    return [" ".join(re.sub(r"<[^>]+>", " ", m).split()) for m in found]


def page_words(html: str) -> str:
    """A page's words, without its markup, its head or its header."""
    body = re.sub(r"<head>.*?</head>|<header.*?</header>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", body).split())


def location(answer: requests.Response) -> str:
    return str(answer.headers["Location"])
