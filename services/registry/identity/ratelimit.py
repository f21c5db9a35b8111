"""Failed sign-ins per key (a username, a client id) in a sliding window. In-process: each
instance of the registry counts its own, which still caps guessing to a few tries a minute per
instance; a shared store (Redis) would make it exact."""

import time
from collections import defaultdict, deque


class FailureLimiter:
    def __init__(self, allowed: int, window_seconds: float) -> None:
        self._allowed = allowed
        self._window = window_seconds
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, key: str) -> int | None:
        """Seconds to wait before trying `key` again, or None when it may try now."""
        failures = self._failures.get(key)
        if not failures:
            return None
        now = time.monotonic()
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if len(failures) < self._allowed:
            return None
        return int(failures[0] + self._window - now) + 1

    def failed(self, key: str) -> None:
        self._failures[key].append(time.monotonic())

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
