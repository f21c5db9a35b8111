"""The development token signing key. It is public (it is in this repository), so tokens it signs
prove nothing: outside development the registry refuses to start with it, and the other services
refuse its public half (shared.settings.DEV_PUBLIC_KEY). Make a real key with
`python -m services.registry.identity.keygen`."""

DEV_SIGNING_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBYgmOspWQ39eMWVTVIfZu5vlk0cOUGPWC9F3QTI+xqr
-----END PRIVATE KEY-----
"""
