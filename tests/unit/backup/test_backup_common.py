"""What the backup commands read of `[backup]` without building its pydantic model."""

from __future__ import annotations

from pathlib import Path

from clawkeeper.backup.settings import BackupSettings
from clawkeeper.cli.backup_common import BackupBasics


def test_backup_basics_read_the_validated_values_of_backup_settings() -> None:
    settings = BackupSettings(
        repo="sftp://me@nas:22/srv/b",
        key_file=Path("/keys/backup.key"),
        exclude=["*.tmp", "workspace/scratch/"],
        include_models=False,
        sqlite_quick_check=False,
        scratch_dir=Path("/var/tmp/ck"),
        openclaw_archive=True,
        openclaw_archive_timeout=42.5,
    )
    basics = BackupBasics.of(settings.model_dump(mode="json"))
    for name in BackupBasics.__dataclass_fields__:
        assert name in BackupSettings.model_fields
        expected = getattr(settings, name)
        assert getattr(basics, name) == (tuple(expected) if isinstance(expected, list) else expected), name
    defaults = BackupBasics.of(BackupSettings().model_dump(mode="json"))
    assert (defaults.repo, defaults.key_file, defaults.scratch_dir, defaults.exclude) == (
        None,
        None,
        None,
        (),
    )
