"""A fresh install's first platform administrator, created at start-up from settings (in
development, with the documented credentials of RegistrySettings)."""

import logging
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.registry.identity.grants import grant_role
from services.registry.identity.models import Account, RoleGrant
from services.registry.identity.passwords import hash_secret
from services.registry.identity.ratelimit import FailureLimiter
from services.registry.identity.tokens import TokenIssuer
from services.registry.settings import RegistrySettings
from shared.auth import Grant, Role
from shared.service import Runtime

log = logging.getLogger(__name__)


@dataclass
class Identity:
    """What the identity routes need besides the database, kept on app.state.identity."""

    settings: RegistrySettings
    issuer: TokenIssuer
    limiter: FailureLimiter


async def start_identity(app: FastAPI, runtime: Runtime) -> None:
    settings = runtime.settings
    assert isinstance(settings, RegistrySettings)
    app.state.identity = Identity(
        settings,
        TokenIssuer(settings),
        FailureLimiter(settings.login_failures_allowed, settings.login_failure_window_seconds),
    )
    async with runtime.sessions() as session:
        admins = (
            await session.exec(
                select(RoleGrant.id).where(
                    RoleGrant.role == Role.PLATFORM_ADMIN, col(RoleGrant.revoked_at).is_(None)
                )
            )
        ).first()
        if admins is not None:
            return
        username, password = settings.bootstrap_admin_username, settings.bootstrap_admin_password
        if not username or not password:
            log.warning(
                "no platform administrator yet: set REGISTRY_BOOTSTRAP_ADMIN_USERNAME and "
                "REGISTRY_BOOTSTRAP_ADMIN_PASSWORD and restart the registry to create one"
            )
            return
        account = (await session.exec(select(Account).where(Account.username == username))).first()
        if account is None:
            account = Account(
                username=username,
                display_name="Platform administrator",
                password_hash=await hash_secret(password),
            )
            session.add(account)
        await grant_role(
            session, str(account.id), Grant(Role.PLATFORM_ADMIN), granted_by="bootstrap"
        )
        try:
            await session.commit()
        except IntegrityError:
            return  # another instance created it at the same moment
        log.warning("created the first platform administrator", extra={"username": username})
