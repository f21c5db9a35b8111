"""Registry rules, free of I/O."""

import unicodedata

import pycountry


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
