"""What notifications does with the events it consumes.

Every event type of the NOTICES table (notices.py) is told to its audiences, in the one
transaction of the inbox: the shared feeds of the cities and funds concerned, then for each
person or donor system holding a role in those audiences, an in-app notification and an email
delivery row as their preferences say. A few registry events also (or only) feed the read models
this needs: names, languages, and who holds which role."""

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import and_, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.domain import (
    FALLBACK_LANGUAGE,
    ROLE_AUDIENCE,
    Audience,
    Channel,
    Digest,
    Language,
    RecipientKind,
    View,
    audience_of_role,
    default_language,
    wants,
)
from services.notifications.leases import EMAILS_QUEUED, Wakeup
from services.notifications.models import (
    AwaitingOfficer,
    CityLanguages,
    CityName,
    Delivery,
    DeliveryStatus,
    FeedItem,
    FundDonor,
    NetworkName,
    Notification,
    Preference,
    RoleHolder,
)
from services.notifications.notices import NOTICES, Names, Notice, notice_specs
from services.notifications.rendering import Rendered, render
from services.notifications.webhooks.dispatch import enqueue as enqueue_webhooks
from shared.auth import REVOCATION_HANDLERS
from shared.contracts import EventSpec
from shared.contracts.funding import (
    CONTRIBUTION_PLEDGED,
    IN_KIND_PLEDGED,
    ContributionPledged,
    InKindPledged,
)
from shared.contracts.registry import (
    CITY_REGISTERED,
    CREDENTIALS_REVOKED,
    ROLE_GRANTED,
    ROLE_REVOKED,
    CityRegistered,
    CredentialsRevoked,
    RoleGranted,
    RoleRevoked,
)
from shared.contracts.registry.cities import CITY_UPDATED, CityUpdated
from shared.contracts.registry.networks import NETWORK_REGISTERED, NetworkRegistered
from shared.events import Event
from shared.inbox import Handler

# Wakes the Server-Sent Event streams of this process when a transaction that wrote
# notifications commits (streams also look every few seconds, for other instances' writes).
NEW_NOTIFICATIONS = Wakeup()


def _mentioned_ids(payload: BaseModel) -> set[UUID]:
    ids: set[UUID] = set()
    for value in payload.__dict__.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, UUID):
                ids.add(item)
    return ids


async def _names(session: AsyncSession, payload: BaseModel) -> Names:
    ids = list(_mentioned_ids(payload))
    cities = (await session.exec(select(CityName).where(col(CityName.id).in_(ids)))).all()
    networks = (await session.exec(select(NetworkName).where(col(NetworkName.id).in_(ids)))).all()
    return Names({c.id: c.name for c in cities}, {n.id: n.name for n in networks})


async def holders_of(
    session: AsyncSession, audiences: Iterable[Audience]
) -> dict[Audience, list[str]]:
    """Each audience -> the subjects holding an unrevoked role in it; absent when none does."""
    wanted = set(audiences)
    roles = {kind: role for role, kind in ROLE_AUDIENCE.items()}
    conditions = [
        and_(
            RoleHolder.role == roles[a.kind],
            col(RoleHolder.scope).is_(None)
            if a.kind is RecipientKind.PLATFORM
            else RoleHolder.scope == str(a.id),
        )
        for a in sorted(wanted)
    ]
    if not conditions:
        return {}
    rows = (
        await session.exec(select(RoleHolder).where(~col(RoleHolder.revoked), or_(*conditions)))
    ).all()
    found: dict[Audience, list[str]] = {}
    for holder in rows:
        audience = audience_of_role(holder.role, holder.scope)
        if audience in wanted:
            found.setdefault(audience, []).append(holder.subject)
    return found


def recipients(holders: Mapping[Audience, list[str]]) -> dict[str, Audience]:
    """Subject -> the (first) audience through which it hears of the event: one notification
    per subject, even for an officer of two of the parties."""
    found: dict[str, Audience] = {}
    for audience in sorted(holders):
        for subject in holders[audience]:
            found.setdefault(subject, audience)
    return found


