"""The development key that encrypts webhook signing secrets at rest. It is public (it is in
this repository), so it protects nothing: outside development the service refuses to start with
it. Make a real one with `python -m services.notifications.webhooks.sealing --new-key`."""

DEV_SECRET_KEY = "1qGv7fhzVfn7zu7R7OySWjJIUJs7wHuwrpUU17KylmA="
