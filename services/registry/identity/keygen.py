"""Prints a new Ed25519 key pair for signing access tokens: the private key goes to the registry
(REGISTRY_TOKEN_SIGNING_KEY), the public key to every service (AUTH_PUBLIC_KEY)."""

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def main() -> None:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    print("# REGISTRY_TOKEN_SIGNING_KEY (keep secret)\n" + private.decode())
    print("# AUTH_PUBLIC_KEY (every service)\n" + public.decode())


if __name__ == "__main__":
    main()
