"""Secrets read from files (webhook bearer tokens, the exporter's token): private files only,
and a value that never shows itself in a repr, a log line or an error."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

from clawkeeper.errors import ConfigError


class Secret:
    """A secret string whose repr/str show only a short fingerprint."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        return "sha256:" + hashlib.sha256(self._value.encode()).hexdigest()[:12]

    def redact(self, text: str) -> str:
        """`text` with every occurrence of the secret replaced (for errors that echo requests)."""
        return text.replace(self._value, "<redacted>") if self._value else text

    def __repr__(self) -> str:
        return f"Secret({self.fingerprint})"

    __str__ = __repr__


def read_secret_file(path: Path, *, setting: str) -> Secret:
    """The one-line secret in `path`, which must be a regular file no other user can read.

    `setting` names the config key in errors (e.g. `monitor.exporter.token_file`).
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(
            f"{setting}: {path} does not exist",
            hint=f"create it with the secret on one line and `chmod 600 {path}`",
        ) from None
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{setting}: {path} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise ConfigError(
            f"{setting}: {path} is readable by other users (mode {mode:04o})",
            hint=f"run `chmod 600 {path}`",
        )
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{setting}: cannot read {path}: {type(exc).__name__}") from None
    if not text:
        raise ConfigError(f"{setting}: {path} is empty", hint="write the secret on one line")
    if "\n" in text:
        raise ConfigError(f"{setting}: {path} holds more than one line", hint="keep only the secret")
    return Secret(text)
