"""Pages of rows newest first by their `seq`, for the feeds, each caller's notifications and an
endpoint's webhook deliveries: a page holds up to `limit` rows, and `next_before` (the last
row's seq, None on the last page) asks for the page after it."""

from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

Limit = Annotated[int, Query(ge=1, le=200)]
Before = Annotated[int | None, Query(ge=1, description="`next_before` of the previous page")]

Row = TypeVar("Row")


async def newest_first(
    session: AsyncSession, query: SelectOfScalar[Row], seq: Any, limit: int, before: int | None
) -> tuple[Sequence[Row], int | None]:
    """The page of `query`'s rows, newest first, below `before`; and its `next_before`."""
    if before is not None:
        query = query.where(col(seq) < before)
    rows = (await session.exec(query.order_by(col(seq).desc()).limit(limit + 1))).all()
    page = rows[:limit]
    # One row more than asked for says there is a page after this one.
    return page, getattr(page[-1], seq.key) if len(rows) > limit else None
