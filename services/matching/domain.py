"""Agreement rules, free of I/O: who may act on an agreement, how it comes to be, and the one
state machine of its life.

The lifecycle is the table `LIFECYCLE`: (state, action) -> the new state, who may take that
action and whether it needs a reason. `decide` is the only way through it; whatever the table
does not allow is refused with the current state and what is allowed from it.

    proposed --accept (every party)--> accepted --activate--> active <--resume-- suspended
       |  \\--reject (a party, reason)--> rejected         active --suspend--> suspended
        \\--expire (the platform, once accept_by passed)--> expired
    proposed | accepted --withdraw (a party that accepted, reason)--> withdrawn
    active | suspended --conclude--> concluded;  --terminate (reason)--> terminated

The proposer counts as accepting. When the last party accepts, the agreement is `accepted`; a
party's officer then activates it (activation is deliberate, not automatic: it is the moment
the work starts, which the parties choose, e.g. once a budget is secured).

Before the work starts, a party that accepted (the proposer included) can call it off:
*withdraw*, saying why. It is the way out of an agreement that is blocked for good (a party whose
conflict never de-escalates), and it is not a termination: terminated means work that began was
ended early, withdrawn that it never began. A party that has not accepted rejects instead.

The platform suspends an active agreement on its own when a party's conflict phase escalates
to active conflict (`services.matching.reactions`). An agreement may carry *blocks* (a linked
need withdrawn, a party in active conflict): while it does, it can be neither accepted nor
activated; it can still be rejected, withdrawn, expire, or (once active) be suspended or ended."""

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from uuid import UUID

from shared.auth import Principal, Role
from shared.errors import Conflict, DomainError, Forbidden


class AgreementKind(StrEnum):
    BILATERAL = "bilateral"  # a twinning between two cities
    TRILATERAL = "trilateral"  # a "trinning": two cities of a conflict zone and one outside
    MULTILATERAL = "multilateral"  # several cities, usually through a network


class AgreementStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"  # every party accepted
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CONCLUDED = "concluded"  # completed as planned
    TERMINATED = "terminated"  # ended early by a party (a council can end a twinning)
    REJECTED = "rejected"  # a party said no before every party accepted
    WITHDRAWN = "withdrawn"  # called off by a party that had accepted, before the work started
    EXPIRED = "expired"  # not every party accepted by the deadline


class Action(StrEnum):
    ACCEPT = "accept"
    ACTIVATE = "activate"
    SUSPEND = "suspend"
    RESUME = "resume"
    CONCLUDE = "conclude"
    TERMINATE = "terminate"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    EXPIRE = "expire"


class Actor(StrEnum):
    PARTY = "party"  # an officer acting for one of the parties
    # The platform itself: its expiry run (an administrator or a scheduler), its reactions to
    # registry events (a suspension on a conflict escalation).
    PLATFORM = "platform"


_PARTY, _PLATFORM = frozenset({Actor.PARTY}), frozenset({Actor.PLATFORM})


@dataclass(frozen=True)
class Rule:
    to: AgreementStatus
    by: frozenset[Actor]
    needs_reason: bool = False


_S, _A = AgreementStatus, Action

LIFECYCLE: Mapping[tuple[AgreementStatus, Action], Rule] = MappingProxyType(
    {
        # Each acceptance is recorded; the state moves only with the last party's.
        (_S.PROPOSED, _A.ACCEPT): Rule(_S.ACCEPTED, _PARTY),
        (_S.PROPOSED, _A.REJECT): Rule(_S.REJECTED, _PARTY, needs_reason=True),
        (_S.PROPOSED, _A.EXPIRE): Rule(_S.EXPIRED, _PLATFORM),
        # Not a blocked action: it is the way out of an agreement blocked for good.
        (_S.PROPOSED, _A.WITHDRAW): Rule(_S.WITHDRAWN, _PARTY, needs_reason=True),
        (_S.ACCEPTED, _A.WITHDRAW): Rule(_S.WITHDRAWN, _PARTY, needs_reason=True),
        (_S.ACCEPTED, _A.ACTIVATE): Rule(_S.ACTIVE, _PARTY),
        # The platform too: on a party's escalation to active conflict, with the reason.
        (_S.ACTIVE, _A.SUSPEND): Rule(_S.SUSPENDED, _PARTY | _PLATFORM),
        (_S.SUSPENDED, _A.RESUME): Rule(_S.ACTIVE, _PARTY),
        (_S.ACTIVE, _A.CONCLUDE): Rule(_S.CONCLUDED, _PARTY),
        (_S.SUSPENDED, _A.CONCLUDE): Rule(_S.CONCLUDED, _PARTY),
        (_S.ACTIVE, _A.TERMINATE): Rule(_S.TERMINATED, _PARTY, needs_reason=True),
        (_S.SUSPENDED, _A.TERMINATE): Rule(_S.TERMINATED, _PARTY, needs_reason=True),
    }
)

