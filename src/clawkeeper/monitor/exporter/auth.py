"""Who may read `/metrics`: nobody but this machine unless a secret is required.

The rule mirrors OpenClaw's own gateway: binding beyond loopback without authentication is refused
at startup. Bearer and basic secrets come from a private file (`token_file`, mode 0600) and are
compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from dataclasses import dataclass

from clawkeeper.errors import ConfigError
from clawkeeper.monitor.notify.secretfile import Secret, read_secret_file
from clawkeeper.monitor.settings import ExporterSettings

REALM = "clawkeeper"


def is_loopback(bind: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; every other name or address counts as exposed."""
    host = bind.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class AuthPolicy:
    scheme: str  # "none" | "bearer" | "basic"
    secret: Secret | None = None

    @classmethod
    def from_settings(cls, settings: ExporterSettings) -> AuthPolicy:
        """Validate `[monitor.exporter]`'s bind/auth/token_file; ConfigError names the setting."""
        if settings.auth == "none":
            if not is_loopback(settings.bind):
                raise ConfigError(
                    f"monitor.exporter.bind = {settings.bind!r} would serve /metrics beyond this machine "
                    "without authentication",
                    hint='set monitor.exporter.auth = "bearer" (or "basic") with a 0600 token_file, '
                    'or bind "127.0.0.1"',
                )
            return cls("none")
        if settings.token_file is None:
            raise ConfigError(
                f"monitor.exporter.auth = {settings.auth!r} needs monitor.exporter.token_file",
                hint="point it at a file holding the secret on one line, mode 0600",
            )
        secret = read_secret_file(settings.token_file, setting="monitor.exporter.token_file")
        if settings.auth == "basic" and ":" not in secret.reveal():
            raise ConfigError(
                f"monitor.exporter.token_file {settings.token_file} must hold user:password for basic auth",
                hint='write "user:password" on one line, or use auth = "bearer"',
            )
        return cls(settings.auth, secret)

    @property
    def challenge(self) -> str:
        return f'Basic realm="{REALM}"' if self.scheme == "basic" else f'Bearer realm="{REALM}"'

    def allows(self, authorization: str | None) -> bool:
        """Does the request's Authorization header carry the secret?"""
        if self.scheme == "none":
            return True
        if self.secret is None or not authorization:
            return False
        kind, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if self.scheme == "bearer" and kind.lower() == "bearer":
            return _same(credentials, self.secret.reveal())
        if self.scheme == "basic" and kind.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return _same(decoded, self.secret.reveal())
        return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
