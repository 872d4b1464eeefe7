"""The `[backup]` section of clawkeeper.toml (wired into `config.Settings` as `backup`).

    [backup]
    repo = "~/backups/openclaw"          # or CLAWKEEPER_BACKUP__REPO
    key_file = "~/.config/clawkeeper/backup.key"   # optional; otherwise a passphrase
    exclude = ["workspace/scratch/"]
    include_models = true

    [backup.keep]                         # what `backup forget` keeps when given no --keep-* flag
    daily = 7
    weekly = 4
    monthly = 12

The passphrase itself is never a setting: it comes from `$CLAWKEEPER_BACKUP_PASSPHRASE` or a
prompt, so it never sits in a config file next to the repository path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

PASSPHRASE_ENV = "CLAWKEEPER_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret

Count = Annotated[int, Field(ge=-1, le=100000)]


class KeepSettings(BaseModel):
    """Default retention for `backup forget` (restic/borg semantics; -1 keeps every period)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    last: Count = 0
    hourly: Count = 24
    daily: Count = 7
    weekly: Count = 4
    monthly: Count = 12
    yearly: Count = 3


class BackupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repo: Path | None = None  # a local folder for now; sftp:// and s3:// targets come later
    key_file: Path | None = None  # the 0600 master key file; None: unlock with the passphrase
    exclude: list[str] = Field(default_factory=list)  # extra exclusion patterns (docs/backup.md)
    include_models: bool = True  # False: skip *.gguf, *.safetensors, ... (re-downloadable weights)
    sqlite_quick_check: bool = True  # PRAGMA quick_check on every captured database image
    scratch_dir: Path | None = None  # staging for database images (default: the system temp dir)
    prune_grace_hours: Annotated[float, Field(ge=0, le=24 * 365)] = 1.0
    repack_below: Annotated[float, Field(ge=0, le=1)] = 0.5
    verify_sample_percent: Annotated[float, Field(gt=0, le=100)] = 10.0
    keep: KeepSettings = Field(default_factory=KeepSettings)
