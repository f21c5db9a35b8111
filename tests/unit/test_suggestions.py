"""A worked example pins the ranking, so that a change to a rule or a weight shows up here."""

import random
import uuid

from services.matching.suggestions import (
    Bounds,
    City,
    Item,
    Readiness,
    Weights,
    best_case,
    score_pair,
    suggest,
)

LOME = City(uuid.uuid4(), "Lomé", "TG", is_ldc=True, languages=frozenset({"fr"}))
LYON = City(uuid.uuid4(), "Lyon", "FR", is_ldc=False, languages=frozenset({"fr"}))
QUEBEC = City(uuid.uuid4(), "Québec", "CA", is_ldc=False, languages=frozenset({"fr"}))
BAMAKO = City(uuid.uuid4(), "Bamako", "ML", is_ldc=True, languages=frozenset({"fr"}))
OSTEND = City(uuid.uuid4(), "Ostende", "BE", is_ldc=False, languages=frozenset({"nl"}))
FR, BM = frozenset({"fr"}), frozenset({"bm"})


def item(city: City, domain: str, languages: frozenset[str] = FR, **capacity: int) -> Item:
    return Item(uuid.uuid4(), city.id, domain, f"{city.name}: {domain}", languages, **capacity)


NEEDS = {
    LOME.id: [
        item(LOME, "waste-collection", staff_days=60),
        item(LOME, "municipal-staff-training", staff_days=40),
    ],
    LYON.id: [item(LYON, "cultural-exchange")],
}
OFFERS = {
    LOME.id: [item(LOME, "cultural-exchange", partners=2)],
    LYON.id: [
        item(LYON, "waste-collection", staff_days=80),
        item(LYON, "municipal-staff-training", partners=3),
    ],
    QUEBEC.id: [item(QUEBEC, "municipal-staff-training", staff_days=40)],
    BAMAKO.id: [item(BAMAKO, "waste-collection", BM, staff_days=20)],
    OSTEND.id: [item(OSTEND, "drinking-water", staff_days=25)],
}
EVERYONE = [LYON, QUEBEC, BAMAKO, OSTEND, LOME]


def test_the_worked_example_ranks_a_two_way_north_south_fit_first() -> None:
    ranked = suggest(LOME, EVERYONE, NEEDS, OFFERS)
    assert [(s.partner.name, s.score) for s in ranked] == [
        ("Lyon", 0.85),  # both ways, French, 80 of 100 staff-days, LDC priority, North-South
        ("Québec", 0.6875),  # one way, French, 40 of 40 staff-days, LDC priority, North-South
        ("Bamako", 0.5104),  # one way, only an official language, 20 of 60, South-South
    ]  # Ostende offers drinking water, which Lomé does not need: not suggested at all
    lyon = {c.name: c.explanation for c in ranked[0].components}
    assert (
        lyon["domain_fit"]
        == "needs meet offers both ways in cultural-exchange, municipal-staff-training, waste-collection"
    )
    assert lyon["capacity"] == "80 staff-days offered for 100 asked"
    assert lyon["ldc_priority"] == "Lomé in a least developed country"
    assert lyon["pairing"] == "North-South pairing"
    assert [f.offer.domain for f in ranked[0].they_help_us] == [
        "waste-collection",
        "municipal-staff-training",
    ]
    assert [f.need.domain for f in ranked[0].we_help_them] == ["cultural-exchange"]


def test_the_same_inputs_give_the_same_ranking_whatever_the_order() -> None:
    assert suggest(LOME, EVERYONE, NEEDS, OFFERS) == suggest(
        LOME, list(reversed(EVERYONE)), NEEDS, OFFERS
    )


def test_weights_are_configuration() -> None:
    # Weighing capacity above all puts Québec, which covers every staff-day asked, before Lyon.
    ranked = suggest(LOME, EVERYONE, NEEDS, OFFERS, Weights(capacity=50.0))
    assert [s.partner.name for s in ranked] == ["Québec", "Lyon", "Bamako"]


