"""Webhook signing secrets at rest. Signing needs the secret itself (HMAC), so it cannot be
hashed: it is encrypted (Fernet: AES-128-CBC with an HMAC-SHA256, and a timestamp) with the first
key of NOTIFICATIONS_WEBHOOK_SECRET_KEYS (comma-separated), and any key of the list decrypts.
Rotating the key: put a new one first, keep the old one after it, run `--reseal` (every stored
secret is encrypted again with the new key), then drop the old key."""

import argparse
import asyncio
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.keys import NEW_SECRET_KEY, key_list
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks.models import WebhookEndpoint
from shared import db


class SecretBox:
    def __init__(self, keys: SecretStr) -> None:
        fernets = []
        for number, key in enumerate(key_list(keys), start=1):
            try:
                fernets.append(Fernet(key))
            except ValueError:
                raise ValueError(
                    f"key {number} of NOTIFICATIONS_WEBHOOK_SECRET_KEYS is not a Fernet key (32 "
                    f"url-safe base64-encoded bytes): make one with {NEW_SECRET_KEY}"
                ) from None
        if not fernets:
            raise ValueError(f"NOTIFICATIONS_WEBHOOK_SECRET_KEYS is empty: {NEW_SECRET_KEY}")
        self._fernet = MultiFernet(fernets)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise RuntimeError(
                "a webhook secret was sealed with a key no longer in "
                "NOTIFICATIONS_WEBHOOK_SECRET_KEYS: put that key back (after the current one)"
            ) from None

    def reseal(self, sealed: str) -> str:
        """The same secret, encrypted with the first key (a no-op for one sealed with it)."""
        return self._fernet.rotate(sealed.encode("ascii")).decode("ascii")

    def signing_secrets(self, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
        """The secrets that sign a message to `endpoint` now: the current one, and the one
        rotated out while its grace lasts."""
        in_grace = (
            endpoint.sealed_previous_secret is not None
            and endpoint.previous_secret_expires_at is not None
            and endpoint.previous_secret_expires_at > now
        )
        sealed = [endpoint.sealed_secret]
        if in_grace:
            sealed.append(endpoint.sealed_previous_secret)  # type: ignore[arg-type]
        return [self.open(value) for value in sealed]


async def reseal_all(sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> int:
    """Encrypt every stored secret again with the first key; the number of endpoints."""
    async with sessions() as session:
        endpoints = (await session.exec(select(WebhookEndpoint).with_for_update())).all()
        for endpoint in endpoints:
            endpoint.sealed_secret = box.reseal(endpoint.sealed_secret)
            if endpoint.sealed_previous_secret is not None:
                endpoint.sealed_previous_secret = box.reseal(endpoint.sealed_previous_secret)
            session.add(endpoint)
        await session.commit()
    return len(endpoints)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--new-key", action="store_true", help="print a new key")
    action.add_argument(
        "--reseal", action="store_true", help="re-encrypt every secret with the first key"
    )
    if parser.parse_args().new_key:
        print(Fernet.generate_key().decode("ascii"))
        return
    settings = NotificationsSettings()

    async def reseal() -> None:
        engine = db.create_engine(settings.database_url)
        try:
            count = await reseal_all(
                db.session_factory(engine), SecretBox(settings.webhook_secret_keys)
            )
        finally:
            await engine.dispose()
        print(f"{count} endpoints resealed with the first key")

    asyncio.run(reseal())


if __name__ == "__main__":
    main()
