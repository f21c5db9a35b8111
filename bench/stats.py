"""Small measurement types and helpers shared by the raw and the pipeline benchmarks."""

import asyncio
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class Throughput:
    """`completed` of `wanted` events took `seconds`; fewer than wanted means a deadline hit."""

    wanted: int
    completed: int
    seconds: float
    # Points in time (seconds after the first send) that show where the time went.
    milestones: dict[str, float] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Latencies:
    """End-to-end latencies in seconds of the events that arrived, out of `sent`."""

    sent: int
    seconds: list[float]
    # Median time of each stage of the path, in seconds, where the path can be split.
    stages: dict[str, float] = field(default_factory=dict)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list: p % of the values are at or below it."""
    ordered = sorted(values)
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def sqlite_epoch(text: str) -> float:
    """Epoch seconds of a `UTCDateTime` column as SQLite stores it (UTC, without a zone)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


async def sleep_until(moment: float) -> None:
    """Sleep until `time.perf_counter()` reaches `moment`; a fixed rate is kept by aiming at
    absolute moments, so one late wake-up does not delay every later send."""
    delay = moment - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)
