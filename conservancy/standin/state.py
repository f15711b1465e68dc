"""The stand-in's memory: every object it made, every event it emitted, and the
answers it gave to idempotent requests.

One re-entrant lock guards all of it. The HTTP layer holds it for the whole
of a request that writes (the idempotency check, the work and the remembered
answer), so two requests never interleave and a replay can never race the
request it replays. Events reach the webhook queue while the lock is held,
which keeps the queue in the order the events happened.

With a state file (the demo's ``instance/stripe-standin.json``, or ``conservancy
stripe stand-in --state FILE``) the memory outlives the process: after each
request that may have changed it, the whole of it is written to the file (a
temporary file beside it, flushed to disk, then renamed over it, so the file is
always one whole state), and a stand-in started on the same file goes on from
there. Amounts stay Stripe's integers in minor units; exchange rates are written
as decimal text. Webhook deliveries still queued are not kept: ``conservancy
stripe sync`` fetches what a restart cut off.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from conservancy.kernel import clock
from conservancy.standin import objects
from conservancy.standin.errors import ParameterError, StripeError, not_found
from conservancy.standin.exchange import DEMO_RATES
from conservancy.standin.objects import Obj

_KIND = {  # Stripe's word for each object in "No such ..." messages
    "checkout.session": "checkout.session",
    "payment_intent": "payment_intent",
    "balance_transaction": "balance transaction",
    "invoice_payment": "invoice payment",
}


# Bumped when the saved shape changes; a file of another version is refused, not guessed at.
STATE_VERSION = 1


class StateFileError(Exception):
    """A state file the stand-in cannot read back: it says which and why, in one line."""


@dataclass(frozen=True)
class Answer:
    """A response as sent, kept for an idempotency key."""

    fingerprint: str
    status: int
    body: bytes
    request_id: str


@dataclass
class CheckoutTerms:
    """What a checkout session sells, kept apart from the session object
    because Stripe shows line items only on request."""

    product_name: str
    currency: str
    unit_amount: int
    quantity: int
    interval: str | None
    interval_count: int
    price_id: str | None
    payment_intent_metadata: dict[str, str]
    payment_intent_description: str | None
    subscription_metadata: dict[str, str]

    @property
    def amount(self) -> int:
        return self.unit_amount * self.quantity


@dataclass
class Store:
    base_url: str
    on_event: Callable[[Obj], None]
    pending_webhooks: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    terms: dict[str, CheckoutTerms] = field(default_factory=dict)
    # Saved payment methods (pm_...) -> payment_method_details, for renewals.
    payment_methods: dict[str, Obj] = field(default_factory=dict)
    # Balance transaction id -> the payout that included it.
    paid_out_by: dict[str, str] = field(default_factory=dict)
    # US dollars per unit of each other currency (see standin.exchange); tests change them.
    exchange_rates: dict[str, Decimal] = field(default_factory=lambda: dict(DEMO_RATES))
    _objects: dict[str, Obj] = field(default_factory=dict)
    _by_type: dict[str, list[str]] = field(default_factory=dict)
    _events: list[Obj] = field(default_factory=list)
    _answers: dict[str, Answer] = field(default_factory=dict)
    _request: tuple[str | None, str | None] = (None, None)
    # Where the memory is kept between runs (see the module's docstring); None: nowhere.
    state_file: Path | None = None

    @staticmethod
    def now() -> int:
        return int(clock.now().timestamp())

    # -- objects -------------------------------------------------------------

    def add(self, obj: Obj) -> Obj:
        with self.lock:
            self._objects[obj["id"]] = obj
            self._by_type.setdefault(obj["object"], []).append(obj["id"])
            return obj

    def get(self, object_type: str, object_id: str, param: str = "id") -> Obj:
        with self.lock:
            obj = self._objects.get(object_id)
            if obj is None or obj["object"] != object_type:
                raise not_found(_KIND.get(object_type, object_type), object_id, param)
            return obj

    def all(self, object_type: str) -> list[Obj]:
        """Objects of a type, oldest first."""
        with self.lock:
            return [self._objects[i] for i in self._by_type.get(object_type, [])]

    def snapshot(self, obj: Obj, expand: list[str] | None = None) -> Obj:
        """A copy to hand out, with the asked-for ids replaced by their objects."""
        with self.lock:
            result = copy.deepcopy(obj)
            for path in expand or []:
                result = self._expand(result, path.split("."), path)
            return result

    def _expand(self, node: Any, parts: list[str], path: str) -> Any:
        if isinstance(node, list):
            return [self._expand(item, parts, path) for item in node]
        if not parts or not isinstance(node, dict):
            return node
        key, rest = parts[0], parts[1:]
        if key == "payments" and node.get("object") == "invoice" and key not in node:
            payments = [p for p in self.all("invoice_payment") if p["invoice"] == node["id"]]
            node[key] = objects.list_object(
                copy.deepcopy(payments[::-1]), f"/v1/invoices/{node['id']}/payments"
            )
        if key not in node:
            raise ParameterError(f"This property cannot be expanded ({path}).", param="expand")
        value = node[key]
        if isinstance(value, str):
            target = self._objects.get(value)
            if target is None:
                raise ParameterError(f"This property cannot be expanded ({path}).")
            value = copy.deepcopy(target)
        node[key] = self._expand(value, rest, path)
        return node

    # -- events --------------------------------------------------------------

    @contextmanager
    def acting_for(self, request_id: str | None, idempotency_key: str | None) -> Iterator[None]:
        """Events emitted inside name the API request that caused them."""
        with self.lock:
            saved = self._request
            self._request = (request_id, idempotency_key)
            try:
                yield
            finally:
                self._request = saved

    def emit(self, type_: str, obj: Obj, previous_attributes: Obj | None = None) -> Obj:
        with self.lock:
            event = objects.event(
                now=self.now(),
                type_=type_,
                obj=copy.deepcopy(obj),
                previous_attributes=previous_attributes,
                request_id=self._request[0],
                idempotency_key=self._request[1],
                pending_webhooks=self.pending_webhooks,
            )
            self.add(event)
            self._events.append(event)
            self.on_event(copy.deepcopy(event))
            return event

    def events(self) -> list[Obj]:
        """Every event emitted, newest first."""
        with self.lock:
            return self._events[::-1]

    # -- idempotency ---------------------------------------------------------

    def answer_for(self, key: str, fingerprint: str) -> Answer | None:
        with self.lock:
            answer = self._answers.get(key)
            if answer is None:
                return None
            if answer.fingerprint != fingerprint:
                raise StripeError(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with. Try using a key other than "
                    f"'{key}' if you meant to execute a different request.",
                    type_="idempotency_error",
                )
            return answer

    def remember(self, key: str, answer: Answer) -> None:
        with self.lock:
            self._answers[key] = answer

    # -- the stand-in's own ledger, for tests --------------------------------

    def records(self) -> Obj:
        with self.lock:
            transactions = self.all("balance_transaction")
            balance: dict[str, int] = {}
            for txn in transactions:
                balance[txn["currency"]] = balance.get(txn["currency"], 0) + txn["net"]
            return copy.deepcopy(
                {
                    "charges": self.all("charge"),
                    "refunds": self.all("refund"),
                    "disputes": self.all("dispute"),
                    "payouts": self.all("payout"),
                    "balance_transactions": transactions,
                    "balance": balance,
                }
            )

    # -- kept in a file between runs -------------------------------------------

    def save(self) -> None:
        """Write everything to the state file, whole, if there is one."""
        if self.state_file is None:
            return
        with self.lock:  # one writer at a time, and each writes the newest state
            text = json.dumps(self._saved(), separators=(",", ":"))
            target = self.state_file
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp")
            with temporary.open("w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(target)

    def load(self) -> bool:
        """Take up the state file's memory, if the file exists; False if it does not."""
        path = self.state_file
        if path is None or not path.exists():
            return False
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(saved, dict) or saved.get("version") != STATE_VERSION:
                raise StateFileError(
                    f"{path}: not a state file of this stand-in (version {STATE_VERSION})"
                )
            with self.lock:
                self._restore(saved)
        except (OSError, UnicodeDecodeError) as exc:
            raise StateFileError(f"{path}: cannot be read: {exc}") from exc
        except ValueError as exc:  # JSON's errors too
            raise StateFileError(f"{path}: not JSON: {exc}") from exc
        except (KeyError, TypeError, AttributeError, InvalidOperation) as exc:
            raise StateFileError(f"{path}: incomplete or damaged ({exc!r})") from exc
        return True

    def _saved(self) -> Obj:
        return {
            "version": STATE_VERSION,
            "objects": list(self._objects.values()),  # in the order they were made
            "by_type": self._by_type,
            "events": [event["id"] for event in self._events],
            "terms": {session: asdict(terms) for session, terms in self.terms.items()},
            "payment_methods": self.payment_methods,
            "paid_out_by": self.paid_out_by,
            "exchange_rates": {cur: str(rate) for cur, rate in self.exchange_rates.items()},
            "answers": {
                key: {
                    "fingerprint": answer.fingerprint,
                    "status": answer.status,
                    "body": answer.body.decode("utf-8"),
                    "request_id": answer.request_id,
                }
                for key, answer in self._answers.items()
            },
        }

    def _restore(self, saved: Obj) -> None:
        objects_by_id = {str(obj["id"]): obj for obj in saved["objects"]}
        by_type = {str(kind): [str(i) for i in ids] for kind, ids in saved["by_type"].items()}
        events = [objects_by_id[str(event_id)] for event_id in saved["events"]]
        terms = {str(s): CheckoutTerms(**t) for s, t in saved["terms"].items()}
        rates = {str(c): Decimal(str(r)) for c, r in saved["exchange_rates"].items()}
        answers = {
            str(key): Answer(
                fingerprint=str(a["fingerprint"]),
                status=int(a["status"]),
                body=str(a["body"]).encode("utf-8"),
                request_id=str(a["request_id"]),
            )
            for key, a in saved["answers"].items()
        }
        self._objects = objects_by_id
        self._by_type = by_type
        self._events = events
        self.terms = terms
        self.payment_methods = dict(saved["payment_methods"])
        self.paid_out_by = {str(k): str(v) for k, v in saved["paid_out_by"].items()}
        self.exchange_rates = rates
        self._answers = answers
