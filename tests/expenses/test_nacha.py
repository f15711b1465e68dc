"""The NACHA credit file that pays expense requests by ACH.

The file is read back here by the positions the NACHA Operating Rules publish (Appendix
Three, "ACH Record Format Specifications"), with a reader and a position table of the
test's own: the columns are checked against the format, not against the writer's
constants. One small file is written out in full by hand.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conservancy.expenses.nacha import (
    AccountType,
    AchRefused,
    Credit,
    Originator,
    Payee,
    ach_file,
    check_routing,
)

# Each record's fields: (first, last) positions, 1-based and inclusive, as published.
LAYOUT: dict[str, dict[str, tuple[int, int]]] = {
    "1": {  # file header
        "record_type": (1, 1),
        "priority_code": (2, 3),
        "immediate_destination": (4, 13),
        "immediate_origin": (14, 23),
        "file_creation_date": (24, 29),
        "file_creation_time": (30, 33),
        "file_id_modifier": (34, 34),
        "record_size": (35, 37),
        "blocking_factor": (38, 39),
        "format_code": (40, 40),
        "immediate_destination_name": (41, 63),
        "immediate_origin_name": (64, 86),
        "reference_code": (87, 94),
    },
    "5": {  # company/batch header
        "record_type": (1, 1),
        "service_class_code": (2, 4),
        "company_name": (5, 20),
        "company_discretionary_data": (21, 40),
        "company_identification": (41, 50),
        "standard_entry_class_code": (51, 53),
        "company_entry_description": (54, 63),
        "company_descriptive_date": (64, 69),
        "effective_entry_date": (70, 75),
        "settlement_date": (76, 78),
        "originator_status_code": (79, 79),
        "originating_dfi_identification": (80, 87),
        "batch_number": (88, 94),
    },
    "6": {  # entry detail, PPD and CCD
        "record_type": (1, 1),
        "transaction_code": (2, 3),
        "receiving_dfi_identification": (4, 11),
        "check_digit": (12, 12),
        "dfi_account_number": (13, 29),
        "amount": (30, 39),
        "identification_number": (40, 54),
        "receiver_name": (55, 76),
        "discretionary_data": (77, 78),
        "addenda_record_indicator": (79, 79),
        "trace_number": (80, 94),
    },
    "8": {  # company/batch control
        "record_type": (1, 1),
        "service_class_code": (2, 4),
        "entry_addenda_count": (5, 10),
        "entry_hash": (11, 20),
        "total_debit_entry_dollar_amount": (21, 32),
        "total_credit_entry_dollar_amount": (33, 44),
        "company_identification": (45, 54),
        "message_authentication_code": (55, 73),
        "reserved": (74, 79),
        "originating_dfi_identification": (80, 87),
        "batch_number": (88, 94),
    },
    "9": {  # file control
        "record_type": (1, 1),
        "batch_count": (2, 7),
        "block_count": (8, 13),
        "entry_addenda_count": (14, 21),
        "entry_hash": (22, 31),
        "total_debit_entry_dollar_amount_in_file": (32, 43),
        "total_credit_entry_dollar_amount_in_file": (44, 55),
        "reserved": (56, 94),
    },
}
FILLER = "9" * 94


def read(text: str) -> list[dict[str, str]]:
    """Every record of a NACHA file but the filler, as its fields (text as written)."""
    assert text.endswith("\n")
    records = []
    for line in text.removesuffix("\n").split("\n"):
        if line == FILLER:
            continue
        fields = LAYOUT[line[0]]
        records.append({name: line[first - 1 : last] for name, (first, last) in fields.items()})
    return records


def with_check_digit(eight: str) -> str:
    """A routing number: eight digits and the ABA check digit (weights 3, 7, 1)."""
    weighted = sum(int(d) * w for d, w in zip(eight, [3, 7, 1, 3, 7, 1, 3, 7], strict=True))
    return eight + str(-weighted % 10)


SPONSOR = Originator(
    routing_number="021000021",
    bank_name="JPMorgan Chase",
    company_name="Software Freedom Conservancy",
    company_id="1123456789",
)
ZOE = Credit(
    identification="REQ-42",
    name="Zoë O'Brien",
    payee=Payee.PERSON,
    routing_number="011000015",
    account_number="123456789",
    account_type=AccountType.CHECKING,
    amount=12_345,
)
ACME = Credit(
    identification="REQ-43",
    name="Acme Hosting, Inc.",
    payee=Payee.COMPANY,
    routing_number="091000019",
    account_number="9876543210",
    account_type=AccountType.SAVINGS,
    amount=1_000_000,
)
CREATED_AT = datetime(2025, 3, 14, 9, 30, tzinfo=ZoneInfo("America/New_York"))
EFFECTIVE_ON = date(2025, 3, 17)

# The two credits above as the bank expects them, written by hand; "|" marks the end of
# each 94-character record (so that no line of this source ends in spaces).
EXPECTED = """
101 02100002111234567892503140930A094101JPMORGAN CHASE         SOFTWARE FREEDOM CONSER        |
5220SOFTWARE FREEDOM                    1123456789PPDEXPENSES        250317   1021000020000001|
622011000015123456789        0000012345REQ-42         ZOE O'BRIEN             0021000020000001|
822000000100011000010000000000000000000123451123456789                         021000020000001|
5220SOFTWARE FREEDOM                    1123456789CCDEXPENSES        250317   1021000020000002|
6320910000199876543210       0001000000REQ-43         ACME HOSTING, INC.      0021000020000002|
822000000100091000010000000000000000010000001123456789                         021000020000002|
9000002000001000000020010200002000000000000000001012345                                       |
9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999|
9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999|
"""


def pay(*credits: Credit, **options: str) -> str:
    return ach_file(
        SPONSOR, list(credits), created_at=CREATED_AT, effective_on=EFFECTIVE_ON, **options
    )


def test_the_position_table_covers_each_record_once_from_1_to_94() -> None:
    for fields in LAYOUT.values():
        positions = [p for first, last in fields.values() for p in range(first, last + 1)]
        assert positions == list(range(1, 95))


def test_a_person_and_a_company_make_the_file_written_by_hand() -> None:
    lines = EXPECTED.strip("\n").split("\n")
    assert all(len(line) == 95 and line.endswith("|") for line in lines)

    assert pay(ZOE, ACME) == "".join(line.removesuffix("|") + "\n" for line in lines)


def test_the_fields_of_the_file_written_by_hand_are_where_the_rules_put_them() -> None:
    header, ppd, zoe, ppd_control, ccd, acme, ccd_control, control = read(pay(ZOE, ACME))

    assert header == {
        "record_type": "1",
        "priority_code": "01",
        "immediate_destination": " 021000021",
        "immediate_origin": "1123456789",
        "file_creation_date": "250314",
        "file_creation_time": "0930",
        "file_id_modifier": "A",
        "record_size": "094",
        "blocking_factor": "10",
        "format_code": "1",
        "immediate_destination_name": "JPMORGAN CHASE".ljust(23),
        "immediate_origin_name": "SOFTWARE FREEDOM CONSER",
        "reference_code": " " * 8,
    }
    assert ppd == {
        "record_type": "5",
        "service_class_code": "220",
        "company_name": "SOFTWARE FREEDOM",
        "company_discretionary_data": " " * 20,
        "company_identification": "1123456789",
        "standard_entry_class_code": "PPD",
        "company_entry_description": "EXPENSES  ",
        "company_descriptive_date": " " * 6,
        "effective_entry_date": "250317",
        "settlement_date": "   ",
        "originator_status_code": "1",
        "originating_dfi_identification": "02100002",
        "batch_number": "0000001",
    }
    assert zoe == {
        "record_type": "6",
        "transaction_code": "22",
        "receiving_dfi_identification": "01100001",
        "check_digit": "5",
        "dfi_account_number": "123456789".ljust(17),
        "amount": "0000012345",
        "identification_number": "REQ-42".ljust(15),
        "receiver_name": "ZOE O'BRIEN".ljust(22),
        "discretionary_data": "  ",
        "addenda_record_indicator": "0",
        "trace_number": "021000020000001",
    }
    assert ppd_control == {
        "record_type": "8",
        "service_class_code": "220",
        "entry_addenda_count": "000001",
        "entry_hash": "0001100001",
        "total_debit_entry_dollar_amount": "000000000000",
        "total_credit_entry_dollar_amount": "000000012345",
        "company_identification": "1123456789",
        "message_authentication_code": " " * 19,
        "reserved": " " * 6,
        "originating_dfi_identification": "02100002",
        "batch_number": "0000001",
    }
    assert (ccd["standard_entry_class_code"], ccd["batch_number"]) == ("CCD", "0000002")
    assert (acme["transaction_code"], acme["receiver_name"]) == ("32", "ACME HOSTING, INC.    ")
    assert (acme["dfi_account_number"], acme["amount"]) == ("9876543210       ", "0001000000")
    assert acme["trace_number"] == "021000020000002"
    assert (ccd_control["entry_hash"], ccd_control["batch_number"]) == ("0009100001", "0000002")
    assert ccd_control["total_credit_entry_dollar_amount"] == "000001000000"
    assert control == {
        "record_type": "9",
        "batch_count": "000002",
        "block_count": "000001",
        "entry_addenda_count": "00000002",
        "entry_hash": "0010200002",
        "total_debit_entry_dollar_amount_in_file": "000000000000",
        "total_credit_entry_dollar_amount_in_file": "000001012345",
        "reserved": " " * 39,
    }


def test_persons_are_batched_first_and_trace_numbers_ascend_through_the_file() -> None:
    second_person = replace(ZOE, identification="REQ-44", amount=500)
    records = read(pay(ACME, ZOE, second_person))

    assert [r["record_type"] for r in records] == ["1", "5", "6", "6", "8", "5", "6", "8", "9"]
    entries = [r for r in records if r["record_type"] == "6"]
    assert [e["identification_number"].strip() for e in entries] == ["REQ-42", "REQ-44", "REQ-43"]
    assert [e["trace_number"] for e in entries] == [
        "021000020000001",
        "021000020000002",
        "021000020000003",
    ]


def test_one_kind_of_payee_makes_one_batch() -> None:
    records = read(pay(ACME, replace(ACME, identification="REQ-50")))

    assert [r["record_type"] for r in records] == ["1", "5", "6", "6", "8", "9"]
    assert records[1]["standard_entry_class_code"] == "CCD"
    assert records[-1]["batch_count"] == "000001"


def test_the_entry_hash_keeps_its_rightmost_ten_digits() -> None:
    # 101 credits to a bank numbered 99999999: the identifications add to 10,099,999,899.
    far = replace(ZOE, routing_number=with_check_digit("99999999"), amount=1)
    records = read(pay(*[far] * 101))

    assert records[-2]["entry_hash"] == "0099999899"
    assert records[-1]["entry_hash"] == "0099999899"
    assert records[-1]["entry_addenda_count"] == "00000101"
    # 1 + 1 + 101 + 1 + 1 records: eleven blocks of ten.
    assert records[-1]["block_count"] == "000011"


def test_a_file_of_exactly_ten_records_has_no_filler() -> None:
    text = pay(*[replace(ZOE, identification=f"REQ-{n}") for n in range(6)])

    assert text.count("\n") == 10
    assert FILLER not in text
    assert read(text)[-1]["block_count"] == "000001"


def test_names_with_accents_newlines_and_too_many_letters_keep_the_layout() -> None:
    names = {
        "REQ-1": ("Zoë O'Brien", "ZOE O'BRIEN"),
        "REQ-2": ("Ann\nSmith\r\n", "ANN SMITH"),
        "REQ-3": ("Ünïcödé Straße GmbH & Co. KG International", "UNICODE STRASSE GMBH &"),
        "REQ-4": ("Tab\there  and   spaces", "TAB HERE AND SPACES"),
        "REQ-5": ("Party 🎉 Supplies", "PARTY SUPPLIES"),
        "REQ-6": ("Łukasz Ørsted-Æbelø", "LUKASZ ORSTED-AEBELO"),
    }
    credits = [replace(ZOE, identification=i, name=name) for i, (name, _) in names.items()]
    sponsor = replace(SPONSOR, company_name="Software\nFreedom Conservancy", bank_name="Bank\x00é")

    text = ach_file(sponsor, credits, created_at=CREATED_AT, effective_on=EFFECTIVE_ON)

    lines = text.removesuffix("\n").split("\n")
    assert all(len(line) == 94 for line in lines)
    assert len(lines) == 10
    assert all(" " <= c <= "~" for c in text.replace("\n", ""))
    records = read(text)
    assert {r["identification_number"].strip(): r["receiver_name"] for r in records[2:-2]} == {
        i: plain.ljust(22) for i, (_, plain) in names.items()
    }
    assert records[1]["company_name"] == "SOFTWARE FREEDOM"
    assert records[0]["immediate_destination_name"] == "BANK E".ljust(23)


def test_a_lower_case_description_is_written_in_capitals() -> None:
    records = read(pay(ZOE, description="refund"))

    assert records[1]["company_entry_description"] == "REFUND    "


def test_the_file_id_modifier_and_a_routing_number_as_immediate_origin() -> None:
    sponsor = replace(SPONSOR, immediate_origin="123456780")
    text = ach_file(
        sponsor, [ZOE], created_at=CREATED_AT, effective_on=EFFECTIVE_ON, file_id_modifier="7"
    )

    header = read(text)[0]
    assert (header["immediate_origin"], header["file_id_modifier"]) == (" 123456780", "7")
    assert read(text)[1]["company_identification"] == "1123456789"


def test_the_largest_amount_an_entry_carries_is_paid() -> None:
    records = read(pay(replace(ZOE, amount=9_999_999_999)))

    assert records[2]["amount"] == "9999999999"
    assert records[-1]["total_credit_entry_dollar_amount_in_file"] == "009999999999"


def test_a_valid_routing_number_passes_and_one_wrong_digit_fails() -> None:
    assert check_routing("021000021") == "021000021"
    with pytest.raises(AchRefused) as refused:
        check_routing("021000022")
    assert str(refused.value) == "The routing number 021000022 fails its check digit."


@pytest.mark.parametrize("number", ["02100002", "0210000210", "02100002a", "021000021\n", ""])
def test_a_routing_number_of_other_than_nine_digits_fails(number: str) -> None:
    with pytest.raises(AchRefused) as refused:
        check_routing(number)
    assert str(refused.value) == f"The routing number {number!r} is not 9 digits."


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"routing_number": "011000016"},
            "REQ-42: the routing number 011000016 fails its check digit.",
        ),
        (
            {"routing_number": "1100001"},
            "REQ-42: the routing number '1100001' is not 9 digits.",
        ),
        (
            {"account_number": "1234-5678"},
            "REQ-42: the account number '1234-5678' is not 1 to 17 digits.",
        ),
        (
            {"account_number": "1" * 18},
            "REQ-42: the account number '111111111111111111' is not 1 to 17 digits.",
        ),
        ({"account_number": ""}, "REQ-42: the account number '' is not 1 to 17 digits."),
        ({"amount": 0}, "REQ-42: the amount $0.00 is not more than zero."),
        ({"amount": -500}, "REQ-42: the amount -$5.00 is not more than zero."),
        (
            {"amount": 10_000_000_000},
            "REQ-42: the amount $100,000,000.00 is more than an entry carries ($99,999,999.99).",
        ),
        (
            {"name": "李小龙"},
            "REQ-42: the name '李小龙' has no character a bank file carries; "
            "write it in Latin letters.",
        ),
        (
            {"identification": "REQ-1234567890123"},
            "REQ-1234567890123: the identification 'REQ-1234567890123' is longer than "
            "the 15 characters its field holds.",
        ),
    ],
)
def test_a_credit_the_bank_would_refuse_is_refused_by_its_identification(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(AchRefused) as refused:
        pay(ACME, replace(ZOE, **change))  # type: ignore[arg-type]
    assert str(refused.value) == message


def test_the_refusal_names_the_credit_at_fault() -> None:
    with pytest.raises(AchRefused) as refused:
        pay(ZOE, replace(ACME, account_number="98 76"))
    assert str(refused.value) == "REQ-43: the account number '98 76' is not 1 to 17 digits."


def test_an_amount_that_is_not_integer_cents_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        pay(replace(ZOE, amount=123.45))  # type: ignore[arg-type]


def test_a_file_without_credits_is_refused() -> None:
    with pytest.raises(AchRefused) as refused:
        pay()
    assert str(refused.value) == "There are no credits to pay: a file needs at least one."


@pytest.mark.parametrize("modifier", ["a", "AB", "", "-", "É"])
def test_a_file_id_modifier_other_than_a_to_z_or_0_to_9_is_refused(modifier: str) -> None:
    with pytest.raises(AchRefused) as refused:
        pay(ZOE, file_id_modifier=modifier)
    assert str(refused.value) == (
        f"The file ID modifier {modifier!r} is not one capital letter A-Z or digit 0-9."
    )


def test_a_description_longer_than_ten_is_refused_and_ten_is_written() -> None:
    with pytest.raises(AchRefused) as refused:
        pay(ZOE, description="EXPENSES 2025")
    assert str(refused.value) == (
        "The company entry description 'EXPENSES 2025' is longer than 10 characters."
    )
    assert read(pay(ZOE, description="REIMBURSED"))[1]["company_entry_description"] == (
        "REIMBURSED"
    )


def test_an_empty_description_is_refused() -> None:
    with pytest.raises(AchRefused) as refused:
        pay(ZOE, description=" ")
    assert str(refused.value) == (
        "The company entry description is empty; the payees' banks show it."
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"routing_number": "021000022"},
            "Originator: the routing number 021000022 fails its check digit.",
        ),
        (
            {"company_id": "12-3456789"},
            "Originator: the company identification '12-3456789' is not 1 to 10 capital "
            "letters or digits.",
        ),
        (
            {"company_id": "11234567890"},
            "Originator: the company identification '11234567890' is not 1 to 10 capital "
            "letters or digits.",
        ),
        (
            {"company_id": "123"},
            "Originator: the immediate origin '123' is neither 10 capital letters or digits "
            "nor a 9-digit routing number.",
        ),
        ({"company_name": "\n"}, "Originator: the company name is empty."),
    ],
)
def test_an_originator_the_bank_would_refuse_is_refused(
    change: dict[str, str], message: str
) -> None:
    with pytest.raises(AchRefused) as refused:
        ach_file(
            replace(SPONSOR, **change),
            [ZOE],
            created_at=CREATED_AT,
            effective_on=EFFECTIVE_ON,
        )
    assert str(refused.value) == message


routing_numbers = st.text("0123456789", min_size=8, max_size=8).map(with_check_digit)
credit_lists = st.lists(
    st.builds(
        Credit,
        identification=st.integers(1, 10**11 - 1).map(lambda n: f"REQ-{n}"),
        name=st.text(max_size=40).map(lambda name: "N" + name),
        payee=st.sampled_from(Payee),
        routing_number=routing_numbers,
        account_number=st.text("0123456789", min_size=1, max_size=17),
        account_type=st.sampled_from(AccountType),
        amount=st.integers(1, 9_999_999_999),
    ),
    min_size=1,
    max_size=30,
)


@given(credit_lists)
def test_counts_totals_hashes_and_traces_agree_with_the_entries(credits: list[Credit]) -> None:
    text = pay(*credits)

    lines = text.removesuffix("\n").split("\n")
    assert all(len(line) == 94 for line in lines)
    assert len(lines) % 10 == 0
    assert all(" " <= c <= "~" for line in lines for c in line)
    records = read(text)
    assert lines[len(records) :] == [FILLER] * (len(lines) - len(records))
    header, *batches_and_entries, control = records
    assert (header["record_type"], control["record_type"]) == ("1", "9")

    batches: list[tuple[dict[str, str], list[dict[str, str]], dict[str, str]]] = []
    for record in batches_and_entries:
        if record["record_type"] == "5":
            batches.append((record, [], {}))
        elif record["record_type"] == "6":
            batches[-1][1].append(record)
        else:
            assert record["record_type"] == "8"
            batches[-1][2].update(record)

    payees = [payee for payee in Payee if any(c.payee is payee for c in credits)]
    assert [b["standard_entry_class_code"] for b, _, _ in batches] == [p.value for p in payees]
    for number, ((batch, entries, batch_control), payee) in enumerate(
        zip(batches, payees, strict=True), start=1
    ):
        paid = [c for c in credits if c.payee is payee]
        assert batch["batch_number"] == batch_control["batch_number"] == f"{number:07}"
        assert batch["service_class_code"] == batch_control["service_class_code"] == "220"
        assert batch["company_identification"] == batch_control["company_identification"]
        assert int(batch_control["entry_addenda_count"]) == len(entries) == len(paid)
        assert (
            int(batch_control["entry_hash"])
            == sum(int(e["receiving_dfi_identification"]) for e in entries) % 10**10
        )
        assert int(batch_control["total_debit_entry_dollar_amount"]) == 0
        assert int(batch_control["total_credit_entry_dollar_amount"]) == sum(c.amount for c in paid)
        for entry, credit in zip(entries, paid, strict=True):
            code = {AccountType.CHECKING: "22", AccountType.SAVINGS: "32"}[credit.account_type]
            assert entry["transaction_code"] == code
            assert entry["receiving_dfi_identification"] + entry["check_digit"] == (
                credit.routing_number
            )
            assert entry["dfi_account_number"] == credit.account_number.ljust(17)
            assert int(entry["amount"]) == credit.amount
            assert entry["identification_number"] == credit.identification.ljust(15)
            assert entry["receiver_name"] == entry["receiver_name"].upper()

    entries = [e for _, batch_entries, _ in batches for e in batch_entries]
    traces = [e["trace_number"] for e in entries]
    assert all(trace.startswith("02100002") for trace in traces)
    assert [int(trace[8:]) for trace in traces] == list(range(1, len(credits) + 1))
    assert int(control["batch_count"]) == len(batches)
    assert int(control["block_count"]) == len(lines) // 10
    assert int(control["entry_addenda_count"]) == len(credits)
    assert int(control["entry_hash"]) == sum(int(c.routing_number[:8]) for c in credits) % 10**10
    assert int(control["total_debit_entry_dollar_amount_in_file"]) == 0
    assert int(control["total_credit_entry_dollar_amount_in_file"]) == sum(
        c.amount for c in credits
    )
