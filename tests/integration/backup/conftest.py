"""Real servers on loopback for the remote backup targets: OpenSSH's sshd and moto's S3 server.

Each starts once per test session as a child process on 127.0.0.1 and a free port, and is
stopped at the end. A missing binary fails the tests with the command that installs it: remote
repositories are a feature users rely on, so their tests never skip.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from clawkeeper.backup import keys
from clawkeeper.backup.settings import BackupSettings, S3Settings, SftpSettings

START_TIMEOUT_S = 20.0
S3_SETUP_CALLS = 3  # create_user, create_access_key, put_user_policy run before auth is enforced


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt at N=2^15 costs ~0.1 s per open; the CLI tests open repositories many times."""
    monkeypatch.setattr(keys, "DEFAULT_SCRYPT", {"n": 2**10, "r": 8, "p": 1})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], banner: bytes | None = None) -> bool:
    """True once 127.0.0.1:port accepts (and sends `banner`); False if the process died first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as conn:
                if banner is None or conn.recv(64).startswith(banner):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# OpenSSH ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SshServer:
    port: int
    user: str
    identity: Path  # a private key the server accepts
    known_hosts: Path  # lists the server's real host key
    workdir: Path
    proc: subprocess.Popen[bytes]

    def url(self, path: Path) -> str:
        return f"sftp://{self.user}@127.0.0.1:{self.port}{path}"

    def settings(self, **sftp: object) -> BackupSettings:
        options: dict[str, object] = {
            "known_hosts": self.known_hosts,
            "identity_file": self.identity,
            "use_agent": False,
        }
        options.update(sftp)
        return BackupSettings(sftp=SftpSettings.model_validate(options))


def _tool(name: str, package: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if found is None:
        pytest.fail(f"{name} is not installed: run `apt-get install {package}` (./dev/test does it)")
    return found


def keygen(path: Path) -> str:
    """A new ed25519 key pair at `path`; returns the public key line."""
    ssh_keygen = _tool("ssh-keygen", "openssh-client")
    subprocess.run([ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    sshd = _tool("sshd", "openssh-server")
    base = tmp_path_factory.mktemp("sshd")
    host_pub = keygen(base / "host_ed25519")
    client_pub = keygen(base / "client_ed25519")
    (base / "authorized_keys").write_text(client_pub + "\n")
    if os.geteuid() == 0:
        # sshd started as root insists on its privilege separation folder (systemd makes it)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = base / "sshd.log"
    for _attempt in range(3):
        port = free_port()
        config = base / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"Port {port}",
                    f"HostKey {base / 'host_ed25519'}",
                    f"PidFile {base / 'sshd.pid'}",
                    f"AuthorizedKeysFile {base / 'authorized_keys'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "Subsystem sftp internal-sftp",
                    "MaxSessions 32",
                    "LogLevel ERROR",
                ]
            )
            + "\n"
        )
        with log.open("ab") as err:
            proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=err, stderr=err)
        if wait_for_port(port, proc, banner=b"SSH-2.0-"):
            break
        stop(proc)
    else:
        pytest.fail(f"sshd did not start on 127.0.0.1: {log.read_text()[-2000:]}")
    known_hosts = base / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    work = base / "work"
    work.mkdir()
    try:
        yield SshServer(port, getpass.getuser(), base / "client_ed25519", known_hosts, work, proc)
    finally:
        stop(proc)


# S3 (moto) -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class S3Server:
    endpoint: str
    key_id: str
    secret: str

    def settings(self, **s3: object) -> BackupSettings:
        options: dict[str, object] = {"endpoint_url": self.endpoint, "region": "us-east-1"}
        options.update(s3)
        return BackupSettings(s3=S3Settings.model_validate(options))

    def client(self, key_id: str | None = None, secret: str | None = None) -> object:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key_id or self.key_id,
            aws_secret_access_key=secret or self.secret,
        )

    def new_bucket(self) -> str:
        name = f"ck-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server as its own process, with IAM authentication enforced: wrong keys fail."""
    try:
        import boto3
        import moto.server  # noqa: F401 - only checks that moto[server] is installed
    except ImportError:
        pytest.fail(
            "moto[server] and boto3 are needed: `.venv/bin/pip install -e '.[dev]'` (./dev/test does it)"
        )
    base = tmp_path_factory.mktemp("moto")
    log = base / "moto.log"
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(S3_SETUP_CALLS))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    for _attempt in range(3):
        port = free_port()
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=out,
                env=env,
            )
        if wait_for_port(port, proc):
            break
        stop(proc)
    else:
        pytest.fail(f"moto's S3 server did not start on 127.0.0.1: {log.read_text()[-2000:]}")
    endpoint = f"http://127.0.0.1:{port}"
    try:
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",  # accepted only for the first setup calls
        )
        iam.create_user(UserName="clawkeeper")
        key = iam.create_access_key(UserName="clawkeeper")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="clawkeeper", PolicyName="backups", PolicyDocument=json.dumps(policy))
        yield S3Server(endpoint, key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        stop(proc)
