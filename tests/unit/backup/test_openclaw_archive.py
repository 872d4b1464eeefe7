"""OpenClaw's own archive inside a snapshot, made by a fake `openclaw` replaying the real output of
`openclaw backup create --verify --output DIR --json` (2026.8.2 and 2026.9.6)."""

from __future__ import annotations

import hashlib
import json
import stat
import tarfile
from pathlib import Path

import pytest

from clawkeeper.agent.openclaw.target import OpenClawTarget
from clawkeeper.backup.create import BackupOptions, ExtraFile, create_snapshot
from clawkeeper.backup.openclaw_archive import (
    ARCHIVE_DIR,
    ArchiveReady,
    ArchiveSkipped,
    StoredArchive,
    attach,
    openclaw_archive,
    restore_archive,
)
from clawkeeper.backup.repository import Repository
from clawkeeper.backup.restore import RestoreOptions, restore_snapshot
from clawkeeper.backup.snapshots import iter_tree, load_snapshot
from clawkeeper.backup.sources import OpenClawPaths, openclaw_sources, plain_sources
from clawkeeper.errors import CommandFailed, IntegrityError, NotFound, UsageError
from tests.support.openclaw_fake import VERSIONS, FakeInstall

CREATE = "backup-create"


@pytest.fixture(params=VERSIONS)
def install(request: pytest.FixtureRequest, tmp_path: Path) -> FakeInstall:
    return FakeInstall(tmp_path / "fake", request.param).build()


def live(install: FakeInstall) -> OpenClawTarget:
    """The fake as a live install (CLI in our own namespaces)."""
    return install.target(http_base=None, isolation="none")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def create_calls(install: FakeInstall) -> list[list[str]]:
    return [c["args"] for c in install.calls() if c["args"][:2] == ["backup", "create"]]