async def languages_of(
    session: AsyncSession, chosen: Mapping[str, str | None]
) -> dict[str, Language]:
    """Each subject's language: the one chosen, else the first of their cities' languages we
    write in. Two queries for any number of subjects (one event tells many officers)."""
    undecided = [subject for subject, language in chosen.items() if not language]
    cities: dict[str, set[UUID]] = {}
    if undecided:
        scopes = (
            await session.exec(
                select(RoleHolder.subject, RoleHolder.scope).where(
                    col(RoleHolder.subject).in_(undecided),
                    RoleHolder.role == "city_officer",
                    ~col(RoleHolder.revoked),
                )
            )
        ).all()
        for subject, scope in scopes:
            if scope:
                cities.setdefault(subject, set()).add(UUID(scope))
    spoken: dict[UUID, list[str]] = {}
    if cities:
        wanted = set().union(*cities.values())
        rows = await session.exec(
            select(CityLanguages).where(col(CityLanguages.city_id).in_(wanted))
        )
        spoken = {row.city_id: row.languages for row in rows.all()}
    return {
        subject: language  # type: ignore[misc]
        or default_language(
            [spoken[c] for c in sorted(cities.get(subject, ()), key=str) if c in spoken]
        )
        for subject, language in chosen.items()
    }


async def language_of(session: AsyncSession, subject: str, chosen: str | None) -> Language:
    """The language chosen, else the first of the subject's cities' languages we write in."""
    return (await languages_of(session, {subject: chosen}))[subject]


async def _expanded(session: AsyncSession, audiences: set[Audience]) -> set[Audience]:
    """The audiences, each fund's donors (FUND_DONORS) replaced by the donors themselves."""
    funds = [a.id for a in audiences if a.kind is RecipientKind.FUND_DONORS]
    donors = (
        (await session.exec(select(FundDonor).where(col(FundDonor.fund_id).in_(funds)))).all()
        if funds
        else []
    )
    return {a for a in audiences if a.kind is not RecipientKind.FUND_DONORS} | {
        Audience(RecipientKind.DONOR, row.donor_id) for row in donors
    }


@dataclass(frozen=True)
class News:
    """An event as one person is told it: the notice's view for the audience they belong to."""

    event_id: str
    event_type: str
    occurred_at: datetime
    view: View


async def _tell(
    session: AsyncSession,
    subject: str,
    preference: Preference | None,
    notice: Notice,
    news: News,
    words: Callable[[], Rendered],
) -> None:
    """One person's in-app notification and email of `news`, as their preferences say; `words`
    renders the notification in their language, only when they are to see it."""
    chosen = preference.subscriptions if preference else {}
    if wants(chosen, news.event_type, Channel.IN_APP, notice.email_by_default):
        rendered = words()
        session.add(
            Notification(
                subject=subject,
                event_id=news.event_id,
                event_type=news.event_type,
                title=rendered.subject,
                body=rendered.text,
                occurred_at=news.occurred_at,
            )
        )
        NEW_NOTIFICATIONS.after_commit(session)
    if (
        preference
        and preference.email
        and wants(chosen, news.event_type, Channel.EMAIL, notice.email_by_default)
    ):
        digest = preference.digest is not Digest.IMMEDIATE
        session.add(
            Delivery(
                event_id=news.event_id,
                recipient=subject,
                channel=Channel.EMAIL,
                event_type=news.event_type,
                view=news.view,
                occurred_at=news.occurred_at,
                status=DeliveryStatus.HELD if digest else DeliveryStatus.PENDING,
            )
        )
        if not digest:
            EMAILS_QUEUED.after_commit(session)


# A city's welcome reaches its first officer even when the registrant's RoleGranted arrives
# after the CityRegistered (AwaitingOfficer).
_AWAITS_FIRST_OFFICER = frozenset({CITY_REGISTERED.type})


async def notify(session: AsyncSession, event_: Event, payload: BaseModel) -> None:
    notice = NOTICES[event_.type]
    audiences = await _expanded(session, notice.audiences(payload))
    names = await _names(session, payload)
    views = {audience: notice.view(payload, names, audience) for audience in audiences}

    @functools.cache
    def words(audience: Audience, language: Language) -> Rendered:
        # The same view in the same language reads the same for everyone (the feed, and each
        # officer of a city reading French): rendered once per event.
        return render(notice, language, views[audience])

    for audience in sorted(audiences):
        if audience.kind in (RecipientKind.CITY, RecipientKind.FUND):
            shared = words(audience, FALLBACK_LANGUAGE)
            session.add(
                FeedItem(
                    recipient_kind=audience.kind,
                    recipient_id=audience.id,
                    event_id=event_.id,
                    event_type=event_.type,
                    title=shared.subject,
                    body=shared.text,
                    occurred_at=event_.time,
                )
            )
    holders = await holders_of(session, audiences)
    subjects = recipients(holders)
    preferences = {
        p.subject: p
        for p in (
            await session.exec(select(Preference).where(col(Preference.subject).in_(subjects)))
        ).all()
    }
    languages = await languages_of(
        session, {s: p.language if (p := preferences.get(s)) else None for s in subjects}
    )
    for subject, audience in subjects.items():
        news = News(event_.id, event_.type, event_.time, views[audience])
        told = functools.partial(words, audience, languages[subject])
        await _tell(session, subject, preferences.get(subject), notice, news, told)
    if event_.type in _AWAITS_FIRST_OFFICER:
        for audience in audiences:
            if audience.kind is RecipientKind.CITY and audience not in holders:
                session.add(
                    AwaitingOfficer(
                        city_id=audience.id,
                        event_id=event_.id,
                        event_type=event_.type,
                        view=views[audience],
                        occurred_at=event_.time,
                    )
                )
    await enqueue_webhooks(session, event_, audiences)


