"""Notifications' own keys: the ones encrypting webhook signing secrets at rest (Fernet) and the
ones signing unsubscribe links (HMAC). Each setting is a comma-separated list: the first key
encrypts or signs, any of them decrypts or verifies, so a key is rotated by putting a new one
first and dropping the old one once nothing needs it.

The development keys below are public (they are in this repository), so they protect nothing:
outside development the service refuses to start with either, even as an old key kept for
reading, as the services refuse the development token key (shared.settings)."""

from pydantic import SecretStr

DEV_SECRET_KEY = "1qGv7fhzVfn7zu7R7OySWjJIUJs7wHuwrpUU17KylmA="
DEV_UNSUBSCRIBE_KEY = "dev-unsubscribe-links-key-known-to-everyone-2026"

NEW_SECRET_KEY = "python -m services.notifications.webhooks.sealing --new-key"
NEW_UNSUBSCRIBE_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def key_list(keys: SecretStr) -> list[str]:
    return [key.strip() for key in keys.get_secret_value().split(",") if key.strip()]


def refuse_outside_development(
    environment: str, keys: SecretStr, dev_key: str, variable: str, how: str
) -> None:
    if environment != "development" and dev_key in key_list(keys):
        raise ValueError(
            f"CX_ENVIRONMENT={environment} refuses the development key in {variable}: set it to "
            f"your own keys, comma-separated, the newest first ({how})"
        )
