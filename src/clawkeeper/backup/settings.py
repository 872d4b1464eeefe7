"""The `[backup]` section of clawkeeper.toml (wired into `config.Settings` as `backup`).

    [backup]
    repo = "~/backups/openclaw"          # or sftp://user@host:22/srv/backups, s3://bucket/prefix
    key_file = "~/.config/clawkeeper/backup.key"   # optional; otherwise a passphrase
    exclude = ["workspace/scratch/"]
    include_models = true

    [backup.keep]                         # what `backup forget` keeps when given no --keep-* flag
    daily = 7
    weekly = 4
    monthly = 12

    [backup.sftp]                         # only for sftp:// repositories
    known_hosts = "~/.ssh/known_hosts"
    identity_file = "~/.ssh/id_ed25519"   # optional; otherwise the SSH agent and ~/.ssh/id_*

    [backup.s3]                           # only for s3:// repositories
    endpoint_url = "http://127.0.0.1:9000" # optional; AWS when empty
    region = "us-east-1"

The passphrase itself is never a setting: it comes from `$CLAWKEEPER_BACKUP_PASSPHRASE` or a
prompt, so it never sits in a config file next to the repository path. Likewise remote
credentials: SSH keys come from the agent or a key file, S3 keys from `$AWS_ACCESS_KEY_ID` /
`$AWS_SECRET_ACCESS_KEY` or a 0600 credentials file named here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Count = Annotated[int, Field(ge=-1, le=100000)]
Timeout = Annotated[float, Field(gt=0, le=3600)]


class KeepSettings(BaseModel):
    """Default retention for `backup forget` (restic/borg semantics; -1 keeps every period)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    last: Count = 0
    hourly: Count = 24
    daily: Count = 7
    weekly: Count = 4
    monthly: Count = 12
    yearly: Count = 3


class SftpSettings(BaseModel):
    """How to reach an `sftp://user@host:port/path` repository. Keys only: never a password."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    known_hosts: Path | None = None  # the server's host key must be listed here (default ~/.ssh/known_hosts)
    accept_new_host_key: bool = False  # trust on first use: record an unknown key instead of refusing
    identity_file: Path | None = None  # a private key; None: the SSH agent, then ~/.ssh/id_*
    use_agent: bool = True
    connect_timeout: Timeout = 15.0
    io_timeout: Timeout = 120.0  # an operation with no answer for this long counts as a lost connection
    connections: Annotated[int, Field(ge=1, le=16)] = 4  # SFTP channels over one SSH connection


class S3Settings(BaseModel):
    """How to reach an `s3://bucket/prefix` repository on AWS or any S3-compatible server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_url: str | None = None  # e.g. http://127.0.0.1:9000 (MinIO, Garage, R2...); None: AWS
    region: str | None = None  # None: $AWS_REGION / $AWS_DEFAULT_REGION, else us-east-1
    credentials_file: Path | None = None  # 0600 INI file as ~/.aws/credentials; None: $AWS_ACCESS_KEY_ID...
    profile: str = "default"  # the section of credentials_file to use
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    connect_timeout: Timeout = 15.0
    read_timeout: Timeout = 120.0

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_shape(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL such as http://127.0.0.1:9000")
        if value is not None and "@" in value.split("://", 1)[1].split("/", 1)[0]:
            raise ValueError("must not contain credentials; use $AWS_ACCESS_KEY_ID or credentials_file")
        return value


class BackupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # a local folder, sftp://[user@]host[:port]/path or s3://bucket[/prefix] (see docs/backup.md)
    repo: str | None = None
    key_file: Path | None = None  # the 0600 master key file; None: unlock with the passphrase
    exclude: list[str] = Field(default_factory=list)  # extra exclusion patterns (docs/backup.md)
    include_models: bool = True  # False: skip *.gguf, *.safetensors, ... (re-downloadable weights)
    sqlite_quick_check: bool = True  # PRAGMA quick_check on every captured database image
    scratch_dir: Path | None = None  # staging for database images (default: the system temp dir)
    prune_grace_hours: Annotated[float, Field(ge=0, le=24 * 365)] = 1.0
    repack_below: Annotated[float, Field(ge=0, le=1)] = 0.5
    verify_sample_percent: Annotated[float, Field(gt=0, le=100)] = 10.0
    # also store OpenClaw's own verified archive (`openclaw backup create --verify`) in each
    # snapshot of the agent; a failure to make it is then a warning (docs/backup.md)
    openclaw_archive: bool = False
    openclaw_archive_timeout: Timeout = 600.0  # seconds `openclaw backup create` may take
    keep: KeepSettings = Field(default_factory=KeepSettings)
    sftp: SftpSettings = Field(default_factory=SftpSettings)
    s3: S3Settings = Field(default_factory=S3Settings)

    @field_validator("repo", mode="before")
    @classmethod
    def _repo_text(cls, value: object) -> object:
        # a Path (from code, or an older caller) is still a local location
        return str(value) if isinstance(value, Path) else value
