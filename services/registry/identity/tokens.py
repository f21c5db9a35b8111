"""Issuing access tokens (JWT, EdDSA) and opaque refresh tokens, and publishing the public key."""

import hashlib
import json
import secrets
import time
import uuid
from base64 import urlsafe_b64encode
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from services.registry.settings import RegistrySettings
from shared.auth import Grant


class TokenIssuer:
    def __init__(self, settings: RegistrySettings) -> None:
        key = load_pem_private_key(settings.token_signing_key.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("REGISTRY_TOKEN_SIGNING_KEY must be an Ed25519 private key")
        self._key = key
        self._settings = settings
        public_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
        self.kid = _thumbprint(public_jwk)
        self.public_jwk = {**public_jwk, "kid": self.kid, "use": "sig", "alg": "EdDSA"}

    @property
    def access_ttl(self) -> int:
        return self._settings.access_token_ttl_seconds

    def access_token(self, subject: str, kind: str, grants: list[Grant]) -> str:
        now = time.time()
        claims: dict[str, Any] = {
            "iss": self._settings.auth_issuer,
            "aud": self._settings.auth_audience,
            "sub": subject,
            "iat": now,
            "exp": int(now) + self.access_ttl,
            "jti": str(uuid.uuid4()),
            "cx_kind": kind,
            self._settings.auth_roles_claim: sorted(str(grant) for grant in grants),
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}


def _thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: a stable key id derived from the key itself."""
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x")}, separators=(",", ":"))
    return urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).decode().rstrip("=")


def new_opaque_token() -> tuple[str, str]:
    """A random token for the caller and its hash for the database (a stolen table is useless)."""
    token = secrets.token_urlsafe(32)
    return token, hash_opaque_token(token)


def hash_opaque_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