def test_the_verified_archive_is_stored_in_the_snapshot_and_restores_byte_for_byte(
    install: FakeInstall, repo: Repository, agent_state: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    sources = openclaw_sources(OpenClawPaths(state_dir=agent_state))
    with openclaw_archive(
        live(install), required=True, openclaw_version=install.version, scratch_dir=scratch
    ) as outcome:
        assert isinstance(outcome, ArchiveReady)
        # it holds credentials: private while it exists
        assert stat.S_IMODE(outcome.file.stat().st_mode) == 0o600
        assert stat.S_IMODE(outcome.file.parent.stat().st_mode) == 0o700
        original = outcome.file.read_bytes()
        sources, options = attach(outcome, sources, BackupOptions(meta={"openclaw_version": install.version}))
        result = create_snapshot(repo, sources, options)
    assert list(scratch.iterdir()) == []  # the staging folder is gone

    [args] = create_calls(install)
    assert args[:5] == ["backup", "create", "--verify", "--output", args[4]] and args[5:] == ["--json"]
    assert Path(args[4]).parent == scratch

    snapshot = load_snapshot(repo, result.snapshot.id)
    record = snapshot.meta["openclaw_archive"]
    assert record["name"].endswith("-openclaw-backup.tar.gz")
    assert record["path"] == f"{ARCHIVE_DIR}/{record['name']}"
    assert record["size"] == len(original)
    assert record["sha256"] == hashlib.sha256(original).hexdigest()
    assert record["openclaw_version"] == install.version
    assert record["created_at"]
    assert snapshot.meta["attachments"] == [ARCHIVE_DIR]
    stored = {e.path: e for e in iter_tree(repo, snapshot)}
    assert stored[record["path"]].mode == 0o600
    assert any(p.endswith("state/openclaw.sqlite") for p in stored)  # the agent itself is there too

    restored = restore_archive(repo, snapshot.id, tmp_path / "out")
    assert restored.file == tmp_path / "out" / record["name"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [record["name"]]
    assert restored.file.read_bytes() == original
    assert stat.S_IMODE(restored.file.stat().st_mode) == 0o600
    with tarfile.open(restored.file) as tar:
        assert any(name.endswith("/manifest.json") for name in tar.getnames())


def test_a_failing_openclaw_is_a_warning_and_the_snapshot_still_succeeds(
    install: FakeInstall, repo: Repository, agent_state: Path, tmp_path: Path
) -> None:
    install.set_phase("refused")  # the real answer to an output folder inside the state dir
    error = "Backup output must not be written inside a source path: /home/claw/.openclaw/x is inside"
    sources = openclaw_sources(OpenClawPaths(state_dir=agent_state))
    with openclaw_archive(live(install), required=False, scratch_dir=tmp_path) as outcome:
        assert isinstance(outcome, ArchiveSkipped)
        sources, options = attach(outcome, sources, BackupOptions())
        result = create_snapshot(repo, sources, options)
    # OpenClaw's reason from its JSON failure envelope, not its advice on stderr
    assert outcome.reason.startswith("`openclaw backup create` exited 1: " + error)
    assert "openclaw doctor" not in outcome.reason
    snapshot = load_snapshot(repo, result.snapshot.id)
    assert not result.incomplete
    assert "openclaw_archive" not in snapshot.meta and "attachments" not in snapshot.meta
    assert any(
        w.startswith("OpenClaw's own archive was not stored") and error in w for w in snapshot.warnings
    )
    assert not any(p.startswith(ARCHIVE_DIR) for p in (e.path for e in iter_tree(repo, snapshot)))
    with pytest.raises(NotFound, match="holds no OpenClaw archive"):
        restore_archive(repo, snapshot.id, tmp_path / "out")


def test_asked_for_explicitly_a_failure_stops_before_any_snapshot_with_openclaws_error(
    install: FakeInstall, tmp_path: Path
) -> None:
    # no JSON envelope this time: the `Reason:` line of stderr is the message
    stderr = "[openclaw] Could not start the CLI.\n[openclaw] Reason: No local OpenClaw state was found.\n"
    install.set_phase(
        "up",
        **{CREATE: {"stdout": "", "stderr": stderr + "[openclaw] Try: openclaw doctor\n", "returncode": 1}},
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with (
        pytest.raises(CommandFailed) as caught,
        openclaw_archive(live(install), required=True, scratch_dir=scratch),
    ):
        pytest.fail("no archive, yet the body ran")
    message = caught.value.one_line()
    assert "\n" not in message
    assert "no snapshot was taken" in message and "No local OpenClaw state was found." in message
    assert "openclaw doctor" not in message
    assert list(scratch.iterdir()) == []


def test_a_missing_openclaw_is_a_warning(tmp_path: Path) -> None:
    target = OpenClawTarget(label="live", binary=tmp_path / "no-such-openclaw")
    with openclaw_archive(target, required=False, scratch_dir=tmp_path) as outcome:
        assert isinstance(outcome, ArchiveSkipped)
    assert "program not found" in outcome.reason


@pytest.mark.parametrize(
    ("stdout", "reason"),
    [
        ('{"archivePath": "/etc/hostname", "verified": true}', "not into"),
        ('{"archivePath": "<output>/other.tar.gz", "verified": true}', "does not exist"),
    ],
)
def test_an_archive_anywhere_but_where_we_asked_is_refused(
    install: FakeInstall, tmp_path: Path, stdout: str, reason: str
) -> None:
    install.set_phase("up", **{CREATE: {"stdout": stdout, "returncode": 0}})
    with openclaw_archive(live(install), required=False, scratch_dir=tmp_path) as outcome:
        assert isinstance(outcome, ArchiveSkipped)
    assert reason in outcome.reason
    assert Path("/etc/hostname").exists()  # never touched, let alone deleted


def test_an_archive_openclaw_did_not_verify_is_not_stored(install: FakeInstall, tmp_path: Path) -> None:
    doc = install.recorded(CREATE, "up")
    doc["verified"] = False
    install.set_phase("up", **{CREATE: {"stdout": json.dumps(doc), "returncode": 0}})
    with openclaw_archive(live(install), required=False, scratch_dir=tmp_path) as outcome:
        assert isinstance(outcome, ArchiveSkipped)
    assert "not report the archive as verified" in outcome.reason


def test_without_json_output_the_one_archive_in_the_staging_folder_is_taken(
    install: FakeInstall, tmp_path: Path
) -> None:
    text = "Backup archive: somewhere\nCreated somewhere\nArchive verification: passed\n"
    install.set_phase("up", **{CREATE: {"stdout": text, "returncode": 0}})
    with openclaw_archive(live(install), required=True, scratch_dir=tmp_path) as outcome:
        assert isinstance(outcome, ArchiveReady)
        assert outcome.info.sha256 == sha256(outcome.file)
        assert outcome.info.created_at is None


def test_a_cli_in_other_namespaces_gets_a_staging_folder_beside_the_state_dir(
    install: FakeInstall, tmp_path: Path
) -> None:
    """A lab instance has a private /tmp: a staging folder in ours would be invisible to it."""
    state_dir = install.home / ".openclaw"
    target = OpenClawTarget(
        label="lab:test",
        binary=install.binary,
        env=live(install).env,
        exec_prefix=("env",),  # stands in for nsenter: runs the CLI, elsewhere in real life
        state_dir=state_dir,
    )
    with openclaw_archive(target, required=True) as outcome:
        assert isinstance(outcome, ArchiveReady)
        assert outcome.file.parent.parent == install.home
    [args] = create_calls(install)
    assert Path(args[4]).parent == install.home and not Path(args[4]).exists()


def test_the_archive_is_stored_without_compression(repo: Repository, tmp_path: Path) -> None:
    """gzip data does not shrink again; trying costs time. Compressible text shows the flag works."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "a").write_text("x")
    blob = tmp_path / "text.bin"
    blob.write_bytes(b"the same line again\n" * 40_000)  # 800 KB that zstd shrinks 100-fold
    sources = plain_sources([data_dir])
    raw = create_snapshot(
        repo, sources, BackupOptions(extra_files=(ExtraFile(blob, ".x/raw", compress=False),))
    )
    assert raw.snapshot.stats["added_stored_bytes"] > blob.stat().st_size
    blob.write_bytes(b"another line, again\n" * 40_000)
    packed = create_snapshot(repo, sources, BackupOptions(extra_files=(ExtraFile(blob, ".x/zstd"),)))
    assert packed.snapshot.stats["added_stored_bytes"] < blob.stat().st_size // 20


def test_an_extra_file_may_not_collide_with_a_source_root(repo: Repository, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    top = str(tmp_path).lstrip("/").split("/")[0]
    for path, message in (
        (f"{top}/archive", "reserved"),
        ("../escape", "not a usable"),
        ("flat", "not a usable"),
    ):
        with pytest.raises(UsageError, match=message):
            create_snapshot(
                repo, plain_sources([tmp_path]), BackupOptions(extra_files=(ExtraFile(tmp_path / "f", path),))
            )


def test_an_in_place_restore_leaves_the_archive_out(
    repo: Repository, agent_state: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"\x1f\x8b not really")
    sources = openclaw_sources(OpenClawPaths(state_dir=agent_state))
    snap = create_snapshot(
        repo,
        sources,
        BackupOptions(extra_files=(ExtraFile(archive, f"{ARCHIVE_DIR}/a.tar.gz", compress=False),)),
    ).snapshot
    (agent_state / ".env").write_text("CHANGED=1\n")
    report = restore_snapshot(repo, snap.id, RestoreOptions(in_place=True, safety_sources=sources))
    assert (agent_state / ".env").read_text() == "OPENAI_API_KEY=sk-test\n"
    assert not Path("/", ARCHIVE_DIR).exists()
    assert report.files == snap.stats["files"] - 1  # everything but the archive


def test_a_restored_archive_that_differs_from_the_record_is_refused(
    repo: Repository, agent_state: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(b"\x1f\x8b archive bytes")
    info = StoredArchive(name="a.tar.gz", size=archive.stat().st_size, sha256="0" * 64)
    options = BackupOptions(
        meta={"openclaw_archive": info.to_json()},
        extra_files=(ExtraFile(archive, info.path, compress=False),),
    )
    snap = create_snapshot(repo, plain_sources([agent_state]), options).snapshot
    with pytest.raises(IntegrityError, match="differs from the one OpenClaw verified"):
        restore_archive(repo, snap.id, tmp_path / "out")
