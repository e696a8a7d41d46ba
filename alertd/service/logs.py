"""Logging: structlog JSON lines on stderr (contract §5), one ``configure`` for the whole process."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_SECRET_KEYS = frozenset({"password", "passwd", "secret", "token", "authorization"})


def _drop_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Never let a value bound under a secret-sounding key reach the log."""
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "[redacted]"
    return event


def configure(level: str = "info", *, json: bool | None = None) -> None:
    """JSON lines on stderr (console rendering on a TTY unless ``json`` says otherwise)."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    # Tracebacks as data, never with local variables: they could hold a password or a message body.
    no_locals = structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
    exc: list[Any] = [structlog.processors.ExceptionRenderer(no_locals)] if use_json else []
    structlog.configure(
        processors=[*shared, *exc, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries log through the stdlib: route their warnings through the same JSON renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *exc, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