# Where each action leads (the same state from wherever it is taken).
RESULT: Mapping[Action, AgreementStatus] = MappingProxyType(
    {action: rule.to for (_, action), rule in LIFECYCLE.items()}
)

# States nothing leads out of.
FINAL = frozenset(s for s in AgreementStatus if not any(f is s for f, _ in LIFECYCLE))

_PAST = {
    Action.ACCEPT: "accepted",
    Action.ACTIVATE: "activated",
    Action.SUSPEND: "suspended",
    Action.RESUME: "resumed",
    Action.CONCLUDE: "concluded",
    Action.TERMINATE: "terminated",
    Action.REJECT: "rejected",
    Action.WITHDRAW: "withdrawn",
    Action.EXPIRE: "expired",
}


def allowed_actions(status: AgreementStatus) -> list[Action]:
    return [action for (state, action) in LIFECYCLE if state is status]


_WHO = {
    _PARTY: "a party's officer",
    _PLATFORM: "the platform's expiry run",
    _PARTY | _PLATFORM: "a party's officer, or the platform on a conflict escalation",
}


def _describe(status: AgreementStatus) -> str:
    if status in FINAL:
        return f"{status} is final: nothing more can happen to it"
    described = []
    for action in allowed_actions(status):
        rule = LIFECYCLE[(status, action)]
        who = _WHO[rule.by]
        described.append(f"{action} ({who}{', with a reason' if rule.needs_reason else ''})")
    return f"allowed now: {', '.join(described)}"


@dataclass(frozen=True)
class AgreementState:
    """What the rules need to know of an agreement."""

    status: AgreementStatus
    accepted: Mapping[UUID, bool]  # each party, and whether it accepted
    accept_by: datetime
    # Why it may be neither accepted nor activated now (none: nothing stands in the way).
    blocks: Sequence[str] = ()


# What a block stands in the way of: the agreement coming to be, or its work starting.
BLOCKED_ACTIONS = frozenset({Action.ACCEPT, Action.ACTIVATE})


@dataclass(frozen=True)
class Step:
    """The outcome of an action: `changed` false is a harmless repeat, with nothing to record."""

    action: Action
    from_status: AgreementStatus
    to_status: AgreementStatus
    changed: bool


def check_party(city_id: UUID | None, party_ids: Collection[UUID]) -> None:
    """A party's officer acts for a city that is a party to the agreement."""
    if city_id is None or city_id not in party_ids:
        raise DomainError(f"city {city_id} is not a party to this agreement")


