"""Values that cannot be true, consent written in ordinary variants, and deletion requests.

One small warehouse, built once from a hand-written landing dir:

- a contact version dated 9999-12-31 must not beat a later real update; times in year 0001 or
  -44 and amounts such as `1e3` or `12.345` are flagged or quarantined with a reason;
- every consent-withdrawal variant (status, purpose, identifier_type, date, national phone)
  is honoured: the person's consent trait is false, so no sync sends them;
- a withdrawal whose purpose or date cannot be read still withdraws what it can identify;
- deletion requests with a day-first date, no readable date or a non-ASCII email erase the
  person;
- a deletion request and a withdrawal that name no readable identifier fail the blocking test
  assert_consent_and_deletion_rows_are_applied, which names them by key, while the rest of
  the build (every other erasure and consent) still completes;
- a phone written without its country code (these rows carry no country) is read in every
  country: a French number withdraws the French customer's consent, a British one erases the
  British customer; a number valid in two countries held by two customers withdraws both, and
  a grant on it is not applied (it fails the blocking test with the match count and
  countries); after a drop that changes what such rows match, the incremental run gives what
  a full refresh gives.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from cdp.landing import write_csv_landing
from cdp.pipeline import Settings, run_dbt
from tests.conftest import query
from tests.dbt.test_incremental import differences

pytestmark = pytest.mark.slow

AS_OF = "2025-07-01"
BLOCKING_TEST = "assert_consent_and_deletion_rows_are_applied"

# Withdrawal variants, one person each: (contact, consent row after a grant of email_marketing).
WITHDRAWALS = {
    "opt-out": {"status": "opt_out"},
    "unsubscribed": {"status": "Unsubscribed"},
    "opted-out-spaced": {"status": " Opted Out "},
    "purpose-words": {"purpose": "Email Marketing", "status": "withdrawn"},
    "purpose-hyphen": {"purpose": "email-marketing", "status": "no"},
    "day-first": {"status": "revoked", "recorded_at": "30/06/2025 10:00"},
    "type-variant": {"identifier_type": "E-mail", "status": "false"},
    # No readable purpose: withdraws every purpose.
    "purpose-unreadable": {"purpose": "mrkting stuff", "status": "revoked"},
    # No readable date: applied as of its file's latest time, after the earlier grant.
    "date-unreadable": {"status": "revoked", "recorded_at": "not a date"},
    "date-impossible": {"status": "revoked", "recorded_at": "9999-12-31T00:00:00Z"},
}


def _email(name: str) -> str:
    return f"{name}@example.com"


def landing() -> dict[str, list[dict[str, str]]]:
    contacts = [
        # A version dated 9999-12-31 and a real later update: the real one must win.
        {
            "contact_id": "hs-future",
            "email": "future.old@example.com",
            "first_name": "Old",
            "updated_at": "9999-12-31T00:00:00Z",
        },
        {
            "contact_id": "hs-future",
            "email": "future.new@example.com",
            "first_name": "New",
            "updated_at": "2025-06-01T00:00:00Z",
        },
        {
            "contact_id": "hs-ancient",
            "email": "ancient@example.com",
            "created_at": "0001-01-01T00:00:00Z",
            "updated_at": "-44-03-15",
        },
        {"contact_id": "hs-granting", "email": "granting@example.com", "updated_at": "2025-01-01"},
        # A national phone number (US default country) withdrawing SMS consent.
        {
            "contact_id": "hs-phone",
            "email": "phone.person@example.com",
            "phone": "+1 212 555 0199",
            "country": "US",
            "updated_at": "2025-01-01T00:00:00Z",
        },
        # Phones without a country code in the consent and deletion rows below: a French and a
        # British number (the US default cannot read either), and one number that France and
        # Spain both read, held by a customer in each.
        *(
            {
                "contact_id": f"hs-{name}",
                "email": f"{name}@example.com",
                "phone": phone,
                "country": country,
                "updated_at": "2025-01-01T00:00:00Z",
            }
            for name, phone, country in [
                ("fr-phone", "+33 6 12 34 56 78", "FR"),
                ("gb-phone", "+44 20 7946 0018", "GB"),
                ("two-fr", "+33 6 55 44 33 22", "FR"),
                ("two-es", "+34 655 44 33 22", "ES"),
            ]
        ),
        # Deletion requests to apply.
        *(
            {"contact_id": f"hs-{name}", "email": email, "updated_at": "2025-01-01T00:00:00Z"}
            for name, email in [
                ("erase-undated", "undated.request@example.com"),
                ("erase-day-first", "dayfirst.request@example.com"),
                ("erase-idn", "jürgen.müller@bücher.de"),
            ]
        ),
    ]
    consent = []
    for index, (name, withdrawal) in enumerate(WITHDRAWALS.items()):
        contacts.append(
            {"contact_id": f"hs-{name}", "email": _email(name), "updated_at": "2025-01-01T00:00Z"}
        )
        for purpose in ("email_marketing", "sms_marketing"):
            consent.append(
                {
                    "consent_event_id": f"ce-grant-{purpose}-{index}",
                    "identifier_type": "email",
                    "identifier_value": _email(name),
                    "purpose": purpose,
                    "status": "granted",
                    "recorded_at": "2025-06-01T00:00:00Z",
                }
            )
        consent.append(
            {
                "consent_event_id": f"ce-withdraw-{index}",
                "identifier_type": "email",
                "identifier_value": _email(name),
                "purpose": "email_marketing",
                "recorded_at": "2025-06-15T00:00:00Z",
                **withdrawal,
            }
        )
    consent += [
        {
            "consent_event_id": "ce-phone-grant",
            "identifier_type": "phone",
            "identifier_value": "+12125550199",
            "purpose": "sms_marketing",
            "status": "granted",
            "recorded_at": "2025-06-01T00:00:00Z",
        },
        {
            "consent_event_id": "ce-phone-withdraw",
            "identifier_type": "Phone Number",
            "identifier_value": "(212) 555-0199",
            "purpose": "SMS",
            "status": "unsubscribe",
            "recorded_at": "2025-06-20 08:00",
        },
        {
            "consent_event_id": "ce-grant-variant-1",
            "identifier_type": "email",
            "identifier_value": "granting@example.com",
            "purpose": "Email-Marketing",
            "status": "Opt-In",
            "recorded_at": "2025-06-01T00:00:00Z",
        },
        {
            "consent_event_id": "ce-grant-variant-2",
            "identifier_type": "email",
            "identifier_value": "granting@example.com",
            "purpose": "sms marketing",
            "status": "subscribed",
            "recorded_at": "15/06/2025 10:00",
        },
        *(
            {
                "consent_event_id": f"ce-{name}-sms-grant",
                "identifier_type": "phone",
                "identifier_value": phone,
                "purpose": "sms_marketing",
                "status": "granted",
                "recorded_at": "2025-06-01T00:00:00Z",
            }
            for name, phone in [
                ("fr", "+33612345678"),
                ("two-fr", "+33655443322"),
                ("two-es", "+34655443322"),
            ]
        ),
        {
            "consent_event_id": "ce-fr-national-opt-out",
            "identifier_type": "mobile",
            "identifier_value": "06 12 34 56 78",
            "purpose": "sms",
            "status": "opt-out",
            "recorded_at": "2025-06-20T00:00:00Z",
        },
        # The British customer's number without its trunk 0: the US default reads it as
        # +1 207 946 0018, a number nobody has (the event alone makes it a profile).
        {
            "consent_event_id": "ce-gb-national-opt-out",
            "identifier_type": "phone",
            "identifier_value": "207 946 0018",
            "purpose": "sms_marketing",
            "status": "opt_out",
            "recorded_at": "2025-06-20T00:00:00Z",
        },
        {
            "consent_event_id": "ce-two-national-opt-out",
            "identifier_type": "phone",
            "identifier_value": "655 44 33 22",
            "purpose": "sms_marketing",
            "status": "opt_out",
            "recorded_at": "2025-06-20T00:00:00Z",
        },
        {
            "consent_event_id": "ce-two-national-opt-in",
            "identifier_type": "phone",
            "identifier_value": "655 44 33 22",
            "purpose": "email_marketing",
            "status": "opt_in",
            "recorded_at": "2025-06-20T00:00:00Z",
        },
        # Names nobody readable: cannot be applied, must fail the blocking test.
        {
            "consent_event_id": "ce-unappliable",
            "identifier_type": "email",
            "identifier_value": "broken@",
            "purpose": "email_marketing",
            "status": "opt_out",
            "recorded_at": "2025-06-20T00:00:00Z",
        },
    ]
    deletion_requests = [
        {
            "request_id": "dsr-undated",
            "identifier_type": "email",
            "identifier_value": "undated.request@example.com",
            "requested_at": "not a date",
        },
        {
            "request_id": "dsr-day-first",
            "identifier_type": "email",
            "identifier_value": "DayFirst.Request@Example.com",
            "requested_at": "30/06/2025 10:00",
        },
        {
            "request_id": "dsr-idn",
            "identifier_type": "email",
            "identifier_value": " Jürgen.Müller@Bücher.de\u00a0",
            "requested_at": "2025-06-01T00:00:00Z",
        },
        {
            "request_id": "dsr-gb-national",
            "identifier_type": "phone",
            "identifier_value": "020 7946 0018",
            "requested_at": "2025-06-01T00:00:00Z",
        },
        {
            "request_id": "dsr-unappliable",
            "identifier_type": "email",
            "identifier_value": "kim.ali@",
            "requested_at": "2025-06-01T00:00:00Z",
        },
    ]
    orders = [
        {"order_id": "o-plain", "total": "1,234.50", "discount": "5"},
        {"order_id": "o-exponent", "total": "1e3"},
        {"order_id": "o-three-decimals", "total": "12.345"},
        {"order_id": "o-discount-exponent", "total": "10.00", "discount": "2e1"},
        {"order_id": "o-year-one", "total": "10.00", "ordered_at": "0001-01-01T00:00:00Z"},
        {"order_id": "o-future", "total": "10.00", "ordered_at": "9999-12-31T00:00:00Z"},
    ]
    for order in orders:
        order.setdefault("ordered_at", "2025-03-01T00:00:00Z")
        order.update(customer_id="u-1", status="paid", updated_at="")
    return {
        "crm/contacts": contacts,
        "consent/events": consent,
        "privacy/deletion_requests": deletion_requests,
        "shop/customers": [
            {"customer_id": "u-1", "email": "shopper@example.com", "updated_at": "2025-01-01"}
        ],
        "shop/orders": orders,
    }


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("values")
    raw_dir = root / "landing"
    write_csv_landing(raw_dir, landing())
    duckdb_path = root / "warehouse.duckdb"
    settings = Settings(
        raw_dir=raw_dir, duckdb_path=duckdb_path, dbt_target_path=root / "dbt-target"
    )
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", AS_OF)
        patch.setenv("CDP_ACKNOWLEDGED_UNAPPLIED_ROWS", "")
        outcome = run_dbt(["build"], settings, on_line=lines.append)
    return {"path": duckdb_path, "outcome": outcome, "lines": lines}


def _customer_of(path: Path, email: str) -> tuple:
    [row] = query(
        path,
        f"""
        select customers.customer_id, customers.is_erased, customers.email,
            customers.consent_email_marketing, customers.consent_sms_marketing
        from core.customer_identifiers as identifiers
        inner join core.customers as customers using (customer_id)
        where identifiers.identifier_type = 'email' and identifiers.identifier_value = '{email}'
        """,
    )
    return row


def test_only_the_blocking_test_fails_and_it_names_the_unapplied_rows(build: dict) -> None:
    outcome = build["outcome"]
    assert not outcome.success
    assert [failure for failure in outcome.failures if not failure.startswith("dbt:")] == [
        BLOCKING_TEST
    ], build["lines"][-30:]
    output = "\n".join(build["lines"])
    assert "not applied: consent/events ce-unappliable" in output
    assert "not applied: privacy/deletion_requests dsr-unappliable" in output
    assert (
        "not applied: consent/events ce-two-national-opt-in:"
        " national phone matches 2 customers in ES, FR" in output
    )
    # Keys and reasons only, never the values themselves.
    assert "kim.ali@" not in output and "broken@" not in output
    assert "655 44 33 22" not in output and "655443322" not in output
    rows = query(
        build["path"],
        "select landing_table, record_key, reason, is_acknowledged"
        " from privacy.privacy_unapplied_rows order by 1, 2",
    )
    assert rows == [
        (
            "consent/events",
            "ce-two-national-opt-in",
            "national phone matches 2 customers in ES, FR",
            False,
        ),
        ("consent/events", "ce-unappliable", "missing or invalid identifier_value", False),
        (
            "privacy/deletion_requests",
            "dsr-unappliable",
            "missing or invalid identifier_value",
            False,
        ),
    ]


def test_a_version_dated_9999_does_not_beat_a_later_real_update(build: dict) -> None:
    [(email, first_name)] = query(
        build["path"],
        "select email, first_name from staging.stg_crm__contacts where contact_id = 'hs-future'",
    )
    assert (email, first_name) == ("future.new@example.com", "New")


def test_times_in_year_one_and_minus_44_are_not_accepted(build: dict) -> None:
    # Neither of this contact's times can be true: it is quarantined, with the reason.
    reasons = dict(
        query(
            build["path"],
            "select record_key, quarantine_reason from audit.int_landing__row_dispositions"
            " where disposition = 'quarantined'",
        )
    )
    assert reasons["hs-ancient"] == "no readable updated_at or created_at"
    assert reasons["o-year-one"].startswith("out-of-range ordered_at")
    assert reasons["o-future"].startswith("out-of-range ordered_at")


def test_amounts_that_are_not_plain_decimals_are_quarantined_or_flagged(build: dict) -> None:
    reasons = dict(
        query(
            build["path"],
            "select record_key, quarantine_reason from audit.int_landing__row_dispositions"
            " where landing_table = 'shop/orders'",
        )
    )
    assert reasons["o-plain"] is None
    assert reasons["o-exponent"] == (
        "unreadable total: not a plain decimal (sign, digits, optional decimals;"
        " no exponent or symbols)"
    )
    assert reasons["o-three-decimals"] == "unreadable total: more than 2 decimal places"
    staged = {
        order_id: (total, discount, flagged)
        for order_id, total, discount, flagged in query(
            build["path"],
            "select order_id, total, discount, has_invalid_discount from staging.stg_shop__orders",
        )
    }
    assert staged["o-plain"] == (pytest.approx(1234.5), pytest.approx(5), False)
    assert staged["o-discount-exponent"][1:] == (0, True)


@pytest.mark.parametrize("name", list(WITHDRAWALS))
def test_every_withdrawal_variant_is_honoured(build: dict, name: str) -> None:
    _, _, _, email_consent, sms_consent = _customer_of(build["path"], _email(name))
    assert email_consent is False
    expected_sms = name != "purpose-unreadable"
    assert sms_consent is expected_sms


def test_a_national_phone_withdrawal_is_honoured(build: dict) -> None:
    _, _, _, _, sms_consent = _customer_of(build["path"], "phone.person@example.com")
    assert sms_consent is False


def test_grant_variants_are_honoured(build: dict) -> None:
    _, _, _, email_consent, sms_consent = _customer_of(build["path"], "granting@example.com")
    assert (email_consent, sms_consent) == (True, True)


@pytest.mark.parametrize("contact_id", ["hs-erase-undated", "hs-erase-day-first", "hs-erase-idn"])
def test_deletion_requests_without_a_date_day_first_or_non_ascii_erase_the_person(
    build: dict, contact_id: str
) -> None:
    [(email, is_erased)] = query(
        build["path"],
        f"select email, is_erased from staging.stg_crm__contacts where contact_id = '{contact_id}'",
    )
    assert is_erased is True and email is None
    [(requests,)] = query(
        build["path"],
        "select count(*) from staging.stg_privacy__deletion_requests"
        " where deletion_request_id in ('dsr-undated', 'dsr-day-first', 'dsr-idn')",
    )
    assert requests == 3


def test_a_french_national_number_withdraws_the_french_customer(build: dict) -> None:
    # "06 12 34 56 78" is no US number: read in France it is the customer's +33 6 12 34 56 78.
    _, is_erased, _, _, sms_consent = _customer_of(build["path"], "fr-phone@example.com")
    assert (is_erased, sms_consent) == (False, False)


def test_a_british_national_number_erases_the_british_customer(build: dict) -> None:
    [(email, phone, is_erased)] = query(
        build["path"],
        "select email, phone, is_erased from staging.stg_crm__contacts"
        " where contact_id = 'hs-gb-phone'",
    )
    assert (email, phone, is_erased) == (None, None, True)
    [(erased,)] = query(
        build["path"],
        """
        select count(*) from core.customers
        where is_erased and customer_id in (
            select customer_id from identity.int_identity__record_customers
            where record_source = 'crm/contacts' and record_key = 'hs-gb-phone'
        )
        """,
    )
    assert erased == 1
    # The opt-out by the same number written another way matched the British customer alone
    # (its own US reading is no one's phone), so it is masked with them.
    assert query(
        build["path"],
        "select count(distinct customer_id) from privacy.int_privacy__national_phone_matches"
        " where record_key = 'ce-gb-national-opt-out'",
    ) == [(1,)]
    assert query(
        build["path"],
        "select identifier_value, is_erased from staging.stg_consent__events"
        " where consent_event_id = 'ce-gb-national-opt-out'",
    ) == [(None, True)]


def test_a_number_two_countries_read_withdraws_both_and_grants_neither(build: dict) -> None:
    # "655 44 33 22" is +33 6 55 44 33 22 in France and +34 655 44 33 22 in Spain: the opt-out
    # withdraws SMS from both customers, the opt-in to email reaches neither (it is listed
    # unapplied, see the first test).
    for name in ("two-fr", "two-es"):
        _, _, _, email_consent, sms_consent = _customer_of(build["path"], f"{name}@example.com")
        assert (email_consent, sms_consent) == (False, False), name
    [(matched,)] = query(
        build["path"],
        "select count(distinct customer_id) from privacy.int_privacy__national_phone_matches"
        " where record_key = 'ce-two-national-opt-out' and is_applied",
    )
    assert matched == 2


# What a drop changes for the rows with national phones: a grant that matched one customer
# matches two once a Spanish customer lands with the Spanish reading of its number; a deletion
# request that matched nobody finds the British customer who lands; a deletion request that
# erased the one French customer it matched keeps them erased when a Spanish customer with
# the Spanish reading lands; a withdrawal re-delivered under its key with another number
# moves from the customer its first number matched to the one its new number matches.
INITIAL_PEOPLE = [
    ("late-fr", "+33 6 98 76 54 32", "FR"),
    ("sticky-fr", "+33 6 12 34 56 78", "FR"),
    ("redelivered-fr", "+33 6 11 22 33 44", "FR"),
    ("redelivered-gb", "+44 20 7946 0018", "GB"),
]
DROPPED_PEOPLE = [
    ("late-es", "+34 698 765 432", "ES"),
    ("late-gb", "+44 161 496 0000", "GB"),
    ("sticky-es", "+34 612 345 678", "ES"),
]


def _sms_withdrawal(number: str) -> dict[str, str]:
    return {
        "consent_event_id": "ce-redelivered-national-opt-out",
        "identifier_type": "phone",
        "identifier_value": number,
        "purpose": "sms_marketing",
        "status": "revoked",
        "recorded_at": "2025-06-01T00:00:00Z",
    }


def _contacts(people: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [
        {
            "contact_id": f"hs-{name}",
            "email": f"{name}@example.com",
            "phone": phone,
            "country": country,
            "updated_at": "2025-01-01T00:00:00Z",
        }
        for name, phone, country in people
    ]


def changing_matches_landing() -> dict[str, list[dict[str, str]]]:
    return {
        "crm/contacts": _contacts(INITIAL_PEOPLE),
        "consent/events": [
            {
                "consent_event_id": "ce-late-national-grant",
                "identifier_type": "phone",
                "identifier_value": "698 765 432",
                "purpose": "sms_marketing",
                "status": "granted",
                "recorded_at": "2025-06-01T00:00:00Z",
            },
            *(
                {
                    "consent_event_id": f"ce-grant-{name}",
                    "identifier_type": "email",
                    "identifier_value": f"{name}@example.com",
                    "purpose": "sms_marketing",
                    "status": "granted",
                    "recorded_at": "2025-05-01T00:00:00Z",
                }
                for name in ("redelivered-fr", "redelivered-gb")
            ),
            _sms_withdrawal("6 11 22 33 44"),
        ],
        "privacy/deletion_requests": [
            {
                "request_id": "dsr-late-national",
                "identifier_type": "phone",
                "identifier_value": "0161 496 0000",
                "requested_at": "2025-06-01T00:00:00Z",
            },
            {
                "request_id": "dsr-sticky-national",
                "identifier_type": "phone",
                "identifier_value": "612 345 678",
                "requested_at": "2025-06-01T00:00:00Z",
            },
        ],
    }


def _build(raw_dir: Path, duckdb_path: Path, *, full_refresh: bool = False) -> None:
    settings = Settings(
        raw_dir=raw_dir,
        duckdb_path=duckdb_path,
        dbt_target_path=duckdb_path.parent / f"{duckdb_path.stem}-dbt-target",
    )
    lines: list[str] = []
    outcome = run_dbt(
        ["build"] + (["--full-refresh"] if full_refresh else []), settings, lines.append
    )
    # Only the blocking test may fail: it names the rows that are not applied.
    assert [failure for failure in outcome.failures if not failure.startswith("dbt:")] in (
        [],
        [BLOCKING_TEST],
    ), lines[-30:]


def _consent_and_erasure(path: Path) -> dict[str, tuple]:
    return {
        contact_id: tuple(rest)
        for contact_id, *rest in query(
            path,
            """
            select contacts.record_key, customers.consent_sms_marketing, customers.is_erased
            from identity.int_identity__record_customers as contacts
            inner join core.customers as customers using (customer_id)
            where contacts.record_source = 'crm/contacts'
            """,
        )
    }


@pytest.fixture(scope="module")
def changed_matches(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("national-phones")
    raw_dir = root / "landing"
    write_csv_landing(raw_dir, changing_matches_landing())
    incremental = root / "incremental.duckdb"
    full_refresh = root / "full_refresh.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", AS_OF)
        patch.setenv("CDP_ACKNOWLEDGED_UNAPPLIED_ROWS", "")
        _build(raw_dir, incremental)
        before = _consent_and_erasure(incremental)
        unapplied_before = query(
            incremental, "select record_key, reason from privacy.privacy_unapplied_rows"
        )
        with duckdb.connect(str(incremental)) as connection:
            connection.execute("checkpoint")
        shutil.copyfile(incremental, full_refresh)
        write_csv_landing(
            raw_dir,
            {
                "crm/contacts": _contacts(DROPPED_PEOPLE),
                "consent/events": [_sms_withdrawal("020 7946 0018")],
            },
            file_name="part-00001.csv",
        )
        _build(raw_dir, incremental)
        _build(raw_dir, full_refresh, full_refresh=True)
    return {
        "before": before,
        "unapplied_before": unapplied_before,
        "incremental": incremental,
        "full_refresh": full_refresh,
    }


def test_a_drop_changes_what_national_phones_match(changed_matches: dict) -> None:
    # Before: the grant reaches the one French customer; the request matches nobody, which
    # is not an unapplied row (as a request for an unknown email is not).
    assert changed_matches["before"]["hs-late-fr"] == (True, False)
    assert changed_matches["unapplied_before"] == []
    # After: the grant matches a Spanish customer too and reaches neither; the request erases
    # the British customer who landed.
    after = _consent_and_erasure(changed_matches["incremental"])
    assert after["hs-late-fr"] == (False, False)
    assert after["hs-late-es"] == (False, False)
    assert after["hs-late-gb"] == (False, True)
    assert query(
        changed_matches["incremental"],
        "select record_key, reason from privacy.privacy_unapplied_rows",
    ) == [("ce-late-national-grant", "national phone matches 2 customers in ES, FR")]


def test_an_applied_national_phone_erasure_stays_when_the_number_matches_a_second_customer(
    changed_matches: dict,
) -> None:
    assert changed_matches["before"]["hs-sticky-fr"][1] is True
    for warehouse in ("incremental", "full_refresh"):
        after = _consent_and_erasure(changed_matches[warehouse])
        assert (after["hs-sticky-fr"][1], after["hs-sticky-es"][1]) == (True, False), warehouse
        # Applied before, so not an unapplied row now, though it matches two customers.
        assert query(
            changed_matches[warehouse],
            "select count(*) from privacy.privacy_unapplied_rows"
            " where record_key = 'dsr-sticky-national'",
        ) == [(0,)]


def test_a_withdrawal_redelivered_with_another_number_moves_to_its_new_match(
    changed_matches: dict,
) -> None:
    before = changed_matches["before"]
    assert (before["hs-redelivered-fr"][0], before["hs-redelivered-gb"][0]) == (False, True)
    after = _consent_and_erasure(changed_matches["incremental"])
    assert (after["hs-redelivered-fr"][0], after["hs-redelivered-gb"][0]) == (True, False)


def test_after_the_drop_the_incremental_run_equals_a_full_refresh(changed_matches: dict) -> None:
    assert differences(changed_matches["incremental"], changed_matches["full_refresh"]) == {}
