"""Registry rules, free of I/O."""

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pycountry

from shared.auth import Principal


def country_code(code: str) -> str:
    """The ISO 3166-1 alpha-2 code for `code`, upper-cased; ValueError names the bad input."""
    normalised = code.strip().upper()
    if len(normalised) != 2 or pycountry.countries.get(alpha_2=normalised) is None:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (e.g. 'FR', 'TG')")
    return normalised


def city_name_key(name: str) -> str:
    """The form under which two registrations name the same city: "Québec", "QUEBEC" and
    " quebec " are one city. Accents, case and spacing are ignored."""
    decomposed = unicodedata.normalize("NFKD", name)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(without_marks.casefold().split())


def text(value: str, what: str) -> str:
    """`value` with its spacing tidied; a blank one is refused, since it names nothing."""
    if not value.strip():
        raise ValueError(f"a {what} cannot be blank")
    return " ".join(value.split())


def language_code(code: str) -> str:
    """The ISO 639 code for `code`: ISO 639-1 where the language has one, else ISO 639-3.
    "FR", "fra" and "fre" are all stored as "fr", so one language is always written one way."""
    normalised = code.strip().lower()
    if len(normalised) == 2:
        language = pycountry.languages.get(alpha_2=normalised)
    elif len(normalised) == 3:
        language = pycountry.languages.get(alpha_3=normalised) or pycountry.languages.get(
            bibliographic=normalised
        )
    else:
        language = None
    # Special codes ("und", "mul", "zxx") say something about languages but name none.
    if language is None or getattr(language, "scope", None) == "S":
        raise ValueError(f"{code!r} is not an ISO 639 language code (e.g. 'fr', 'ee', 'mos')")
    return getattr(language, "alpha_2", None) or language.alpha_3


def language_codes(codes: Iterable[str]) -> list[str]:
    """Each code normalised, in the order given, each language once."""
    return list(dict.fromkeys(language_code(code) for code in codes))


def coordinates(latitude: float | None, longitude: float | None) -> None:
    """A position needs both numbers: one alone places the city nowhere."""
    if (latitude is None) != (longitude is None):
        raise ValueError("give latitude and longitude together, or neither")


# Deliberately loose: a contact address is checked for its shape, not delivered to.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE = re.compile(r"^\+?[0-9(][0-9 ().-]*$")


def email_address(value: str) -> str:
    # The value is personal data: messages describe the problem without repeating it.
    normalised = value.strip()
    if len(normalised) > 254 or not _EMAIL.match(normalised):
        raise ValueError("not an e-mail address (e.g. 'relations@lome.tg')")
    return normalised


def phone_number(value: str) -> str:
    """International form, e.g. "+228 22 21 00 00": at most 15 digits (E.164's limit)."""
    normalised = " ".join(value.split())
    digits = sum(ch.isdigit() for ch in normalised)
    if not _PHONE.match(normalised) or not 6 <= digits <= 15:
        raise ValueError(
            "not a phone number: 6 to 15 digits, an optional leading '+', and spaces, dots, "
            "dashes or brackets (e.g. '+228 22 21 00 00')"
        )
    return normalised


# An external identifier carries its scheme, so that a GeoNames id and a UN/LOCODE can never be
# taken for one another; each scheme's own form is checked and normalised.
_EXTERNAL_ID_SCHEMES = {
    "geonames": re.compile(r"^[1-9][0-9]{0,11}$"),  # a GeoNames feature id, e.g. 2365267
    "unlocode": re.compile(r"^[A-Z]{2}[A-Z2-9]{3}$"),  # country + 3 characters, e.g. TGLFW
}


def external_id(value: str) -> str:
    """ "geonames:2365267" or "unlocode:TG LFW" (stored as "unlocode:TGLFW")."""
    scheme, _, ident = value.strip().partition(":")
    scheme = scheme.strip().lower()
    ident = ident.replace(" ", "").upper()
    pattern = _EXTERNAL_ID_SCHEMES.get(scheme)
    if pattern is None or not pattern.match(ident):
        raise ValueError(
            f"{value!r} is not an external identifier: write 'geonames:<GeoNames id>' "
            "(e.g. 'geonames:2365267') or 'unlocode:<UN/LOCODE>' (e.g. 'unlocode:TG LFW')"
        )
    return f"{scheme}:{ident}"


def external_id_country_mismatch(external_id: str | None, country_code: str) -> str | None:
    """Why `external_id` cannot belong to a city of `country_code`, or None. A UN/LOCODE
    starts with its country's code; GeoNames ids say nothing about the country."""
    scheme, _, ident = (external_id or "").partition(":")
    if scheme == "unlocode" and ident[:2] != country_code:
        return f"UN/LOCODE {ident} is a place in {ident[:2]}, not in {country_code}"
    return None


def may_edit_city(principal: Principal, city_id: object) -> bool:
    return principal.is_platform_admin or principal.acts_for_city(city_id)


def may_see_contacts(principal: Principal, city_id: object, in_conflict_zone: bool) -> bool:
    """Naming a conflict-zone city's officials can put them in danger: there only the city's own
    officers and platform administrators see them; elsewhere every signed-in caller does."""
    return not in_conflict_zone or may_edit_city(principal, city_id)


def changes(current: Mapping[str, Any], requested: Mapping[str, Any]) -> dict[str, Any]:
    """The requested values that differ from the current ones: what an update really changes."""
    return {field: value for field, value in requested.items() if current.get(field) != value}


@dataclass(frozen=True)
class LdcList:
    """The UN list of least developed countries, as of a date, from a named source."""

    as_of: date
    source: str
    countries: frozenset[str]

    def includes(self, country_code: str) -> bool:
        return country_code in self.countries


def ldc_list(raw: Mapping[str, Any]) -> LdcList:
    """The list from its data file's content (services/registry/data/ldc.json). ValueError
    says what is wrong, so that a bad edit of the file stops the registry at start-up."""
    try:
        as_of = date.fromisoformat(raw["as_of"])
        source = str(raw["source"]).strip()
        codes = [entry["code"] for entry in raw["countries"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            "the LDC list needs 'as_of' (YYYY-MM-DD), 'source' and 'countries' "
            f"([{{'code': 'TG', 'name': 'Togo'}}, ...]): {exc!r}"
        ) from exc
    if not source:
        raise ValueError("the LDC list must say where it comes from ('source')")
    normalised = []
    for code in codes:
        try:
            normalised.append(country_code(code))
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"in the LDC list: {exc}") from exc
    if duplicates := sorted({code for code in normalised if normalised.count(code) > 1}):
        raise ValueError(f"the LDC list names {', '.join(duplicates)} more than once")
    return LdcList(as_of, source, frozenset(normalised))
