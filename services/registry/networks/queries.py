"""What the rest of the registry asks about networks."""

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.networks.models import NetworkMembership


async def mandated_cities(session: AsyncSession, network_id: uuid.UUID) -> set[uuid.UUID]:
    """The member cities that currently mandate the network to act for them: with
    `domain.acts_by_mandate`, what a network officer may do in their name."""
    rows = await session.exec(
        select(NetworkMembership.city_id).where(
            NetworkMembership.network_id == network_id,
            col(NetworkMembership.left_at).is_(None),
            col(NetworkMembership.mandate).is_(True),
        )
    )
    return set(rows.all())
