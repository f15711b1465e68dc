"""Receipt PDFs: what a donor (and the IRS) reads in them, and what they must never say."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace
from datetime import date
from io import BytesIO

import pytest
from pypdf import PdfReader

try:
    import weasyprint  # noqa: F401
except OSError as exc:  # pango missing: `make test` installs it where it may (root, apt)
    pytest.skip(f"WeasyPrint cannot load its system libraries: {exc}", allow_module_level=True)

from conservancy.money import Money
from conservancy.receipts.document import (
    NO_GOODS_OR_SERVICES,
    Benefit,
    ReceiptDocument,
    ReceiptError,
    Sponsor,
)
from conservancy.receipts.render import DataURLFetcher, render_html, render_receipt
from tests.receipts.pdfs import pdf_text, tagged_pdf_a_problems

SPONSOR = Sponsor(
    legal_name="Free Software Trust, Inc.",
    ein="12-3456789",
    address="137 Montague Street, Suite 380\nBrooklyn, NY 11201",
    signatory_name="Jane Roe",
    signatory_title="Treasurer",
)


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def receipt(**changes: object) -> ReceiptDocument:
    doc = ReceiptDocument(
        kind="receipt",
        number="2026-000123",
        issued_on=date(2026, 3, 5),
        sponsor=SPONSOR,
        donor_name="Ada Lovelace",
        donor_address="12 Harbor Lane\nPortland, ME 04101",
        gift_on=date(2026, 3, 4),
        amount=usd("100.00"),
        project_name="Inkscape",
        payment_method="Card ending 4242",
    )
    return replace(doc, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def plain_pdf() -> bytes:
    return render_receipt(receipt())


@pytest.fixture(scope="module")
def tshirt_text() -> str:
    doc = receipt(benefits=(Benefit("a project t-shirt", usd("30.00")),))
    return pdf_text(render_receipt(doc))


def test_plain_receipt_names_sponsor_donor_gift_and_purpose(plain_pdf: bytes) -> None:
    text = pdf_text(plain_pdf)
    for expected in (
        "Free Software Trust, Inc.",
        "EIN 12-3456789",
        "137 Montague Street, Suite 380",
        "Brooklyn, NY 11201",
        "Ada Lovelace",
        "12 Harbor Lane",
        "Portland, ME 04101",
        "2026-000123",
        "March 5, 2026",  # issued
        "March 4, 2026",  # the gift
        "$100.00",
        "USD",
        "Card ending 4242",
        "to support the work of Inkscape",
        "full discretion and control over the use of all contributed funds",
        "for the benefit of Inkscape",
        NO_GOODS_OR_SERVICES,
        "Jane Roe",
        "Treasurer",
        "Keep this receipt for your tax records.",
    ):
        assert expected in text, expected
    assert "fully deductible" not in text.lower()


def test_tshirt_discloses_its_value_and_only_the_excess_is_deductible(tshirt_text: str) -> None:
    assert "a project t-shirt" in tshirt_text
    assert "good-faith estimate" in tshirt_text
    assert "$30.00" in tshirt_text
    assert "Deductible amount $70.00 USD" in tshirt_text
    assert "in excess of that value, $70.00, is deductible" in tshirt_text
    assert "No goods or services" not in tshirt_text
    assert "fully deductible" not in tshirt_text.lower()


def test_deductible_is_amount_less_benefits_never_below_zero() -> None:
    assert receipt(benefits=(Benefit("dinner", usd("30.00")),)).deductible == usd("70.00")
    gala = receipt(amount=usd("50.00"), benefits=(Benefit("gala dinner", usd("80.00")),))
    assert gala.deductible == usd("0.00")


def test_token_item_under_the_years_limits_gets_the_no_goods_wording() -> None:
    doc = receipt(benefits=(Benefit("a sticker", usd("2.00")),))
    assert doc.deductible == usd("100.00")
    text = pdf_text(render_receipt(doc))
    assert NO_GOODS_OR_SERVICES in text
    assert "sticker" not in text
    assert "Deductible amount $100.00 USD" in text


@pytest.mark.parametrize(
    ("amount", "gift_on"),
    [
        ("50.00", date(2026, 3, 4)),  # below the 2026 minimum gift of 68.00
        ("100.00", date(2019, 3, 4)),  # a year without configured limits: disclose
    ],
)
def test_benefits_outside_the_token_limits_are_disclosed(amount: str, gift_on: date) -> None:
    doc = receipt(
        amount=usd(amount), gift_on=gift_on, benefits=(Benefit("a sticker", usd("2.00")),)
    )
    assert doc.disclosed_benefits
    assert doc.deductible == usd(amount) - usd("2.00")
    assert "No goods or services" not in doc.goods_and_services_statement


def test_recurring_gift_states_its_schedule() -> None:
    text = pdf_text(render_receipt(receipt(schedule="monthly")))
    assert "monthly recurring gift" in text


def test_voiding_notice_names_the_void_receipt_and_says_not_to_use_it() -> None:
    doc = receipt(
        kind="voiding",
        number="2026-000140",
        issued_on=date(2026, 4, 1),
        replaces="2026-000123",
        reason="refund",
    )
    text = pdf_text(render_receipt(doc))
    assert "Notice of void receipt" in text
    assert "Receipt 2026-000123 for your gift of $100.00 on March 4, 2026 is void (refund)" in text
    assert "do not use receipt 2026-000123" in text
    assert "Deductible amount $" not in text
    assert "No goods or services" not in text


def test_replacement_names_the_receipt_it_replaces_and_the_new_amount() -> None:
    doc = receipt(
        kind="replacement",
        number="2026-000141",
        amount=usd("60.00"),
        replaces="2026-000123",
        reason="partial refund",
    )
    text = pdf_text(render_receipt(doc))
    assert "Replacement donation receipt" in text
    assert "replaces receipt 2026-000123" in text
    assert "The amount of your gift is now $60.00" in text
    assert "Deductible amount $60.00 USD" in text


def test_receipt_data_is_embedded_as_json(plain_pdf: bytes) -> None:
    reader = PdfReader(BytesIO(plain_pdf))
    (payload,) = reader.attachments["receipt.json"]
    assert json.loads(payload) == {
        "number": "2026-000123",
        "kind": "receipt",
        "issued_on": "2026-03-05",
        "gift_on": "2026-03-04",
        "amount": "100.00",
        "currency": "USD",
        "benefits_value": "0.00",
        "deductible": "100.00",
        "project": "Inkscape",
        "sponsor_ein": "12-3456789",
        "replaces": None,
        "schedule": None,
    }


def test_pdf_is_pdf_a_3a_tagged_for_screen_readers(plain_pdf: bytes) -> None:
    reader = PdfReader(BytesIO(plain_pdf))
    xmp = reader.xmp_metadata
    assert xmp is not None
    raw = xmp.stream.get_data().decode()
    assert re.search(r"pdfaid:part(>|=[\"'])3", raw), raw
    assert re.search(r"pdfaid:conformance(>|=[\"'])A", raw), raw  # A: accessible
    catalog = reader.trailer["/Root"]
    assert catalog["/MarkInfo"]["/Marked"].value is True  # type: ignore[index]
    assert "/StructTreeRoot" in catalog  # headings, paragraphs and the table, in order
    assert catalog["/Lang"] == "en"
    assert tagged_pdf_a_problems(plain_pdf) == []


def _noto_for(script: str) -> bool:
    """Whether fontconfig has a Noto font for the language (``make test`` installs them).
    Another font may cover it (DejaVu has Arabic), but the receipts' fallback is Noto's."""
    try:
        found = subprocess.run(
            ["fc-list", f":lang={script}", "family"], capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return False
    return "Noto" in found.stdout


@pytest.mark.parametrize(
    ("lang", "name", "font"),
    [
        ("zh", "山田 花子 (李小龙, 김민준)", "Noto-Serif-CJK"),
        ("ar", "محمد عبد الله", "Noto"),
        ("hi", "अनिल कुमार", "Noto"),
    ],
    ids=["cjk", "arabic", "devanagari"],
)
def test_a_name_in_any_script_prints_in_a_font_that_has_it(lang: str, name: str, font: str) -> None:
    """A name in Chinese, Japanese or Korean printed as empty boxes: DejaVu has none of it."""
    if not _noto_for(lang):
        pytest.skip(f"no Noto font for :lang={lang}: `make test` installs fonts-noto-core, -cjk")
    pdf = render_receipt(receipt(donor_name=name))
    reader = PdfReader(BytesIO(pdf))
    fonts = [
        str(ref.get_object()["/BaseFont"])
        for ref in reader.pages[0]["/Resources"]["/Font"].values()  # type: ignore[index]
    ]
    assert any(font in f for f in fonts), fonts
    assert name.split()[0] in reader.pages[0].extract_text()


def test_fonts_are_embedded(plain_pdf: bytes) -> None:
    reader = PdfReader(BytesIO(plain_pdf))
    fonts = reader.pages[0]["/Resources"]["/Font"]  # type: ignore[index]
    for ref in fonts.values():
        font = ref.get_object()
        if "/DescendantFonts" in font:  # Type0 (CID) fonts keep the file on their child
            font = font["/DescendantFonts"][0].get_object()
        descriptor = font["/FontDescriptor"].get_object()
        assert any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "FILE:///etc/passwd", "http://example.org/x.png", "https://x"]
)
def test_fetcher_refuses_files_and_remote_urls(url: str) -> None:
    with pytest.raises(ValueError, match="no outside resources"):
        DataURLFetcher().fetch(url)


def test_fetcher_allows_data_urls() -> None:
    response = DataURLFetcher().fetch("data:text/plain,hello")
    assert response.read() == b"hello"


def test_html_in_a_donor_field_is_shown_literally_not_loaded() -> None:
    name = '<img src="file:///etc/passwd">Mallory'
    doc = receipt(donor_name=name)
    assert "<img" not in render_html(doc).split("<body>", 1)[1]
    text = pdf_text(render_receipt(doc))
    assert name in text
    assert "root:" not in text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payment_method", "Card 4242 4242 4242 4242"),
        ("payment_method", "Visa 4242424242424242"),
        ("donor_name", "Ada Lovelace 123-45-6789"),
        ("donor_address", "SSN 123456789"),
    ],
)
def test_ssns_and_card_numbers_are_refused(field: str, value: str) -> None:
    with pytest.raises(ReceiptError, match="SSN or a card number"):
        receipt(**{field: value})


def test_a_voiding_notice_must_name_what_it_voids_and_why() -> None:
    with pytest.raises(ReceiptError):
        receipt(kind="voiding", reason="refund")
    with pytest.raises(ReceiptError):
        receipt(kind="voiding", replaces="2026-000100")
    with pytest.raises(ReceiptError):
        receipt(replaces="2026-000100")


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"kind": "voiding", "number": "2026-000124", "replaces": "2026-000123", "reason": "refund"},
        {
            "kind": "replacement",
            "number": "2026-000125",
            "replaces": "2026-000123",
            "reason": "refund",
            "amount": usd("60.00"),
            "benefits": (Benefit("Twisted t-shirt", usd("30.00")),),
            "schedule": "monthly",
        },
    ],
    ids=["receipt", "voiding", "replacement"],
)
def test_each_kind_is_a_one_page_letter_with_its_signature(changes: dict[str, object]) -> None:
    """A signature alone on a second page looks like a mistake, not a letter."""
    pdf = render_receipt(receipt(**changes))
    reader = PdfReader(BytesIO(pdf))
    assert len(reader.pages) == 1
    assert "Jane Roe" in reader.pages[0].extract_text()


def test_a_tribute_gifts_receipt_prints_its_dedication() -> None:
    text = pdf_text(render_receipt(receipt(dedication="In memory of Alan Turing")))
    assert "This gift was made with a dedication: In memory of Alan Turing" in text
    assert "dedication" not in pdf_text(render_receipt(receipt()))
