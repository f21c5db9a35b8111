"""Grants HTTP routes: applications and their reviews, decision, amendments and comments;
milestone reports; tranche releases, their second approval, pauses and resumptions.

The partnership's side is the officers of the agreement's cities (others get 404: an application
is not public); the fund's side is its administrators (platform administrators read). Rules are
in `domain`, ledger-touching steps in `tranches`; the routes load, check who, and record events.
Every write locks the fund first, so that concurrent steps on one fund's grants run one at a time
and each sees the other's result. Money-moving POSTs require an Idempotency-Key; the others
accept one."""

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.domain import FundStatus
from services.funding.funds import existing_fund
from services.funding.grants import domain, tranches
from services.funding.grants.domain import (
    ApplicationStatus,
    Decision,
    HoldCause,
    ReviewDecision,
    ReviewRecord,
    TrancheStatus,
    Visibility,
)
from services.funding.grants.models import (
    Application,
    ApplicationAmend,
    ApplicationComment,
    ApplicationCreate,
    ApplicationPublic,
    ApplicationSummary,
    ApplicationVersion,
    CommentCreate,
    CommentPublic,
    DecisionCreate,
    KnownAgreement,
    MilestoneReport,
    Proposal,
    Review,
    ReviewCreate,
    ReviewPublic,
    Tranche,
    TrancheNote,
    TranchePublic,
    VersionPublic,
    Withdrawal,
)
from services.funding.ledger.store import lock_fund
from services.funding.public_log import record_fund_event
from services.funding.settings import FundingSettings
from shared import money
from shared.auth import CityOfficer, Principal, Role, allow
from shared.contracts import EventSpec
from shared.contracts.funding import (
    APPLICATION_AMENDED,
    APPLICATION_APPROVED,
    APPLICATION_COMMENT_SHARED,
    APPLICATION_REJECTED,
    APPLICATION_REVIEWED,
    APPLICATION_SUBMITTED,
    APPLICATION_WITHDRAWN,
    MILESTONE_REPORTED,
    TRANCHE_PAUSED,
    TRANCHE_RESUMED,
)
from shared.db import utcnow
from shared.errors import Conflict, DomainError, NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.service import SessionDep

router = APIRouter(tags=["grants"])

T = TypeVar("T")

FundAdmin = Annotated[Principal, Depends(allow(Role.FUND_ADMIN))]
_MONEY = {400: {"description": "the Idempotency-Key header is missing"}}


# --- Loading, under the fund's lock ----------------------------------------------------------


async def _application(session: AsyncSession, application_id: uuid.UUID) -> Application:
    application = await session.get(Application, application_id)
    if application is None:
        raise NotFound("no such application")
    return application


async def _locked_application(session: AsyncSession, application_id: uuid.UUID) -> Application:
    application = await _application(session, application_id)
    await lock_fund(session, application.fund_id)
    await session.refresh(application)  # as it is now that we hold the lock
    return application


async def _current_version(session: AsyncSession, application: Application) -> ApplicationVersion:
    version = (
        await session.exec(
            select(ApplicationVersion).where(
                ApplicationVersion.application_id == application.id,
                ApplicationVersion.number == application.version,
            )
        )
    ).one()
    return version


async def _reviews(session: AsyncSession, application: Application) -> list[Review]:
    """The reviews of the current version."""
    return list(
        (
            await session.exec(
                select(Review).where(
                    Review.application_id == application.id,
                    Review.version == application.version,
                )
            )
        ).all()
    )


def _records(reviews: list[Review]) -> list[ReviewRecord]:
    return [ReviewRecord(r.kind, r.reviewer, r.decision) for r in reviews]


async def _public(
    session: AsyncSession, application: Application, principal: Principal
) -> ApplicationPublic:
    async def rows_of(table: type[T], order: Any) -> Sequence[T]:
        """The application's rows of `table` (every table here has `application_id`)."""
        query = select(table).where(table.application_id == application.id)  # type: ignore[attr-defined]
        return (await session.exec(query.order_by(order))).all()

    versions = await rows_of(ApplicationVersion, col(ApplicationVersion.number))
    reviews = await rows_of(Review, col(Review.reviewed_at))
    comments = await rows_of(ApplicationComment, col(ApplicationComment.written_at))
    tranche_rows = await rows_of(Tranche, col(Tranche.position))
    return ApplicationPublic.model_validate(
        application,
        update={
            "versions": [VersionPublic.of(v, application.currency) for v in versions],
            "reviews": [ReviewPublic.model_validate(r) for r in reviews],
            "comments": [
                CommentPublic.model_validate(c)
                for c in comments
                if domain.may_see(principal, application.fund_id, c.visibility)
            ],
            "tranches": [TranchePublic.of(t) for t in tranche_rows],
        },
    )


