"""Normalization and SHA-256 hashing of customer identifiers for ad platforms.

Ad platforms match audiences on hashes of identifiers, so the hash only matches when the
value was normalized exactly the way the platform normalizes its own copy. Each function
here is small and pure, returns `None` when the value is unusable (then nothing is sent
for that identifier) and follows one vendor's published rules:

Meta Custom Audiences ("Hashing and Normalizing Data" of the Marketing API):
  EMAIL   trim leading and trailing whitespace, lowercase.
  PHONE   digits only: no symbols, letters or leading zeros, with the country code.
  FN, LN  lowercase letters only (no punctuation, digits or spaces); letters outside
          a-z, such as accented ones, are kept and hashed as UTF-8.
  CT      lowercase letters only: no punctuation, special characters or whitespace.
  ST      lowercase letters only; US states as their 2-letter ANSI code.
  ZIP     lowercase, no whitespace or dashes; US: the first 5 digits; UK: area,
          district and sector (the full code without its last two characters).
  COUNTRY 2-letter ISO 3166-1 alpha-2 code, lowercase.
  GEN     "m" or "f".  DOBY/DOBM/DOBD: YYYY, MM, DD.
  EXTERN_ID trimmed; hashed like the rest, so no raw value leaves (Meta accepts either).

Google Ads Customer Match ("Customer Match" guide of the Google Ads API):
  email, first and last name: trim leading and trailing whitespace, lowercase. The guide
  states that periods before the domain of gmail.com / googlemail.com addresses need not
  be removed (they are accepted as they are), so they are kept.
  phone: E.164 (a "+" and up to 15 digits, country code included) before hashing.
  country code (ISO alpha-2, upper case) and postal code are sent unhashed, as the API
  requires.

Phone numbers given without an international prefix are completed from the record's
country when its calling code is in `CALLING_CODES` (a leading trunk "0" is dropped,
except in Italy, San Marino and the Vatican, where it is part of the number); a national
number whose country is unknown cannot be made international and is dropped.

Hashes are lowercase hex SHA-256 of the UTF-8 bytes of the normalized value.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date, datetime
from typing import Any

# ITU-T E.164 country calling codes by ISO 3166-1 alpha-2 code.
_CALLING_CODES_TEXT = (
    "US:1 CA:1 GB:44 IE:353 NL:31 BE:32 LU:352 DE:49 FR:33 ES:34 PT:351 IT:39 SM:378 "
    "VA:39 CH:41 LI:423 AT:43 DK:45 SE:46 NO:47 FI:358 IS:354 PL:48 CZ:420 SK:421 "
    "HU:36 RO:40 BG:359 GR:30 HR:385 SI:386 RS:381 BA:387 ME:382 MK:389 AL:355 EE:372 "
    "LV:371 LT:370 CY:357 MT:356 MC:377 AD:376 TR:90 UA:380 MD:373 GE:995 AM:374 "
    "IL:972 AE:971 SA:966 QA:974 KW:965 BH:973 OM:968 JO:962 LB:961 EG:20 MA:212 "
    "TN:216 DZ:213 ZA:27 NG:234 KE:254 GH:233 IN:91 PK:92 BD:880 LK:94 CN:86 HK:852 "
    "MO:853 TW:886 JP:81 KR:82 SG:65 MY:60 TH:66 VN:84 PH:63 ID:62 AU:61 NZ:64 MX:52 "
    "BR:55 AR:54 CL:56 CO:57 PE:51 VE:58 UY:598 PY:595 BO:591 EC:593 CR:506 PA:507"
)
CALLING_CODES: dict[str, str] = dict(item.split(":") for item in _CALLING_CODES_TEXT.split())
# Countries whose leading 0 belongs to the number rather than being a trunk prefix.
_KEEPS_LEADING_ZERO = frozenset({"IT", "SM", "VA"})

US_STATES: dict[str, str] = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi",
    "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt",
    "nebraska": "ne", "nevada": "nv", "newhampshire": "nh", "newjersey": "nj",
    "newmexico": "nm", "newyork": "ny", "northcarolina": "nc", "northdakota": "nd",
    "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa",
    "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd", "tennessee": "tn",
    "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa",
    "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy", "puertorico": "pr",
}  # fmt: skip

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def sha256_hex(value: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes of `value`."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_sha256_hex(value: object) -> bool:
    """Whether `value` looks like what `sha256_hex` returns."""
    return isinstance(value, str) and bool(_HEX64.match(value))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def _letters(value: str) -> str:
    return "".join(char for char in value if unicodedata.category(char).startswith("L"))


# Shared --------------------------------------------------------------------------------


def normalize_email(value: Any) -> str | None:
    """Trimmed and lowercased; None unless it looks like an address (both vendors' rule)."""
    text = _text(value)
    if text is None:
        return None
    email = text.lower()
    return email if _EMAIL.match(email) else None


def normalize_country(value: Any) -> str | None:
    """The ISO 3166-1 alpha-2 code in lower case, or None."""
    text = _text(value)
    if text is None:
        return None
    code = text.lower()
    return code if re.fullmatch(r"[a-z]{2}", code) else None


def e164_phone(value: Any, country: Any = None) -> str | None:
    """The number in E.164 ("+" then 7 to 15 digits, country code first), or None.

    `+` or `00` mark an international number. Otherwise the record's country completes
    it: NANP numbers of 10 digits get a 1; a leading 0 is a trunk prefix to drop (Italy,
    San Marino and the Vatican excepted); digits already starting with the calling code
    are taken as international. A national number of an unknown country is None.
    """
    text = _text(value)
    if text is None:
        return None
    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    country_code = (normalize_country(country) or "").upper()
    calling_code = CALLING_CODES.get(country_code)
    if text.startswith("+"):
        number = digits
    elif digits.startswith("00"):
        number = digits[2:]
    elif calling_code is None:
        if digits.startswith("0"):
            return None
        number = digits
    elif calling_code == "1":
        number = "1" + digits if len(digits) == 10 else digits
    elif digits.startswith("0"):
        national = digits if country_code in _KEEPS_LEADING_ZERO else digits[1:]
        number = calling_code + national
    elif digits.startswith(calling_code):
        number = digits
    else:
        number = calling_code + digits
    if number.startswith("0") or not 7 <= len(number) <= 15:
        return None
    return "+" + number


# Meta ----------------------------------------------------------------------------------


def meta_phone(value: Any, country: Any = None) -> str | None:
    """Digits only with the country code and no leading zeros (Meta's PHONE rule)."""
    international = e164_phone(value, country)
    if international is not None:
        return international[1:]
    text = _text(value)
    digits = re.sub(r"\D", "", text or "").lstrip("0")
    return digits or None


def meta_name(value: Any) -> str | None:
    """FN / LN: lowercase letters only, no punctuation or spaces; accents kept (UTF-8)."""
    text = _text(value)
    if text is None:
        return None
    return _letters(text.lower()) or None


def meta_first_initial(value: Any) -> str | None:
    """FI: the first letter of the normalized first name."""
    name = meta_name(value)
    return name[0] if name else None


def meta_city(value: Any) -> str | None:
    """CT: lowercase letters only, no punctuation, special characters or whitespace."""
    return meta_name(value)


def meta_state(value: Any, country: Any = None) -> str | None:
    """ST: lowercase letters only; a US state written out becomes its 2-letter code."""
    state = meta_name(value)
    if state is None:
        return None
    if normalize_country(country) in (None, "us"):
        return US_STATES.get(state, state)
    return state


def meta_zip(value: Any, country: Any = None) -> str | None:
    """ZIP: lowercase without spaces or dashes; US: first 5 digits; UK: up to the sector."""
    text = _text(value)
    if text is None:
        return None
    code = re.sub(r"[\s\-]", "", text.lower())
    country_code = normalize_country(country)
    if country_code == "us":
        code = code[:5]
    elif country_code in ("gb", "uk") and len(code) > 4:
        code = code[:-2]
    return code or None


def meta_country(value: Any) -> str | None:
    """COUNTRY: ISO 3166-1 alpha-2, lowercase."""
    return normalize_country(value)


def meta_gender(value: Any) -> str | None:
    """GEN: "m" or "f" (from m/male/f/female, any case)."""
    text = _text(value)
    if text is None:
        return None
    initial = text.lower()[0]
    return initial if initial in ("m", "f") else None


def birth_date(value: Any) -> date | None:
    """A date of birth from a date, datetime or ISO `YYYY-MM-DD` text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def meta_external_id(value: Any) -> str | None:
    """EXTERN_ID: the advertiser's own id, trimmed."""
    return _text(value)


# Google --------------------------------------------------------------------------------


def google_email(value: Any) -> str | None:
    """Trimmed and lowercased; gmail.com dots are kept (Google accepts them as they are)."""
    return normalize_email(value)


def google_name(value: Any) -> str | None:
    """First or last name: trimmed and lowercased."""
    text = _text(value)
    return text.lower() if text else None


def google_phone(value: Any, country: Any = None) -> str | None:
    """E.164 with its leading "+"."""
    return e164_phone(value, country)


def google_country_code(value: Any) -> str | None:
    """ISO 3166-1 alpha-2 in upper case, sent unhashed."""
    code = normalize_country(value)
    return code.upper() if code else None


def google_postal_code(value: Any) -> str | None:
    """Trimmed, sent unhashed."""
    return _text(value)


def hashed(value: str | None) -> str | None:
    """`sha256_hex` of a normalized value, passing None through."""
    return sha256_hex(value) if value is not None else None
