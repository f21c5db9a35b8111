"""JSON logs, one object a line, carrying the service name and, while a request or an event is
being handled, its event id and correlation id."""

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from shared.events import current_correlation_id, current_event_id


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self._service
        record.event_id = current_event_id.get()
        record.correlation_id = current_correlation_id.get()
        record.__dict__.pop("color_message", None)  # uvicorn's ANSI copy of the message
        return True


def configure_logging(service: str, level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ContextFilter(service))
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{service}{event_id}{correlation_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every reconnect attempt at ERROR; our own retry loops report them once.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
