import json
import uuid
from datetime import date
from pathlib import Path

import pytest

from services.registry.data import LDC_LIST, load_ldc_list
from services.registry.domain import (
    changes,
    city_name_key,
    coordinates,
    country_code,
    email_address,
    external_id,
    external_id_country_mismatch,
    language_code,
    language_codes,
    ldc_list,
    may_edit_city,
    may_see_contacts,
    phone_number,
    text,
)
from shared.auth import Grant, Principal, Role


def test_country_codes_are_iso_3166_alpha_2_upper_case() -> None:
    assert country_code(" tg ") == "TG"
    for bad in ("XX", "FRA", "", "1"):
        with pytest.raises(ValueError, match="ISO 3166-1"):
            country_code(bad)


def test_city_names_match_across_accents_case_and_spacing() -> None:
    assert city_name_key("Québec") == city_name_key("  QUEBEC ") == "quebec"
    assert city_name_key("Port-au-Prince") == city_name_key("port-au-prince")
    assert city_name_key("Lomé") != city_name_key("Lome Nord")


def test_names_are_tidied_and_never_blank() -> None:
    assert text("  Yawa   Kouigan ", "contact's name") == "Yawa Kouigan"
    with pytest.raises(ValueError, match="a city name cannot be blank"):
        text(" \t", "city name")


def test_languages_are_iso_639_stored_one_way_each() -> None:
    assert language_code("FR") == language_code("fra") == language_code("fre") == "fr"
    assert language_code("ewe") == "ee"
    assert language_code("mos") == "mos"  # Mooré (Burkina Faso): ISO 639-3 only
    assert language_codes(["fr", "FRA", "ee", "fre"]) == ["fr", "ee"]
    for bad in ("zz", "xyz", "french", "", "und", "mul", "zxx"):
        with pytest.raises(ValueError, match="ISO 639"):
            language_code(bad)


def test_a_position_has_both_coordinates_or_none() -> None:
    coordinates(6.1, 1.2)
    coordinates(None, None)
    for half in ((6.1, None), (None, 1.2)):
        with pytest.raises(ValueError, match="together"):
            coordinates(*half)


def test_contact_details_are_checked_for_their_shape_without_repeating_them() -> None:
    assert email_address(" maire@lome.tg ") == "maire@lome.tg"
    for bad in ("maire", "maire@lome", "a b@lome.tg", "@lome.tg", "maire@lome.tg."):
        with pytest.raises(ValueError, match="not an e-mail address") as refused:
            email_address(bad)
        assert repr(bad) not in str(refused.value)
    assert phone_number(" +228  22 21 00 00 ") == "+228 22 21 00 00"
    assert phone_number("(0)4 72 10 30 30") == "(0)4 72 10 30 30"
    for bad in ("call me", "12345", "+1234567890123456", "++228 22 21 00 00", "22-21-00-00 ext"):
        with pytest.raises(ValueError, match="not a phone number"):
            phone_number(bad)


def test_external_identifiers_carry_their_scheme_and_are_normalised() -> None:
    assert external_id("GeoNames: 2365267") == "geonames:2365267"
    assert external_id("unlocode:tg lfw") == "unlocode:TGLFW"
    for bad in (
        "2365267",
        "geonames:",
        "geonames:abc",
        "unlocode:TGLF",
        "osm:123",
        "unlocode:TG1FW",
    ):
        with pytest.raises(ValueError, match="not an external identifier"):
            external_id(bad)


def test_a_un_locode_belongs_to_its_country() -> None:
    assert external_id_country_mismatch("unlocode:TGLFW", "TG") is None
    assert external_id_country_mismatch("geonames:2365267", "FR") is None
    assert external_id_country_mismatch(None, "FR") is None
    assert external_id_country_mismatch("unlocode:TGLFW", "FR") == (
        "UN/LOCODE TGLFW is a place in TG, not in FR"
    )


def _principal(*grants: Grant) -> Principal:
    return Principal(subject="s", kind="user", grants=frozenset(grants), issued_at=0.0)


