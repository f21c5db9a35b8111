"""Signed webhooks to donor systems and other integrations (Standard Webhooks): endpoints their
owners register (api), deliveries queued by the event consumer (dispatch), sent and retried by a
background loop (sender), under the rules of domain and the address checks of network."""
