"""The stand-in's few HTML pages: hosted checkout, a receipt, and an index of
the control addresses. Plain, labelled forms; every value is escaped."""

from __future__ import annotations

from html import escape

from conservancy.standin.objects import Obj
from conservancy.standin.state import CheckoutTerms

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem;
       color: #1a1a1a; }
label { display: block; font-weight: 600; margin-top: 1rem; }
input { font-size: 1.1rem; padding: .4rem; width: 100%; box-sizing: border-box; }
button { margin-top: 1rem; font-size: 1.1rem; padding: .5rem 1.5rem; }
.error { color: #a00; border: 1px solid #a00; padding: .5rem; }
.hint { color: #555; font-size: .9rem; }
code { background: #f3f3f3; padding: 0 .2rem; }
"""


def amount_text(amount: int, currency: str) -> str:
    return f"{amount // 100:,}.{amount % 100:02d} {currency.upper()}"


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def checkout(session: Obj, terms: CheckoutTerms, error: str | None = None) -> str:
    pay_url = f"/_standin/checkout/{escape(session['id'])}/pay"
    what = escape(terms.product_name)
    if terms.interval:
        every = (
            terms.interval
            if terms.interval_count == 1
            else f"{terms.interval_count} {terms.interval}s"
        )
        price = f"{amount_text(terms.amount, terms.currency)} every {escape(every)}"
    else:
        price = amount_text(terms.amount, terms.currency)
    alert = f'<p class="error" id="card-error" role="alert">{escape(error)}</p>\n' if error else ""
    described = ' aria-describedby="card-error" aria-invalid="true"' if error else ""
    bank = ""
    if session["mode"] == "payment":
        bank = (
            f'<form method="post" action="{pay_url}">\n'
            '<label for="account_number">Or pay from a US bank account: account number</label>\n'
            '<input id="account_number" name="account_number" type="text" inputmode="numeric" '
            'autocomplete="off" required>\n'
            '<p class="hint">Test accounts: <code>000123456789</code> settles, '
            "<code>000111111116</code> fails.</p>\n"
            '<button type="submit">Pay by bank</button>\n</form>\n'
        )
    cancel = (
        f'<p><a href="{escape(session["cancel_url"])}">Cancel and go back</a></p>\n'
        if session["cancel_url"]
        else ""
    )
    setup = session["mode"] == "setup"  # a card saved for later payments: nothing is charged
    if setup:
        price = "Nothing is charged now: the card pays the next payments."
    return _page(
        "Save a card" if setup else f"Pay {what}",
        f"<h1>{what}</h1>\n<p>{price}</p>\n{alert}"
        f'<form method="post" action="{pay_url}">\n'
        '<label for="card_number">Card number</label>\n'
        f'<input id="card_number" name="card_number" type="text" inputmode="numeric" '
        f'autocomplete="cc-number" required{described}>\n'
        '<p class="hint">Test cards: <code>4242 4242 4242 4242</code> pays, '
        "<code>4000 0000 0000 0002</code> is declined, "
        "<code>4000 0000 0000 9995</code> has insufficient funds.</p>\n"
        f'<button type="submit">{"Save card" if setup else "Pay"}</button>\n</form>\n'
        f"{bank}{cancel}",
    )


def message(title: str, text: str, link: str | None = None) -> str:
    extra = f'<p><a href="{escape(link)}">Continue</a></p>\n' if link else ""
    return _page(title, f"<h1>{escape(title)}</h1>\n<p>{escape(text)}</p>\n{extra}")


def receipt(charge: Obj) -> str:
    return _page(
        "Receipt",
        f"<h1>Receipt</h1>\n<p>{amount_text(charge['amount'], charge['currency'])} paid "
        f"(charge <code>{escape(charge['id'])}</code>, status {escape(charge['status'])}).</p>\n"
        + (
            f"<p>Refunded: {amount_text(charge['amount_refunded'], charge['currency'])}</p>\n"
            if charge["amount_refunded"]
            else ""
        ),
    )


CONTROLS = (
    ("GET", "/_standin/checkout/<session id>", "the hosted checkout page"),
    ("POST", "/_standin/checkout/<session id>/pay", "card_number (or account_number)"),
    ("POST", "/_standin/charges/<charge id>/dispute", "amount (optional), reason (optional)"),
    ("POST", "/_standin/disputes/<dispute id>/close", "outcome: won or lost"),
    ("POST", "/_standin/subscriptions/<subscription id>/renew", "card_number (optional)"),
    ("POST", "/_standin/payouts", "currency (default usd), outcome: paid or failed"),
    ("POST", "/_standin/webhooks/mode", "duplicate, shuffle, fail_first: 0 or 1"),
    ("GET", "/_standin/state", "charges, refunds, disputes, payouts, balance transactions"),
    ("POST", "/_standin/faults", "status: 429, 500, 502, 503 or 0 (none); count (optional)"),
    ("POST", "/_standin/exchange_rates", "eur, gbp, cad: US dollars per unit, from now on"),
)


def index(base_url: str) -> str:
    rows = "\n".join(
        f"<tr><td>{method}</td><td><code>{escape(path)}</code></td><td>{escape(fields)}</td></tr>"
        for method, path, fields in CONTROLS
    )
    return _page(
        "Stripe stand-in",
        f"<h1>Stripe stand-in</h1>\n<p>API base: <code>{escape(base_url)}</code> "
        "(any <code>sk_test_…</code> key).</p>\n"
        f"<table>\n<tr><th>method</th><th>address</th><th>form fields</th></tr>\n{rows}\n</table>",
    )
