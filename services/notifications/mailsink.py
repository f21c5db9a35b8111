"""A local SMTP sink for development and tests: a real SMTP server (aiosmtpd, a development
dependency) that keeps every message it receives in a Maildir instead of passing it on.

`make run` starts it on 127.0.0.1:8025 with the Maildir var/mail; read what the service sent
with `python -m services.notifications.mailsink --list` (or any mail reader that opens a
Maildir, e.g. `mutt -f var/mail`)."""

import argparse
import contextlib
import email
import mailbox
import signal
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from services.notifications.settings import DEV_SMTP_PORT


@contextlib.contextmanager
def running_sink(directory: Path, port: int, host: str = "127.0.0.1") -> Iterator[None]:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    # Maildir creates its tmp/new/cur folders only when it creates the folder itself.
    directory.parent.mkdir(parents=True, exist_ok=True)
    controller = Controller(Mailbox(directory), hostname=host, port=port)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


def received(directory: Path) -> list[EmailMessage]:
    """The messages in the Maildir, oldest first."""
    box = mailbox.Maildir(directory, create=True)
    return [
        email.message_from_bytes(box.get_bytes(key), policy=default)  # type: ignore[misc]
        for key in sorted(box.keys(), key=_arrival)
    ]


def _arrival(key: str) -> tuple[int, int, str]:
    # Maildir names start "<seconds>.M<microseconds>P<pid>Q<count>": by time, then by name.
    seconds, _, rest = key.partition(".M")
    micro = rest.split("P", 1)[0]
    return (int(seconds), int(micro), key) if seconds.isdigit() and micro.isdigit() else (0, 0, key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"), help="the Maildir")
    parser.add_argument("--port", type=int, default=DEV_SMTP_PORT)
    parser.add_argument("--list", action="store_true", help="print what it received, and exit")
    args = parser.parse_args()
    if args.list:
        for message in received(args.dir):
            body = message.get_body(("plain",))
            print(f"{message['Date']}  To: {message['To']}\nSubject: {message['Subject']}")
            print(f"{body.get_content() if body else ''}\n{'-' * 72}")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with running_sink(args.dir, args.port):
        print(f"SMTP sink on 127.0.0.1:{args.port}, storing into {args.dir}", flush=True)
        signal.pause()


if __name__ == "__main__":
    main()