async def _record(
    session: AsyncSession, spec: EventSpec, application: Application, by: str, **extra: object
) -> None:
    await record_fund_event(
        session,
        spec,
        application.fund_id,
        spec.payload(
            application_id=application.id,
            fund_id=application.fund_id,
            agreement_id=application.agreement_id,
            applicant_city_id=application.applicant_city_id,
            party_city_ids=application.party_city_ids,
            title=application.title,
            status=application.status,
            version=application.version,
            by_subject=by,
            **extra,
        ),
    )


def _total(application: Application, version: ApplicationVersion) -> dict[str, object]:
    return {
        "total": money.from_minor_units(version.total_minor, application.currency),
        "currency": application.currency,
    }


def _new_version(
    application: Application, body: Proposal, number: int, by: str, note: str | None = None
) -> ApplicationVersion:
    if body.currency != application.currency:
        raise DomainError(
            f"this fund pays in {application.currency}: give the budget in {application.currency}"
        )
    lines, milestones = body.budget_lines(), body.milestone_specs()
    total = domain.check_budget(lines, milestones, body.currency)
    return ApplicationVersion(
        application_id=application.id,
        number=number,
        description=body.description,
        budget_lines=[{"label": line.label, "amount_minor": line.amount_minor} for line in lines],
        milestones=[
            {"title": m.title, "due_date": m.due_date.isoformat(), "amount_minor": m.amount_minor}
            for m in milestones
        ],
        total_minor=total,
        note=note,
        submitted_by=by,
    )


# --- Applications ----------------------------------------------------------------------------


