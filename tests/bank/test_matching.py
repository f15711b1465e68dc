"""The matching rules on their own: which entry of the books each bank line is."""

from __future__ import annotations

from datetime import date, timedelta

from conservancy.bank import matching
from conservancy.bank.matching import Line
from conservancy.ledger.index import BankEntry
from conservancy.money import Money

DAY = date(2026, 11, 20)


def usd(text: str) -> Money:
    return Money.parse(text, "USD") if not text.startswith("-") else -Money.parse(text[1:], "USD")


def entry(
    key: int, days: int, amount: str, narration: str = "", ref: str | None = None
) -> BankEntry:
    return BankEntry(
        key=key,
        date=DAY + timedelta(days),
        account="Assets:Bank:Checking",
        flag="*",
        payee=None,
        narration=narration,
        ref=ref if ref is not None else f"ref-{key}",
        file="app/2026.beancount",
        line=key,
        amount=usd(amount),
    )


def refs(found: dict[int, list[BankEntry]]) -> dict[int, list[str | None]]:
    return {key: [e.ref for e in entries] for key, entries in found.items()}


def test_the_nearest_entry_of_the_same_amount_wins_and_matches_only_once() -> None:
    lines = [Line(1, DAY, usd("96.80"), "STRIPE"), Line(2, DAY + timedelta(1), usd("96.80"), "")]
    entries = [entry(10, -9, "96.80"), entry(11, -2, "96.80"), entry(12, 0, "50.00")]
    found = matching.match(lines, entries, set())
    # The first line takes the nearer entry; the second the one left.
    assert refs(found) == {1: ["ref-11"], 2: ["ref-10"]}


def test_an_entry_taken_by_an_earlier_import_is_not_matched_again() -> None:
    lines = [Line(1, DAY, usd("96.80"), "")]
    taken = {"ref-11"}
    found = matching.match(lines, [entry(11, -2, "96.80")], taken)
    assert found == {}


def test_outside_the_window_nothing_matches() -> None:
    too_old = entry(1, -46, "20.00")
    too_new = entry(2, 6, "20.00")
    assert matching.match([Line(1, DAY, usd("20.00"), "")], [too_old, too_new], set()) == {}
    inside = [entry(3, -45, "20.00")]
    assert refs(matching.match([Line(1, DAY, usd("20.00"), "")], inside, set())) == {1: ["ref-3"]}


def test_a_cheques_number_on_the_line_picks_the_entry_that_names_it() -> None:
    entries = [
        entry(1, -1, "-300.00", "REQ-4 paid by cheque cheque 1002"),
        entry(2, -20, "-300.00", "REQ-3 paid by cheque cheque 1001"),
    ]
    line = Line(1, DAY, usd("-300.00"), "CHECK PAID", check_number="001001")
    assert refs(matching.match([line], entries, set())) == {1: ["ref-2"]}


def test_one_deposit_of_several_cheques_matches_the_fewest_that_add_up() -> None:
    entries = [
        entry(1, -3, "150.00", "Cheque no. 12"),
        entry(2, -2, "75.50", "Cheque no. 99"),
        entry(3, -2, "100.00"),
        entry(4, -1, "50.00"),
        entry(5, -1, "25.50"),
        entry(6, -30, "225.50"),  # the same amount, but a month before: not this deposit
    ]
    deposit = Line(1, DAY, usd("225.50"), "DEPOSIT")
    found = matching.match([deposit], entries, set())
    # A single entry of the amount inside the window comes first.
    assert refs(found) == {1: ["ref-6"]}
    found = matching.match([deposit], entries[:5], set())
    assert refs(found) == {1: ["ref-1", "ref-2"]}  # two, not 100 + 50 + 75.50


def test_money_out_never_matches_money_in() -> None:
    assert matching.match([Line(1, DAY, usd("-40.00"), "")], [entry(1, 0, "40.00")], set()) == {}


def test_entries_without_a_ref_are_known_by_where_and_what_they_are() -> None:
    by_hand = entry(7, -1, "25.00", "Cheque, by hand", ref="")
    assert matching.entry_key(by_hand) == "at:app/2026.beancount:7:2026-11-19:2500"


def test_fees_and_interest_are_proposed_and_anything_else_is_left_to_choose() -> None:
    fee = matching.propose(Line(1, DAY, usd("-12.00"), "MONTHLY SERVICE FEE"))
    assert fee == matching.Proposal("Expenses:General:Bank-Fees", "Bank fee: MONTHLY SERVICE FEE")
    interest = matching.propose(Line(2, DAY, usd("0.87"), "INTEREST PAYMENT"))
    assert interest.account == "Income:General:Interest"
    # A refund of a fee is not a fee; money out called interest is not income.
    assert matching.propose(Line(3, DAY, usd("12.00"), "FEE REVERSAL")).account == ""
    assert matching.propose(Line(4, DAY, usd("-3.00"), "INTEREST CHARGE")).account == (
        "Expenses:General:Bank-Fees"
    )
    unknown = matching.propose(Line(5, DAY, usd("-500.00"), "  ONLINE   TRANSFER  "))
    assert unknown == matching.Proposal("", "ONLINE TRANSFER")
