"""Secrets the operator keeps in files: a feed's password, the SMTP password (contract §2).

A secret is read from the file the configuration names or, under systemd, from the service's credential of the
same purpose (``$CREDENTIALS_DIRECTORY/<name>``). What goes wrong is told without a byte of the file's content.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class SecretFileError(Exception):
    """A secret file that exists but cannot serve: its path and what is wrong, never its content."""


def read_secret(
    path: Path | None, credential: str, *, environ: Mapping[str, str] | None = None
) -> tuple[Path, str] | None:
    """The first of ``path`` and the systemd ``credential`` that exists, and the secret it holds (trailing newline
    stripped); None when neither exists. Raises :class:`SecretFileError` for one unreadable, not UTF-8, or empty."""
    env = os.environ if environ is None else environ
    candidates = [path] if path is not None else []
    if creds := env.get("CREDENTIALS_DIRECTORY"):
        candidates.append(Path(creds) / credential)
    for candidate in candidates:
        if not candidate.exists():
            continue
        # Errors are raised outside the except blocks: a chained UnicodeDecodeError would carry the content.
        problem = None
        try:
            secret = candidate.read_bytes().decode("utf-8").rstrip("\r\n")
        except OSError as exc:
            problem = f"cannot be read: {exc.strerror or type(exc).__name__}"
        except UnicodeDecodeError:
            problem = "is not UTF-8 text"
        else:
            if not secret:
                problem = "is empty"
        if problem is not None:
            raise SecretFileError(f"{candidate} {problem}")
        return candidate, secret
    return None
