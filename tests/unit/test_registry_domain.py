import pytest

from services.registry.domain import city_name_key, country_code


def test_country_codes_are_iso_3166_alpha_2_upper_case() -> None:
    assert country_code(" tg ") == "TG"
    for bad in ("XX", "FRA", "", "1"):
        with pytest.raises(ValueError, match="ISO 3166-1"):
            country_code(bad)


def test_city_names_match_across_accents_case_and_spacing() -> None:
    assert city_name_key("Québec") == city_name_key("  QUEBEC ") == "quebec"
    assert city_name_key("Port-au-Prince") == city_name_key("port-au-prince")
    assert city_name_key("Lomé") != city_name_key("Lome Nord")
