"""End-to-end: the real broker and the four services as separate processes, driven only over
HTTP, waiting with deadlines."""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from shared.devstack import SERVICE_PORTS, Stack, free_port


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = {name: free_port() for name in SERVICE_PORTS}
    stack = Stack(data_dir=tmp_path_factory.mktemp("stack"), broker_port=free_port(), ports=ports)
    with stack.running():
        yield stack


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
