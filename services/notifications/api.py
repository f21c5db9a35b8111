"""Notifications HTTP routes: the feed of a city or a fund."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import col, select

from services.notifications.domain import RecipientKind
from services.notifications.models import FeedItem, FeedItemPublic, FeedPage
from shared.service import SessionDep

router = APIRouter(tags=["feeds"])


@router.get("/feeds/{recipient_kind}/{recipient_id}", response_model=FeedPage)
async def read_feed(
    recipient_kind: RecipientKind,
    recipient_id: uuid.UUID,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, description="`next_before` of the previous page")
    ] = None,
) -> FeedPage:
    """Newest first. An empty feed is an empty page: a recipient may simply have no news yet."""
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
