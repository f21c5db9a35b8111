"""Notifications HTTP routes: the feed of a city or a fund."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from services.notifications.domain import RecipientKind
from services.notifications.models import FeedItem, FeedItemPublic, FeedPage
from shared.auth import Principal, Role, allow
from shared.errors import Forbidden
from shared.service import SessionDep

router = APIRouter(tags=["feeds"])

FeedReader = Annotated[Principal, Depends(allow(Role.CITY_OFFICER, Role.FUND_ADMIN))]


def _check_may_read(principal: Principal, kind: RecipientKind, recipient_id: uuid.UUID) -> None:
    """A city's feed is its officers' alone, a fund's its administrators' alone."""
    if kind is RecipientKind.CITY and not principal.acts_for_city(recipient_id):
        raise Forbidden(
            f"only an officer of city {recipient_id} may read its feed; "
            "your token does not act for that city"
        )
    if kind is RecipientKind.FUND and not principal.administers_fund(recipient_id):
        raise Forbidden(
            f"only an administrator of fund {recipient_id} may read its feed; "
            "your token does not administer that fund"
        )


@router.get(
    "/feeds/{recipient_kind}/{recipient_id}",
    response_model=FeedPage,
    responses={
        401: {"description": "no valid bearer token"},
        403: {"description": "the caller is not an officer of the city / admin of the fund"},
    },
)
async def read_feed(
    recipient_kind: RecipientKind,
    recipient_id: uuid.UUID,
    session: SessionDep,
    principal: FeedReader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, description="`next_before` of the previous page")
    ] = None,
) -> FeedPage:
    """Newest first. An empty feed is an empty page: a recipient may simply have no news yet.
    A city's feed is for the officers of that city, a fund's for the administrators of that
    fund."""
    _check_may_read(principal, recipient_kind, recipient_id)
    query = select(FeedItem).where(
        FeedItem.recipient_kind == recipient_kind, FeedItem.recipient_id == recipient_id
    )
    if before is not None:
        query = query.where(col(FeedItem.seq) < before)
    items = (await session.exec(query.order_by(col(FeedItem.seq).desc()).limit(limit + 1))).all()
    page = items[:limit]
    return FeedPage(
        items=[FeedItemPublic.model_validate(item) for item in page],
        next_before=page[-1].seq if len(items) > limit else None,
    )