def test_ties_and_past_partners_and_distance() -> None:
    near = City(uuid.uuid4(), "Osijek", "HR", False, FR, 45.55, 18.69, partners=frozenset())
    knezevi = City(
        uuid.uuid4(),
        "Kneževi Vinogradi",
        "HR",
        False,
        FR,
        45.75,
        18.73,
        partners=frozenset({near.id}),
    )
    needs = {knezevi.id: [item(knezevi, "cross-border-cooperation")]}
    offers = {near.id: [item(near, "cross-border-cooperation", partners=1)]}
    [suggestion] = suggest(knezevi, [near], needs, offers)
    reasons = {c.name: c.explanation for c in suggestion.components}
    assert reasons["past_partnership"] == "worked together before"
    assert reasons["proximity"] == "22 km apart"
    assert reasons["pairing"] == "North-North pairing"


def test_limit_keeps_the_best() -> None:
    assert [s.partner.name for s in suggest(LOME, EVERYONE, NEEDS, OFFERS, limit=1)] == ["Lyon"]


def test_a_helping_citys_readiness_counts_only_beside_a_conflict_zone() -> None:
    goma = City(uuid.uuid4(), "Goma", "CD", True, FR, in_conflict_zone=True)
    ready = Readiness(commits_beyond_conflict=True, has_formal_policy=False)
    geneve = City(uuid.uuid4(), "Genève", "CH", False, FR, readiness=ready)
    lyon = City(uuid.uuid4(), "Lyon", "FR", False, FR)  # has not stated its readiness
    needs = {goma.id: [item(goma, "inter-ethnic-dialogue")]}
    offers = {c.id: [item(c, "inter-ethnic-dialogue", partners=1)] for c in (geneve, lyon)}
    ranked = suggest(goma, [lyon, geneve], needs, offers)
    assert [s.partner.name for s in ranked] == ["Genève", "Lyon"]
    readiness = [next(c for c in s.components if c.name == "readiness") for s in ranked]
    assert [(c.score, c.explanation) for c in readiness] == [
        (
            0.8,
            "Genève stated its motivation and result objectives, commits to stay beyond the "
            "conflict",
        ),
        (0.0, "Lyon has not stated its readiness for city diplomacy"),
    ]
    # Seen from the helper too; and never between two cities outside conflict zones (so the
    # worked example above has no readiness component and keeps its figures).
    [from_geneve] = suggest(geneve, [goma], needs, offers)
    assert "readiness" in {c.name for c in from_geneve.components}
    assert all(
        c.name != "readiness" for s in suggest(LOME, EVERYONE, NEEDS, OFFERS) for c in s.components
    )


def test_best_case_bounds_the_score_from_the_domains_alone() -> None:
    rng = random.Random(5)
    domains = ["waste-collection", "drinking-water", "cross-border-cooperation", "transport"]
    languages = [FR, BM, frozenset(), frozenset({"en"})]
    cities = [
        City(
            uuid.uuid4(),
            f"City {n}",
            rng.choice(["TG", "FR", "ML", "BE"]),
            rng.random() < 0.5,
            rng.choice(languages),
            rng.uniform(40, 50),
            rng.uniform(0, 10),
            in_conflict_zone=rng.random() < 0.2,
            readiness=rng.choice([None, Readiness(True, False)]),
        )
        for n in range(30)
    ]

    def draw(city: City) -> list[Item]:
        return [
            Item(
                uuid.uuid4(),
                city.id,
                rng.choice(domains),
                "t",
                rng.choice(languages),
                rng.choice([None, 5, 50]),
                rng.choice([None, 1]),
            )
            for _ in range(rng.randint(0, 3))
        ]

    needs = {c.id: draw(c) for c in cities}
    offers = {c.id: draw(c) for c in cities}
    checked = 0
    for us in cities[:10]:
        shared = Bounds(us, needs, offers, Weights())
        for them in cities:
            if them is us:
                continue
            exact = score_pair(us, them, needs, offers)
            they_offer = [o.domain for o in offers[them.id]]
            they_need = [n.domain for n in needs[them.id]]
            bound = best_case(us, them, they_offer, they_need, needs, offers)
            # Shared between cities alike, with distance at its best: looser, still a bound.
            assert shared.of(them, they_offer, they_need) >= bound
            assert (exact is None) == (bound == 0.0)
            if exact is not None:
                assert exact.score <= round(bound, 4)
                checked += 1
    assert checked > 50