async def _city_registered(session: AsyncSession, p: CityRegistered) -> None:
    await session.merge(CityName(id=p.city_id, name=p.name))
    await session.merge(CityLanguages(city_id=p.city_id, languages=p.official_languages))


async def _city_updated(session: AsyncSession, p: CityUpdated) -> None:
    if p.official_languages is not None:
        await session.merge(CityLanguages(city_id=p.city_id, languages=p.official_languages))


async def _network_registered(session: AsyncSession, p: NetworkRegistered) -> None:
    await session.merge(NetworkName(id=p.network_id, name=p.acronym or p.name))


async def _pledged(session: AsyncSession, p: ContributionPledged | InKindPledged) -> None:
    if p.donor_id is not None:
        await session.merge(FundDonor(fund_id=p.fund_id, donor_id=p.donor_id))


async def _role_granted(session: AsyncSession, p: RoleGranted) -> None:
    # A revocation that arrived first has already written the row, revoked: it stays so.
    if await session.get(RoleHolder, p.grant_id) is not None:
        return
    session.add(RoleHolder(grant_id=p.grant_id, subject=p.subject, role=p.role, scope=p.scope))
    audience = audience_of_role(p.role, p.scope)
    if audience is None or audience.kind is not RecipientKind.CITY:
        return
    awaiting = (
        await session.exec(select(AwaitingOfficer).where(AwaitingOfficer.city_id == audience.id))
    ).all()
    if not awaiting:
        return
    preference = await session.get(Preference, p.subject)
    language = await language_of(session, p.subject, preference.language if preference else None)
    for row in awaiting:
        notice = NOTICES[row.event_type]
        news = News(row.event_id, row.event_type, row.occurred_at, row.view)
        told = functools.partial(render, notice, language, row.view)
        await _tell(session, p.subject, preference, notice, news, told)
        await session.delete(row)


async def _role_revoked(session: AsyncSession, p: RoleRevoked) -> None:
    await session.merge(
        RoleHolder(grant_id=p.grant_id, subject=p.subject, role=p.role, scope=p.scope, revoked=True)
    )


async def _credentials_revoked(session: AsyncSession, p: CredentialsRevoked) -> None:
    # A deactivated account or a revoked client hears of nothing more.
    await session.exec(
        update(RoleHolder).where(col(RoleHolder.subject) == p.subject).values(revoked=True)
    )


# Read models fed before the event is told (a city's name, for its own welcome; a pledge's
# donor, who hears of it).
_READ_MODELS: dict[EventSpec, Callable[[AsyncSession, Any], Awaitable[None]]] = {
    CITY_REGISTERED: _city_registered,
    CITY_UPDATED: _city_updated,
    NETWORK_REGISTERED: _network_registered,
    ROLE_GRANTED: _role_granted,
    ROLE_REVOKED: _role_revoked,
    CREDENTIALS_REVOKED: _credentials_revoked,
    CONTRIBUTION_PLEDGED: _pledged,
    IN_KIND_PLEDGED: _pledged,
}


async def handle(session: AsyncSession, event_: Event, payload: Any) -> None:
    spec = next((s for s in _READ_MODELS if s.type == event_.type), None)
    if spec is not None:
        # Every service records revocations for its token checks; this handler replaces that
        # one for these types, so it runs it too.
        if spec in REVOCATION_HANDLERS:
            await REVOCATION_HANDLERS[spec](session, event_, payload)
        await _READ_MODELS[spec](session, payload)
    if event_.type in NOTICES:
        await notify(session, event_, payload)


HANDLERS: dict[EventSpec, Handler] = {spec: handle for spec in [*_READ_MODELS, *notice_specs()]}