def decide(
    state: AgreementState,
    action: Action,
    actor: Actor,
    *,
    city_id: UUID | None = None,
    reason: str | None = None,
    now: datetime,
) -> Step:
    """Whether `actor` (for a party: acting for `city_id`) may take `action` now, and where it
    leads. An action whose result is already the current state (a party accepting again, an
    agreement suspended twice) changes nothing, so a retried request cannot raise a second
    event."""
    status = state.status
    party_accepted = False
    if actor is Actor.PARTY:
        check_party(city_id, state.accepted.keys())
        assert city_id is not None, "checked by check_party"
        party_accepted = state.accepted[city_id]
    if action is Action.ACCEPT:
        if party_accepted:
            return Step(action, status, status, changed=False)
    elif status is RESULT[action]:
        return Step(action, status, status, changed=False)
    rule = LIFECYCLE.get((status, action))
    if rule is None:
        raise Conflict(
            f"the agreement is {status}; it cannot be {_PAST[action]}: {_describe(status)}"
        )
    if actor not in rule.by:
        raise Forbidden(f"only {_WHO[rule.by]} may {action} an agreement")
    if rule.needs_reason and not (reason and reason.strip()):
        raise DomainError(f"say why: to {action} an agreement needs a reason")
    if action in BLOCKED_ACTIONS and state.blocks:
        raise Conflict(
            f"the agreement is {status} but blocked, so it cannot be {_PAST[action]}: "
            f"{'; '.join(state.blocks)}"
        )
    if status is AgreementStatus.PROPOSED:
        overdue = now >= state.accept_by
        deadline = state.accept_by.isoformat()
        if action is Action.EXPIRE and not overdue:
            raise Conflict(
                f"the agreement is proposed and open for acceptance until {deadline}; it "
                "cannot be expired before then"
            )
        if action is not Action.EXPIRE and overdue:
            raise Conflict(
                f"the agreement is proposed, but acceptance closed at {deadline}: it cannot be "
                f"{_PAST[action]} any more, and expires at the next expiry run; propose it again"
            )
        if action is Action.REJECT and party_accepted:
            raise Conflict(
                f"the agreement is proposed and city {city_id} has accepted it (the proposer "
                "counts as accepting), so it cannot reject it; it can withdraw it, saying why"
            )
        if action is Action.WITHDRAW and not party_accepted:
            raise Conflict(
                f"the agreement is proposed and city {city_id} has not accepted it, so there is "
                "nothing to withdraw: reject it, saying why"
            )
    to = rule.to
    if action is Action.ACCEPT:
        remaining = [p for p, done in state.accepted.items() if not done and p != city_id]
        to = AgreementStatus.ACCEPTED if not remaining else AgreementStatus.PROPOSED
    return Step(action, status, to, changed=True)


# --- Proposals -------------------------------------------------------------------------------

PARTY_COUNTS = {
    AgreementKind.BILATERAL: range(2, 3),
    AgreementKind.TRILATERAL: range(3, 4),
    AgreementKind.MULTILATERAL: range(3, 51),
}

# How long parties may take to accept, at most; the default is the service's setting.
MAX_ACCEPTANCE_DAYS = 365
DEFAULT_ACCEPTANCE_DAYS = 30

DOMAIN_CODE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def check_proposal(
    kind: AgreementKind, party_ids: list[UUID], proposer_id: UUID, known_ids: set[UUID]
) -> None:
    if len(set(party_ids)) != len(party_ids):
        raise DomainError("a city can be a party to an agreement only once; remove the repeated id")
    allowed = PARTY_COUNTS[kind]
    if len(party_ids) not in allowed:
        wanted = (
            str(allowed.start) if len(allowed) == 1 else f"{allowed.start} to {allowed.stop - 1}"
        )
        raise DomainError(f"a {kind} agreement has {wanted} parties, not {len(party_ids)}")
    if proposer_id not in party_ids:
        raise DomainError("the proposing city must be one of the parties")
    unknown = [str(city_id) for city_id in party_ids if city_id not in known_ids]
    if unknown:
        raise DomainError(
            f"cities not (yet) known to matching: {', '.join(unknown)}; a city registered a "
            "moment ago may still be on its way, so retry shortly"
        )


@dataclass(frozen=True)
class LinkedItem:
    """A need or an offer as matching's read model knows it."""

    id: UUID
    kind: str  # "need" or "offer"
    city_id: UUID
    title: str
    status: str  # open, matched or withdrawn


_ARTICLE = {"need": "a", "offer": "an"}