@router.post(
    "/funds/{fund_id}/applications",
    status_code=201,
    response_model=ApplicationPublic,
    responses={403: {"description": "the caller is not an officer of the applicant city"}},
)
async def apply(
    fund_id: uuid.UUID,
    body: ApplicationCreate,
    session: SessionDep,
    request: Request,
    principal: CityOfficer,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """A partnership with an active agreement applies, through an officer of one of its cities,
    with a budget (lines) and milestones whose tranches add up to it."""

    async def submit() -> ApplicationPublic:
        fund = await existing_fund(session, fund_id)
        await lock_fund(session, fund_id)
        agreement = await session.get(KnownAgreement, body.agreement_id)
        if agreement is None:
            raise Conflict(
                f"funding has not heard of agreement {body.agreement_id}: a partnership applies "
                "with an active agreement"
            )
        domain.check_applicant(principal, body.applicant_city_id, agreement.party_city_ids)
        if agreement.status != domain.AGREEMENT_ACTIVE:
            raise Conflict(
                f"a partnership applies with an active agreement; agreement {agreement.id} is "
                f"{agreement.status}"
            )
        domain.check_fund_takes_applications(
            fund_id, fund.status is FundStatus.CLOSED, fund.eligible_domains, agreement.domains
        )
        application = Application(
            fund_id=fund_id,
            agreement_id=agreement.id,
            applicant_city_id=body.applicant_city_id,
            party_city_ids=list(agreement.party_city_ids),
            title=body.title,
            currency=fund.currency,
            status=ApplicationStatus.IN_REVIEW,
            submitted_by=principal.subject,
        )
        version = _new_version(application, body, 1, principal.subject)
        session.add(application)
        await session.flush()
        session.add(version)
        await session.flush()
        await _record(
            session,
            APPLICATION_SUBMITTED,
            application,
            principal.subject,
            **_total(application, version),
        )
        return await _public(session, application, principal)

    return await idempotent(session, request, idempotency_key, body, submit)


@router.get("/funds/{fund_id}/applications", response_model=list[ApplicationSummary])
async def list_applications(
    fund_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[
        Principal, Depends(allow(Role.FUND_ADMIN, Role.CITY_OFFICER, Role.PLATFORM_ADMIN))
    ],
) -> list[Application]:
    """All of the fund's applications for its administrators; a city's officers see those of
    the partnerships their city is in."""
    await existing_fund(session, fund_id)
    applications = (
        await session.exec(
            select(Application)
            .where(Application.fund_id == fund_id)
            .order_by(col(Application.submitted_at), col(Application.id))
        )
    ).all()
    if principal.is_platform_admin or principal.administers_fund(fund_id):
        return list(applications)
    return [a for a in applications if domain.is_partner(principal, a.party_city_ids)]


@router.get("/applications/{application_id}", response_model=ApplicationPublic)
async def get_application(
    application_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[
        Principal, Depends(allow(Role.FUND_ADMIN, Role.CITY_OFFICER, Role.PLATFORM_ADMIN))
    ],
) -> ApplicationPublic:
    """The application with its versions, reviews, comments (internal ones for the fund's
    administrators only) and tranches."""
    application = await _application(session, application_id)
    domain.check_reads_application(principal, application.fund_id, application.party_city_ids)
    return await _public(session, application, principal)


@router.get("/funds/{fund_id}/tranches", response_model=list[TranchePublic])
async def list_tranches(
    fund_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[Principal, Depends(allow(Role.FUND_ADMIN, Role.PLATFORM_ADMIN))],
    status: Annotated[
        TrancheStatus | None,
        Query(description="e.g. release_requested: the releases waiting for a second approval"),
    ] = None,
    held: Annotated[bool | None, Query(description="only the held (or the unheld) ones")] = None,
) -> list[TranchePublic]:
    """The fund's tranches, by due date: the administrators' work queue."""
    await existing_fund(session, fund_id)
    domain.check_oversees(principal, fund_id)
    query = select(Tranche).where(Tranche.fund_id == fund_id)
    if status is not None:
        query = query.where(Tranche.status == status)
    rows = (await session.exec(query.order_by(col(Tranche.due_date), col(Tranche.position)))).all()
    return [TranchePublic.of(t) for t in rows if held is None or bool(t.holds) is held]


async def _act(
    session: SessionDep,
    request: Request,
    key: str | None,
    body: BaseModel,
    step: Callable[[], Awaitable[BaseModel]],
    *,
    status_code: int = 200,
    moves_money: bool = False,
) -> JSONResponse:
    return await idempotent(
        session, request, key, body, step, status_code=status_code, required=moves_money
    )


@router.post(
    "/applications/{application_id}/reviews", status_code=201, response_model=ApplicationPublic
)
async def review(
    application_id: uuid.UUID,
    body: ReviewCreate,
    session: SessionDep,
    request: Request,
    principal: FundAdmin,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The content or the budget review of the current version, by an administrator of the
    fund who has not given the other one."""

    async def step() -> ApplicationPublic:
        application = await _locked_application(session, application_id)
        domain.check_fund_admin(principal, application.fund_id)
        reviews = await _reviews(session, application)
        domain.check_review(
            application.status, application.version, _records(reviews), body.kind, principal.subject
        )
        given = Review(
            application_id=application.id,
            version=application.version,
            kind=body.kind,
            reviewer=principal.subject,
            decision=body.decision,
            comment=body.comment,
        )
        session.add(given)
        application.status = domain.status_after_reviews(_records([*reviews, given]))
        session.add(application)
        await session.flush()
        await _record(
            session,
            APPLICATION_REVIEWED,
            application,
            principal.subject,
            kind=body.kind,
            decision=body.decision,
            comment=body.comment,
        )
        if application.status is ApplicationStatus.REJECTED:
            rejections = [r for r in [*reviews, given] if r.decision is ReviewDecision.REJECT]
            await _record(
                session,
                APPLICATION_REJECTED,
                application,
                principal.subject,
                comment=" / ".join(f"{r.kind} review: {r.comment}" for r in rejections),
            )
        return await _public(session, application, principal)

    return await _act(session, request, idempotency_key, body, step, status_code=201)


@router.post("/applications/{application_id}/decision", response_model=ApplicationPublic)
async def decide(
    application_id: uuid.UUID,
    body: DecisionCreate,
    session: SessionDep,
    request: Request,
    principal: FundAdmin,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Approval (or rejection) of a reviewed application by an administrator of the fund who
    reviewed neither review (four eyes). Approval creates one tranche per milestone and commits
    no money yet: each tranche is committed and paid when it is released."""

    async def step() -> ApplicationPublic:
        application = await _locked_application(session, application_id)
        domain.check_fund_admin(principal, application.fund_id)
        reviews = await _reviews(session, application)
        domain.check_decision(
            application.status, application.version, _records(reviews), principal.subject
        )
        application.status = domain.status_after_decision(body.decision)
        application.decided_by, application.decided_at = principal.subject, utcnow()
        session.add(application)
        session.add(
            ApplicationComment(
                application_id=application.id,
                version=application.version,
                author=principal.subject,
                visibility=Visibility.SHARED,
                text=body.comment,
            )
        )
        await session.flush()
        if body.decision is Decision.APPROVE:
            version = await _current_version(session, application)
            await tranches.sync_tranches(session, application, version)
            await _record(
                session,
                APPLICATION_APPROVED,
                application,
                principal.subject,
                comment=body.comment,
                **_total(application, version),
            )
        else:
            await _record(
                session, APPLICATION_REJECTED, application, principal.subject, comment=body.comment
            )
        return await _public(session, application, principal)

    return await _act(session, request, idempotency_key, body, step)


@router.post(
    "/applications/{application_id}/amendments",
    status_code=201,
    response_model=ApplicationPublic,
)
async def amend(
    application_id: uuid.UUID,
    body: ApplicationAmend,
    session: SessionDep,
    request: Request,
    principal: CityOfficer,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """A new version of an approved application (or one sent back for changes): it goes back to
    review. The milestones already paid or being released must stay as they are."""

    async def step() -> ApplicationPublic:
        application = await _locked_application(session, application_id)
        domain.check_partner(principal, application.fund_id, application.party_city_ids)
        domain.check_amendable(application.status)
        version = _new_version(
            application, body, application.version + 1, principal.subject, body.note
        )
        released = (
            await session.exec(
                select(Tranche).where(
                    Tranche.application_id == application.id,
                    col(Tranche.status).in_(
                        [TrancheStatus.RELEASE_REQUESTED, TrancheStatus.DISBURSED]
                    ),
                )
            )
        ).all()
        domain.check_locked_milestones(
            {t.position: t.milestone() for t in released}, version.milestone_specs()
        )
        application.version = version.number
        application.status = ApplicationStatus.IN_REVIEW
        application.decided_by = application.decided_at = None
        session.add(application)
        session.add(version)
        await session.flush()
        await _record(
            session,
            APPLICATION_AMENDED,
            application,
            principal.subject,
            note=body.note,
            **_total(application, version),
        )
        return await _public(session, application, principal)

    return await _act(session, request, idempotency_key, body, step, status_code=201)


@router.post("/applications/{application_id}/withdrawal", response_model=ApplicationPublic)
async def withdraw(
    application_id: uuid.UUID,
    body: Withdrawal,
    session: SessionDep,
    request: Request,
    principal: CityOfficer,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The partnership withdraws its application while it awaits a decision."""

    async def step() -> ApplicationPublic:
        application = await _locked_application(session, application_id)
        domain.check_partner(principal, application.fund_id, application.party_city_ids)
        domain.check_withdrawable(application.status)
        application.status = ApplicationStatus.WITHDRAWN
        session.add(application)
        await session.flush()
        await _record(
            session, APPLICATION_WITHDRAWN, application, principal.subject, reason=body.reason
        )
        return await _public(session, application, principal)

    return await _act(session, request, idempotency_key, body, step)


@router.post(
    "/applications/{application_id}/comments", status_code=201, response_model=CommentPublic
)
async def comment(
    application_id: uuid.UUID,
    body: CommentCreate,
    session: SessionDep,
    request: Request,
    principal: Annotated[Principal, Depends(allow(Role.FUND_ADMIN, Role.CITY_OFFICER))],
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """A comment: internal (between the fund's administrators) or shared with the partnership.
    The partnership's officers write shared comments only."""

    async def step() -> CommentPublic:
        application = await _locked_application(session, application_id)
        if not principal.administers_fund(application.fund_id):
            domain.check_partner(principal, application.fund_id, application.party_city_ids)
        domain.check_comment(principal, application.fund_id, body.visibility)
        written = ApplicationComment(
            application_id=application.id,
            version=application.version,
            author=principal.subject,
            visibility=body.visibility,
            text=body.text,
        )
        session.add(written)
        await session.flush()
        if body.visibility is Visibility.SHARED:
            await _record(
                session, APPLICATION_COMMENT_SHARED, application, principal.subject, text=body.text
            )
        return CommentPublic.model_validate(written)

    return await _act(session, request, idempotency_key, body, step, status_code=201)


# --- Milestones and tranches -----------------------------------------------------------------


def _threshold_minor(request: Request, currency: str) -> int | None:
    settings = request.app.state.runtime.settings
    assert isinstance(settings, FundingSettings)
    threshold = settings.second_approval_thresholds.get(currency)
    if threshold is None:
        return None
    return money.minor_units(threshold, currency) if threshold > 0 else 0


@router.post("/tranches/{tranche_id}/milestone-report", response_model=TranchePublic)
async def report_milestone(
    tranche_id: uuid.UUID,
    body: MilestoneReport,
    session: SessionDep,
    request: Request,
    principal: CityOfficer,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The partnership reports a milestone done; a report may be replaced while its tranche is
    pending (e.g. when a release was refused for want of evidence)."""

    async def step() -> TranchePublic:
        tranche = await tranches.locked_tranche(session, tranche_id)
        application = await _application(session, tranche.application_id)
        domain.check_partner(principal, application.fund_id, application.party_city_ids)
        if tranche.status is not TrancheStatus.PENDING:
            raise Conflict(f"the tranche is {tranche.status}: its milestone report is closed")
        tranche.report, tranche.reported_by = body.report, principal.subject
        tranche.reported_at = utcnow()
        session.add(tranche)
        await tranches.record_tranche_event(session, MILESTONE_REPORTED, tranche, principal.subject)
        return TranchePublic.of(tranche)

    return await _act(session, request, idempotency_key, body, step)


# --- The administrators' steps on a tranche, each on its own path -----------------------------
# Each step runs under the fund's lock with the tranche and its application as they are now.
AdminStep = Callable[[AsyncSession, Request, Tranche, Application, str, str], Awaitable[None]]


async def _release(
    session: AsyncSession, request: Request, t: Tranche, a: Application, by: str, note: str
) -> None:
    threshold = _threshold_minor(request, t.currency)
    await tranches.release(session, t, a, by, threshold, note)


async def _approve_release(
    session: AsyncSession, _request: Request, t: Tranche, a: Application, by: str, note: str
) -> None:
    await tranches.approve_release(session, t, a, by, note)


async def _cancel_release(
    session: AsyncSession, _request: Request, t: Tranche, _a: Application, by: str, note: str
) -> None:
    await tranches.cancel_release(session, t, by, note)


async def _pause(
    session: AsyncSession, _request: Request, t: Tranche, _a: Application, by: str, note: str
) -> None:
    domain.check_open(t.status, "paused")
    if HoldCause.PAUSED in t.holds:
        return  # pausing a paused tranche changes nothing
    t.holds = {**t.holds, HoldCause.PAUSED: note or "paused by an administrator of the fund"}
    session.add(t)
    await tranches.record_tranche_event(session, TRANCHE_PAUSED, t, by, note=note)


async def _resume(
    session: AsyncSession, _request: Request, t: Tranche, a: Application, by: str, note: str
) -> None:
    domain.check_open(t.status, "resumed")
    after = domain.lift_by_admin(t.holds, await tranches.party_states(session, a.party_city_ids))
    lifted = sorted(t.holds.keys() - after.keys())
    if lifted:
        t.holds = after
        session.add(t)
        await tranches.record_tranche_event(
            session, TRANCHE_RESUMED, t, by, note=note, lifted=lifted
        )


# (path, step, moves money, description)
_ADMIN_STEPS: list[tuple[str, AdminStep, bool, str]] = [
    (
        "release",
        _release,
        True,
        "Pay a reported tranche (up to the threshold), or commit it for a second "
        "administrator's approval (above it). 409 naming the rule when it may not be paid, with "
        "no ledger entry.",
    ),
    (
        "release-approval",
        _approve_release,
        True,
        "Another administrator than the requester approves a release above the threshold: it "
        "is paid.",
    ),
    (
        "release-cancellation",
        _cancel_release,
        True,
        "A release waiting for approval is withdrawn by its requester or refused by another "
        "administrator: its commitment goes back to available.",
    ),
    (
        "pause",
        _pause,
        False,
        "Hold a tranche still to be paid until an administrator resumes it (the note says why). "
        "Pausing a paused tranche changes nothing.",
    ),
    (
        "resumption",
        _resume,
        False,
        "Lift the pause and the conflict holds (once every party is out of the active phase of "
        "a conflict); an agreement's hold stays until the agreement resumes.",
    ),
]


def _add_admin_step_route(path: str, run: AdminStep, moves_money: bool, description: str) -> None:
    async def admin_step(
        tranche_id: uuid.UUID,
        body: TrancheNote,
        session: SessionDep,
        request: Request,
        principal: FundAdmin,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        async def step() -> TranchePublic:
            tranche = await tranches.locked_tranche(session, tranche_id)
            domain.check_fund_admin(principal, tranche.fund_id)
            # Read as it is now that the fund is locked: one query, never a stale copy.
            application = await session.get(
                Application, tranche.application_id, populate_existing=True
            )
            assert application is not None, "a tranche belongs to an application"
            await run(session, request, tranche, application, principal.subject, body.note)
            return TranchePublic.of(tranche)

        return await _act(session, request, idempotency_key, body, step, moves_money=moves_money)

    router.add_api_route(
        f"/tranches/{{tranche_id}}/{path}",
        admin_step,
        methods=["POST"],
        name=f"tranche_{path.replace('-', '_')}",
        description=description,
        response_model=TranchePublic,
        responses=_MONEY if moves_money else {},
    )


for _path, _run, _moves_money, _description in _ADMIN_STEPS:
    _add_admin_step_route(_path, _run, _moves_money, _description)
