"""Identity resolution on hand-built graphs: long chains, merge protection, data-decided rounds."""

from __future__ import annotations

from pathlib import Path

from cdp.landing import write_csv_landing
from tests.conftest import query

CHAIN_PEOPLE = 60  # contacts in one chain; 2 * CHAIN_PEOPLE - 1 hops end to end


def chain_landing() -> dict[str, list[dict[str, str]]]:
    """One person seen as a long chain: contacts alternate sharing a phone and an email,
    the last email is identified on a browser, and that browser logs into a shop account."""
    contacts = []
    for index in range(CHAIN_PEOPLE):
        pair = index // 2
        email_number = pair if index % 2 == 0 else pair + 1
        contacts.append(
            {
                "contact_id": f"chain-{index:03d}",
                "email": f"Chain.{email_number}@Example.com ",
                "phone": f"(212) 555-{1000 + pair}",
                "country": "US",
                "first_name": "Chain",
                "updated_at": f"2024-01-{1 + index % 28:02d}T00:00:00Z",
            }
        )
    last_email = f"chain.{(CHAIN_PEOPLE - 1) // 2 + 1}@example.com"
    return {
        "crm/contacts": [
            *contacts,
            # Five different people typed the same placeholder, and eight share one phone:
            # neither may link them.
            *(
                {
                    "contact_id": f"placeholder-{index}",
                    "email": "TEST@test.com",
                    "phone": f"(646) 555-{2000 + index}",
                    "country": "US",
                    "updated_at": "2024-02-01T00:00:00Z",
                }
                for index in range(5)
            ),
            *(
                {
                    "contact_id": f"shared-phone-{index}",
                    "email": f"office.{index}@corp.example",
                    "phone": "+1 718 555 0000",
                    "updated_at": "2024-02-01T00:00:00Z",
                }
                for index in range(8)
            ),
        ],
        "events/identifies": [
            {
                "message_id": "identify-1",
                "anonymous_id": "browser-1",
                "email": last_email,
                "timestamp": "2024-03-01T00:00:00Z",
            }
        ],
        "events/tracks": [
            {
                "message_id": "track-1",
                "anonymous_id": "browser-1",
                "user_id": "u_chain",
                "event": "Page Viewed",
                "timestamp": "2024-03-01T00:01:00Z",
                "properties": "{}",
            }
        ],
        "shop/customers": [
            {
                "customer_id": "u_chain",
                "email": "someone.else@example.com",
                "updated_at": "2024-03-02T00:00:00Z",
            }
        ],
    }


def test_a_long_chain_of_shared_identifiers_is_one_person(tmp_path: Path, warehouse) -> None:
    write_csv_landing(tmp_path / "landing", chain_landing())
    db = warehouse(tmp_path / "landing")

    chain_customers = query(
        db,
        """
        select distinct customer_id from core.customer_identifiers
        where identifier_value like 'chain-%' or identifier_value in ('u_chain', 'browser-1')
        """,
    )
    assert len(chain_customers) == 1
    identifiers = query(
        db,
        f"""
        select identifier_type, count(*) from core.customer_identifiers
        where customer_id = '{chain_customers[0][0]}' group by 1 order by 1
        """,
    )
    assert dict(identifiers) == {
        "anonymous_id": 1,
        "crm_contact_id": CHAIN_PEOPLE,
        "email": CHAIN_PEOPLE // 2 + 2,  # the chain's emails plus the shop account's own
        "phone": CHAIN_PEOPLE // 2,
        "shop_customer_id": 1,
    }


def test_the_number_of_rounds_is_decided_by_the_data(tmp_path: Path, warehouse) -> None:
    write_csv_landing(tmp_path / "landing", chain_landing())
    db = warehouse(tmp_path / "landing")

    [(rounds,)] = query(
        db, "select distinct resolved_in_rounds from identity.int_identity__components"
    )
    # Whole trees hook onto each other, so rounds grow with log2 of the chain's 119 hops
    # (about 7), never with the hops themselves; one round could not resolve the chain.
    assert 2 < rounds <= 10


def test_placeholders_and_shared_values_never_link_people(tmp_path: Path, warehouse) -> None:
    write_csv_landing(tmp_path / "landing", chain_landing())
    db = warehouse(tmp_path / "landing")

    [(placeholder_people,)] = query(
        db,
        """
        select count(distinct customer_id) from core.customer_identifiers
        where identifier_value like 'placeholder-%'
        """,
    )
    [(shared_phone_people,)] = query(
        db,
        """
        select count(distinct customer_id) from core.customer_identifiers
        where identifier_value like 'shared-phone-%'
        """,
    )
    assert placeholder_people == 5
    assert shared_phone_people == 8
    suppressed = dict(
        query(
            db,
            """
            select identifier_type, suppression_reason
            from identity.identity_suppressed_identifiers
            """,
        )
    )
    assert suppressed == {
        "email": "blocklist: placeholder",
        "phone": "shared by more than 5 profiles",
    }
    # The placeholder is never anyone's golden email.
    [(golden_placeholders,)] = query(
        db, "select count(*) from core.customers where email = 'test@test.com'"
    )
    assert golden_placeholders == 0