def open_item(kind: str, item_id: UUID, known: Mapping[UUID, LinkedItem]) -> LinkedItem:
    """A need (or offer) a request names: known to matching, of that kind, and open."""
    item = known.get(item_id)
    if item is None:
        raise DomainError(
            f"{kind} {item_id} is not known to matching (yet); one published a moment ago may "
            "still be on its way, so retry shortly"
        )
    if item.kind != kind:
        raise DomainError(
            f"{item_id} is {_ARTICLE[item.kind]} {item.kind}, not {_ARTICLE[kind]} {kind}: name "
            f"it as {_ARTICLE[item.kind]} {item.kind}"
        )
    if item.status != "open":
        raise DomainError(
            f"{kind} {item_id} ({item.title!r}) is {item.status}, not open: name only open {kind}s"
        )
    return item


def check_links(
    kind: str, ids: Sequence[UUID], known: Mapping[UUID, LinkedItem], party_ids: Iterable[UUID]
) -> None:
    """Linked needs (or offers) must be known to matching, of that kind, open, and a party's."""
    parties = set(party_ids)
    seen: set[UUID] = set()
    for item_id in ids:
        if item_id in seen:
            raise DomainError(f"{kind} {item_id} is linked twice; list it once")
        seen.add(item_id)
        item = open_item(kind, item_id, known)
        if item.city_id not in parties:
            raise DomainError(
                f"{kind} {item_id} ({item.title!r}) belongs to city {item.city_id}, which is not "
                "a party to this agreement"
            )


def check_terms(
    *,
    domains: Sequence[str],
    start_date: date | None,
    end_date: date | None,
    accept_by: datetime,
    now: datetime,
) -> None:
    for code in domains:
        if not DOMAIN_CODE.match(code):
            raise DomainError(f"{code!r} is not a domain code (e.g. 'waste-collection')")
    repeated = sorted({code for code in domains if domains.count(code) > 1})
    if repeated:
        raise DomainError(f"domains listed twice: {', '.join(repeated)}")
    if start_date and end_date and end_date <= start_date:
        raise DomainError(f"end_date {end_date} must be after start_date {start_date}")
    if end_date and end_date < now.date():
        raise DomainError(f"end_date {end_date} is in the past")
    if accept_by <= now:
        raise DomainError(f"accept_by {accept_by.isoformat()} must be in the future")
    if accept_by > now + timedelta(days=MAX_ACCEPTANCE_DAYS):
        raise DomainError(
            f"accept_by may be at most {MAX_ACCEPTANCE_DAYS} days ahead, not "
            f"{accept_by.isoformat()}"
        )


# --- Who may act -----------------------------------------------------------------------------


def _cities_of(principal: Principal) -> str:
    cities = sorted(principal.scopes(Role.CITY_OFFICER))
    if not cities:
        return "no city"
    return f"city {cities[0]}" if len(cities) == 1 else f"cities {', '.join(cities)}"


def check_acts_for(principal: Principal, city_id: UUID) -> None:
    """A city officer speaks only for the cities in their token (OWASP API1: the city id in the
    request is the caller's claim, not a proof)."""
    if not principal.acts_for_city(city_id):
        raise Forbidden(
            f"you act for {_cities_of(principal)}, not for city {city_id}; ask that city's "
            "officer, or refresh your token if you were made its officer a moment ago"
        )


def check_oversees(principal: Principal, city_id: UUID) -> None:
    """Platform administrators oversee every city (its agreements, its suggestions); an
    officer only their own city."""
    if not principal.is_platform_admin:
        check_acts_for(principal, city_id)


def may_see(principal: Principal, party_ids: Iterable[UUID]) -> bool:
    """Whether the caller may know the agreement exists as a party's officer or an
    administrator; a mandated network's officer may too (`voices.may_see_agreement`). Anyone
    else is answered as if there were no such agreement."""
    return principal.is_platform_admin or any(principal.acts_for_city(c) for c in party_ids)


@dataclass(frozen=True)
class Mandate:
    """A network's mandate to act for a member city, as matching's read model knows it."""

    network_id: UUID
    domains: frozenset[str]  # empty: every domain


