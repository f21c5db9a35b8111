"""Exponential backoff for the loops that wait out a broker or a database."""

import asyncio


class Backoff:
    def __init__(self, first: float = 0.2, most: float = 5.0) -> None:
        self._first = first
        self._most = most
        self._next = first

    async def wait(self) -> None:
        """Sleep, and double the next sleep up to the cap."""
        await asyncio.sleep(self._next)
        self._next = min(self._next * 2, self._most)

    def reset(self) -> None:
        self._next = self._first