def test_a_city_is_edited_by_its_officers_and_platform_admins_only() -> None:
    lome, lyon = uuid.uuid4(), uuid.uuid4()
    assert may_edit_city(_principal(Grant(Role.CITY_OFFICER, str(lome))), lome)
    assert may_edit_city(_principal(Grant(Role.PLATFORM_ADMIN)), lome)
    assert not may_edit_city(_principal(Grant(Role.CITY_OFFICER, str(lyon))), lome)
    assert not may_edit_city(_principal(Grant(Role.NETWORK_OFFICER, str(lome))), lome)


def test_contacts_in_a_conflict_zone_are_seen_only_by_the_city_s_officers_and_admins() -> None:
    goma = uuid.uuid4()
    officer = _principal(Grant(Role.CITY_OFFICER, str(goma)))
    admin = _principal(Grant(Role.PLATFORM_ADMIN))
    anyone = _principal()
    other_officer = _principal(Grant(Role.CITY_OFFICER, str(uuid.uuid4())))
    for principal in (officer, admin, anyone, other_officer):
        assert may_see_contacts(principal, goma, in_conflict_zone=False)
    assert may_see_contacts(officer, goma, in_conflict_zone=True)
    assert may_see_contacts(admin, goma, in_conflict_zone=True)
    assert not may_see_contacts(anyone, goma, in_conflict_zone=True)
    assert not may_see_contacts(other_officer, goma, in_conflict_zone=True)


def test_an_update_changes_only_what_differs() -> None:
    current = {"region": "Maritime", "population": 837437, "official_languages": ["fr"]}
    requested = {"region": "Maritime", "population": None, "official_languages": ["fr", "ee"]}
    assert changes(current, requested) == {"population": None, "official_languages": ["fr", "ee"]}
    assert changes(current, {}) == {}


def test_the_committed_ldc_list_is_the_un_list_of_december_2024() -> None:
    assert LDC_LIST.as_of == date(2024, 12, 13)
    assert "Committee for Development Policy" in LDC_LIST.source
    assert len(LDC_LIST.countries) == 44
    # Scheduled to graduate later (Bangladesh, Lao PDR, Nepal...), so still listed.
    for member in ("TG", "BF", "ML", "NE", "BJ", "HT", "MG", "GM", "BD", "LA", "NP", "SB"):
        assert LDC_LIST.includes(member), member
    # Graduated (Bhutan 2023, Sao Tome and Principe 2024, Vanuatu 2020) or never listed.
    for other in ("FR", "CA", "BE", "CH", "BT", "ST", "VU", "NG", "CV"):
        assert not LDC_LIST.includes(other), other


def _raw(**overrides: object) -> dict[str, object]:
    return {
        "as_of": "2024-12-13",
        "source": "UN CDP",
        "countries": [{"code": "TG", "name": "Togo"}, {"code": "ml", "name": "Mali"}],
        **overrides,
    }


def test_the_ldc_loader_validates_and_normalises_its_data(tmp_path: Path) -> None:
    parsed = ldc_list(_raw())
    assert (parsed.as_of, parsed.countries) == (date(2024, 12, 13), frozenset({"TG", "ML"}))
    bad = [
        (_raw(countries=[{"code": "XX", "name": "?"}]), "in the LDC list: 'XX' is not an ISO"),
        (_raw(countries=[{"code": "TG"}, {"code": "tg"}]), "names TG more than once"),
        (_raw(as_of="13/12/2024"), "'as_of' \\(YYYY-MM-DD\\)"),
        ({"source": "UN CDP", "countries": []}, "'as_of'"),
        (_raw(countries=["TG"]), "'countries'"),
        (_raw(source=" "), "where it comes from"),
    ]
    for raw, message in bad:
        with pytest.raises(ValueError, match=message):
            ldc_list(raw)
    edited = tmp_path / "ldc.json"
    edited.write_text(json.dumps(_raw(countries=[{"code": "BD", "name": "Bangladesh"}])))
    assert load_ldc_list(edited).countries == frozenset({"BD"})