def voice_domains(
    principal: Principal, city_id: UUID, in_conflict_zone: bool, mandates: Iterable[Mandate]
) -> frozenset[str] | None:
    """The one rule of who speaks for a city, and in which domains: None for every domain, an
    empty set for none. The city's own officers speak for it in every domain. City diplomacy is
    demand-driven: for a city in a conflict zone a request comes from the city or from a network
    it mandated to act for it (DOMAIN.md), so an officer of such a network speaks for it within
    the mandate's domains (every domain for a mandate that names none). Elsewhere a network never
    speaks for a city, mandate or not."""
    if principal.acts_for_city(city_id):
        return None
    if not in_conflict_zone:
        return frozenset()
    officer_of = principal.scopes(Role.NETWORK_OFFICER)
    domains: set[str] = set()
    for mandate in mandates:
        if str(mandate.network_id) in officer_of:
            if not mandate.domains:
                return None
            domains |= mandate.domains
    return frozenset(domains)


# What a request is about: a domain (an expression of interest), all the domains of an
# agreement (its own and its linked needs' and offers'), or None for no domain in particular
# (suggestions).
Matter = str | frozenset[str] | None


def _codes(matter: str | frozenset[str]) -> frozenset[str]:
    return frozenset({matter}) if isinstance(matter, str) else matter


def covers(domains: frozenset[str] | None, matter: Matter) -> bool:
    """Whether what `voice_domains` gave covers the matter: every one of its domains (one in no
    domain at all only a voice in every domain, or a mandate in a few would stretch to anything),
    or for a matter in no domain in particular some domain."""
    if domains is None:
        return True
    if matter is None:
        return bool(domains)
    codes = _codes(matter)
    return bool(codes) and codes <= domains


def touches(domains: frozenset[str] | None, matter: str | frozenset[str]) -> bool:
    """Whether the matter lies at least partly where the voice reaches: what a mandated network
    may see (it sees an agreement it may not act on alone, and hears why it may not)."""
    return domains is None or bool(domains & _codes(matter))


def check_speaks_for(
    principal: Principal,
    city_id: UUID,
    in_conflict_zone: bool,
    domains: frozenset[str] | None,
    matter: Matter = None,
) -> None:
    """Refused, saying why, unless `domains` (from `voice_domains`) covers the matter."""
    if covers(domains, matter):
        return
    if not principal.scopes(Role.NETWORK_OFFICER):
        check_acts_for(principal, city_id)
    cities = _cities_of(principal)
    if not in_conflict_zone:
        raise Forbidden(
            f"you act for {cities}, not for city {city_id}, and no network you are an officer of "
            f"holds its mandate here: city {city_id} is not in a conflict zone, and a network acts "
            "for a member city only there (DOMAIN.md); ask the city's officer"
        )
    if domains:
        assert matter is not None, "any domain is covered by a voice in some"
        outside = sorted(_codes(matter) - domains)
        what = ", ".join(outside) if outside else "a matter in no domain (name its domains)"
        raise Forbidden(
            f"the mandate city {city_id} gave your network covers {', '.join(sorted(domains))}, "
            f"not {what}; ask the city's officer, or the city to widen the mandate"
        )
    raise Forbidden(
        f"you act for {cities}, not for city {city_id}, and no network you are an officer of "
        "holds its mandate (a network acts only for a member city in a conflict zone that "
        "mandated it, within the mandate's domains); ask the city's officer, or refresh your "
        "token if you were given the role a moment ago"
    )


def speaking_network(
    principal: Principal, mandates: Iterable[Mandate], matter: frozenset[str]
) -> UUID | None:
    """For the record, the network through which the caller speaks for a city on the matter:
    of the caller's networks the city mandated, the first (by id) whose mandate covers all of
    it, else the first covering some of it (`voice_domains` joins the mandates of all the
    caller's networks, so a matter may be covered by two together)."""
    officer_of = principal.scopes(Role.NETWORK_OFFICER)
    held = sorted(
        (m for m in mandates if str(m.network_id) in officer_of), key=lambda m: str(m.network_id)
    )
    for wanted in (covers, touches):
        for mandate in held:
            if wanted(mandate.domains or None, matter):
                return mandate.network_id
    return None
