"""Trinnings: two cities of one conflict zone and a helper outside, by their weakest side."""

import uuid

from services.matching.suggestions import City, Item, Readiness
from services.matching.trilaterals import suggest_trinnings

FR, EN = frozenset({"fr"}), frozenset({"en"})
READY = Readiness(commits_beyond_conflict=True, has_formal_policy=True)


def zone_city(name: str, country: str, lat: float, lon: float) -> City:
    return City(uuid.uuid4(), name, country, False, FR, lat, lon, in_conflict_zone=True)


# Eastern Croatia after the war, the report's case study; Goma is in another conflict zone.
KNEZEVI = zone_city("Kneževi Vinogradi", "HR", 45.75, 18.73)
BELI = zone_city("Beli Manastir", "HR", 45.77, 18.60)
SOMBOR = zone_city("Sombor", "RS", 45.77, 19.11)  # across the border, 30 km away
GOMA = zone_city("Goma", "CD", -1.68, 29.22)
HAGUE = City(uuid.uuid4(), "Den Haag", "NL", False, FR, readiness=READY)
GENEVE = City(uuid.uuid4(), "Genève", "CH", False, FR)  # has not stated its readiness
LYON = City(uuid.uuid4(), "Lyon", "FR", False, FR, readiness=READY)
EVERYONE = [KNEZEVI, BELI, SOMBOR, GOMA, HAGUE, GENEVE, LYON]


def item(
    city: City, domain: str, languages: frozenset[str] = FR, staff_days: int | None = None
) -> Item:
    return Item(uuid.uuid4(), city.id, domain, f"{city.name}: {domain}", languages, staff_days, 1)


NEEDS = {
    KNEZEVI.id: [item(KNEZEVI, "inter-ethnic-dialogue"), item(KNEZEVI, "drinking-water")],
    BELI.id: [item(BELI, "inter-ethnic-dialogue")],
    SOMBOR.id: [item(SOMBOR, "inter-ethnic-dialogue", EN)],
    GOMA.id: [item(GOMA, "inter-ethnic-dialogue")],
}
OFFERS = {
    BELI.id: [item(BELI, "drinking-water")],  # the two Croatian cities exchange too
    HAGUE.id: [item(HAGUE, "inter-ethnic-dialogue")],
    GENEVE.id: [item(GENEVE, "inter-ethnic-dialogue")],
    LYON.id: [item(LYON, "drinking-water")],  # helps Kneževi Vinogradi only
}


def test_the_best_trinning_is_the_one_with_the_strongest_weakest_side() -> None:
    ranked = suggest_trinnings(KNEZEVI, EVERYONE, NEEDS, OFFERS)
    assert [(t.partner.name, t.helper.name) for t in ranked] == [
        ("Beli Manastir", "Den Haag"),  # the zone cities exchange, a ready helper
        ("Beli Manastir", "Genève"),  # the same, but Genève has not stated its readiness
        ("Sombor", "Den Haag"),  # no exchange between the zone cities: that side scores 0
        ("Sombor", "Genève"),
    ]  # Lyon fits only Kneževi Vinogradi; Goma is in another conflict zone
    best = ranked[0]
    assert best.weakest.score == min(s.score for s in best.sides) > 0
    assert best.total == round(sum(s.score for s in best.sides), 4)
    assert best.joint_domains == ("inter-ethnic-dialogue",)
    between, with_us, with_them = best.sides
    assert [(s.of, s.to) for s in best.sides] == [(KNEZEVI, BELI), (KNEZEVI, HAGUE), (BELI, HAGUE)]
    assert {c.name: c.score for c in with_us.suggestion.components}["readiness"] == 1.0
    assert [f.offer.domain for f in between.suggestion.they_help_us] == ["drinking-water"]
    assert {c.name: c.score for c in with_them.suggestion.components}["readiness"] == 1.0
    sombor = ranked[2]
    assert sombor.sides[0].suggestion is None and sombor.weakest.score == 0.0


def test_the_weakest_side_outranks_the_sum() -> None:
    # Lyon now helps Kneževi Vinogradi very well (both its needs, and both ways) but gives Beli
    # Manastir only 10 of the 100 staff-days it asks: a greater sum than Den Haag's, but a weaker
    # weakest side.
    dialogue = item(LYON, "inter-ethnic-dialogue", staff_days=10)
    offers = {**OFFERS, LYON.id: [item(LYON, "drinking-water"), dialogue]}
    needs = {
        **NEEDS,
        BELI.id: [item(BELI, "inter-ethnic-dialogue", EN, staff_days=100)],
        LYON.id: [item(LYON, "cultural-exchange")],
    }
    offers[KNEZEVI.id] = [item(KNEZEVI, "cultural-exchange")]
    ranked = suggest_trinnings(KNEZEVI, EVERYONE, needs, offers, limit=50)
    by_helper = {t.helper.name: t for t in ranked if t.partner == BELI}
    lyon, hague = by_helper["Lyon"], by_helper["Den Haag"]
    assert lyon.total > hague.total and lyon.weakest.score < hague.weakest.score
    assert ranked.index(hague) < ranked.index(lyon)


def test_same_inputs_same_ranking_and_only_cities_of_a_conflict_zone_ask() -> None:
    assert suggest_trinnings(KNEZEVI, EVERYONE, NEEDS, OFFERS) == suggest_trinnings(
        KNEZEVI, list(reversed(EVERYONE)), NEEDS, OFFERS
    )
    assert suggest_trinnings(HAGUE, EVERYONE, NEEDS, OFFERS) == []
    # The pruned search keeps each zone city's best helpers only.
    [only] = suggest_trinnings(KNEZEVI, EVERYONE, NEEDS, OFFERS, helpers_per_city=1, limit=1)
    assert (only.partner.name, only.helper.name) == ("Beli Manastir", "Den Haag")
