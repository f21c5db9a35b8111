"""Verification through a JWKS URL, as with an external OpenID Connect provider: the keys come
from a real HTTP server (here serving the registry's own JWKS document)."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.matching.app import DEFINITION as MATCHING
from services.registry.identity.tokens import TokenIssuer
from services.registry.settings import RegistrySettings
from tests.conftest import DatabaseFactory
from tests.helpers import bearer, serve


@pytest.fixture
def jwks_url() -> Iterator[str]:
    document = json.dumps(TokenIssuer(RegistrySettings()).jwks()).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    finally:
        server.shutdown()


async def test_a_service_verifies_tokens_with_keys_from_a_jwks_url(
    jwks_url: str, new_database: DatabaseFactory
) -> None:
    other_key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    foreign = TokenIssuer(RegistrySettings(token_signing_key=other_key.decode()))
    settings = MATCHING.settings(
        database_url=await new_database("matching"),
        auth_jwks_url=jwks_url,
        auth_public_key="unused when a JWKS URL is set",
    )
    async with serve(MATCHING, settings) as matching:
        known = await matching.client.get(
            "/agreements/00000000-0000-4000-8000-000000000000", headers=bearer()
        )
        assert known.status_code == 404  # authenticated: the agreement simply does not exist
        forged = foreign.access_token("intruder", "user", [])
        refused = await matching.client.get(
            "/agreements/00000000-0000-4000-8000-000000000000",
            headers={"Authorization": f"Bearer {forged}"},
        )
        assert refused.status_code == 401
