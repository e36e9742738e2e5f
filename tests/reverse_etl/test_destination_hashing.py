"""Identifier normalization and hashing for ad platforms, against the vendors' own examples."""

from __future__ import annotations

import hashlib
import re
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reverse_etl.destinations.hashing import (
    birth_date,
    e164_phone,
    google_country_code,
    google_email,
    google_name,
    google_phone,
    google_postal_code,
    hashed,
    is_sha256_hex,
    meta_city,
    meta_country,
    meta_external_id,
    meta_first_initial,
    meta_gender,
    meta_name,
    meta_phone,
    meta_state,
    meta_zip,
    normalize_email,
    sha256_hex,
)

# The hashed EMAIL rows of the example request in Meta's Custom Audience Users reference.
META_REFERENCE_EMAIL_HASHES = {
    "test1@example.com": "9b431636bd164765d63c573c346708846af4f68fe3701a77a3bdd7e7e5166254",
    "test2@example.com": "8cc62c145cd0c6dc444168eaeb1b61b351f9b1809a579cc9b4c9e9d7213a39ee",
    "test3@example.com": "4eaf70b1f7a797962b9d2a533f122c8039012b31e0a52b34a426729319cb792a",
}


def test_sha256_is_lowercase_hex_of_the_utf8_bytes():
    assert sha256_hex("zoë") == hashlib.sha256("zoë".encode()).hexdigest()
    assert is_sha256_hex(sha256_hex("x"))
    assert not is_sha256_hex("X" * 64)
    assert not is_sha256_hex("person@example.com")
    assert hashed(None) is None


@pytest.mark.parametrize(("email", "expected"), sorted(META_REFERENCE_EMAIL_HASHES.items()))
def test_meta_email_rule_reproduces_the_reference_example_hashes(email, expected):
    raw = f"  {email.upper()}\t"
    assert hashed(normalize_email(raw)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("not-an-email", None),
        ("", None),
        (None, None),
        ("a@b", None),
    ],
)
def test_email_is_trimmed_and_lowercased_or_dropped(raw, expected):
    assert normalize_email(raw) == expected


def test_google_keeps_gmail_dots_which_its_guide_says_need_not_be_removed():
    assert google_email(" Jane.Doe@Gmail.com") == "jane.doe@gmail.com"


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        # Google's E.164 examples: +12125650000 and +442070313000.
        ("+1 (212) 565-0000", None, "+12125650000"),
        ("(212) 565-0000", "US", "+12125650000"),
        ("1-212-565-0000", "us", "+12125650000"),
        ("+44 20 7031 3000", None, "+442070313000"),
        ("020 7031 3000", "GB", "+442070313000"),
        ("0044 20 7031 3000", None, "+442070313000"),
        ("06 1234 5678", "NL", "+31612345678"),
        ("31612345678", "NL", "+31612345678"),
        ("612345678", "NL", "+31612345678"),
        ("06 6988 4567", "IT", "+390669884567"),  # the Italian leading 0 stays
        ("06 1234 5678", None, None),  # national number, unknown country
        ("12345", "US", None),
        ("n/a", "US", None),
        (None, "US", None),
    ],
)
def test_phone_numbers_become_e164(raw, country, expected):
    assert e164_phone(raw, country) == expected
    assert google_phone(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        # The formats of Meta's customer list guide: 1-234-567-8910, 12345678910, +44 ...
        ("1-234-567-8910", None, "12345678910"),
        ("12345678910", None, "12345678910"),
        ("+44 844 412 4653", None, "448444124653"),
        ("06 1234 5678", "NL", "31612345678"),
        ("0612345678", None, "612345678"),  # no country: leading zeros dropped, as the rule says
        ("tel: none", None, None),
    ],
)
def test_meta_phone_is_digits_with_country_code_and_no_leading_zeros(raw, country, expected):
    assert meta_phone(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Mary-Jane ", "maryjane"),
        ("O'Brien", "obrien"),
        ("Zoë", "zoë"),
        ("JOHN", "john"),
        ("...", None),
        (None, None),
    ],
)
def test_meta_names_are_lowercase_letters_without_punctuation(raw, expected):
    assert meta_name(raw) == expected


def test_meta_location_keys():
    assert meta_city("New York, NY") == "newyorkny"
    assert meta_city("São Paulo") == "sãopaulo"
    assert meta_state("California", "US") == "ca"
    assert meta_state("CA", "us") == "ca"
    assert meta_state("Noord-Holland", "NL") == "noordholland"
    assert meta_zip("94303-5300", "US") == "94303"
    assert meta_zip("1017 CE", "NL") == "1017ce"
    assert meta_zip("SW1A 1AA", "GB") == "sw1a1"
    assert meta_country(" NL ") == "nl"
    assert meta_country("Netherlands") is None


def test_meta_other_keys():
    assert meta_gender("Female") == "f"
    assert meta_gender("M") == "m"
    assert meta_gender("x") is None
    assert meta_first_initial("Jane") == "j"
    assert meta_external_id("  c042 ") == "c042"
    assert birth_date("1990-04-07") == date(1990, 4, 7)
    assert birth_date("07/04/1990") is None


def test_google_names_and_address_follow_the_customer_match_example():
    # The guide's example person: John Doe, country US, postal code 10011.
    assert google_name(" John ") == "john"
    assert google_name("Doe") == "doe"
    assert hashed(google_name("John")) == hashlib.sha256(b"john").hexdigest()
    assert google_country_code("us") == "US"
    assert google_postal_code(" 10011 ") == "10011"
    assert google_email("customer@example.com") == "customer@example.com"


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40), st.sampled_from([None, "US", "NL", "GB", "IT", "xx"]))
def test_normalized_values_are_stable_and_phones_are_e164(text, country):
    for normalize in (normalize_email, meta_name, meta_city, google_name):
        once = normalize(text)
        assert once is None or normalize(once) == once
    phone = e164_phone(text, country)
    assert phone is None or re.fullmatch(r"\+[1-9][0-9]{6,14}", phone)
    assert phone is None or e164_phone(phone, country) == phone
    digits = meta_phone(text, country)
    assert digits is None or re.fullmatch(r"[1-9][0-9]*", digits)
    for value in (normalize_email(text), meta_name(text), phone):
        assert value is None or is_sha256_hex(hashed(value))
