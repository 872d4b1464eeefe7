"""The exporter's HTTP side: routes, /healthz status codes, auth, and the refusals at startup."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from clawkeeper.effects import http
from clawkeeper.errors import ConfigError, ResourceConflict
from clawkeeper.monitor.exporter import Exporter, is_loopback
from clawkeeper.monitor.settings import ExporterSettings

from .fakes import NOW, FakeHealth, FakeReader

SECRET = "exporter-secret-0123456789"


def get(exporter: Exporter, path: str, headers: dict[str, str] | None = None) -> http.HttpResponse:
    answer = http.get(f"http://127.0.0.1:{exporter.port}{path}", timeout=5, headers=headers)
    assert isinstance(answer, http.HttpResponse), answer
    return answer


def secret_file(tmp_path: Path, text: str = SECRET, mode: int = 0o600) -> Path:
    path = tmp_path / "exporter.token"
    path.write_text(text + "\n")
    path.chmod(mode)
    return path


@pytest.fixture
def reader() -> FakeReader:
    store = FakeReader()
    store.add("host_cpu_percent", 12.5)
    return store


@pytest.fixture
def exporter(reader: FakeReader) -> Iterator[Exporter]:
    with Exporter(ExporterSettings(port=0), reader=reader, health=FakeHealth, clock=lambda: NOW) as running:
        yield running


def test_metrics_is_served_on_an_ephemeral_loopback_port(exporter: Exporter) -> None:
    assert exporter.port != 0
    answer = get(exporter, "/metrics")

    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    names = {f.name for f in text_string_to_metric_families(answer.text)}
    assert {"clawkeeper_host_cpu_percent", "process_resident_memory_bytes", "clawkeeper_keeper_up"} <= names


def test_metrics_speaks_openmetrics_when_asked(exporter: Exporter) -> None:
    answer = get(exporter, "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"})

    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.rstrip().endswith("# EOF")


def test_healthz_reports_the_keeper_and_its_collectors(exporter: Exporter) -> None:
    answer = get(exporter, "/healthz")

    assert answer.status == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["keeper_up"] is True
    assert body["last_tick_age_s"] == 4.0
    assert body["collectors"] == {"host": "ok", "gateway": "stale"}


def test_healthz_is_503_when_the_last_tick_is_older_than_three_intervals(reader: FakeReader) -> None:
    def stuck() -> FakeHealth:
        return FakeHealth(last_tick=NOW - 31, interval_s=10)

    with Exporter(ExporterSettings(port=0), reader=reader, health=stuck) as exporter:
        answer = get(exporter, "/healthz")

    assert answer.status == 503
    assert answer.json()["status"] == "unhealthy"


def test_index_links_the_endpoints_and_unknown_paths_are_404(exporter: Exporter) -> None:
    index = get(exporter, "/")
    assert index.status == 200
    assert 'href="/metrics"' in index.text and 'href="/healthz"' in index.text
    assert get(exporter, "/nope").status == 404


def test_a_failing_alert_source_answers_500_and_the_server_keeps_serving(reader: FakeReader) -> None:
    def broken() -> list[object]:
        raise RuntimeError("boom")

    with Exporter(ExporterSettings(port=0), reader=reader, alerts=broken) as exporter:  # type: ignore[arg-type]
        assert get(exporter, "/metrics").status == 500
        assert get(exporter, "/healthz").status == 200


def test_bearer_auth_requires_the_token_on_every_path(tmp_path: Path, reader: FakeReader) -> None:
    settings = ExporterSettings(port=0, auth="bearer", token_file=secret_file(tmp_path))
    with Exporter(settings, reader=reader) as exporter:
        missing = get(exporter, "/metrics")
        wrong = get(exporter, "/healthz", {"Authorization": "Bearer nope"})
        right = get(exporter, "/metrics", {"Authorization": f"Bearer {SECRET}"})

    assert missing.status == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert wrong.status == 401
    assert right.status == 200
    assert "clawkeeper_host_cpu_percent" in right.text
    assert SECRET not in missing.text + wrong.text


def test_basic_auth_checks_user_and_password(tmp_path: Path, reader: FakeReader) -> None:
    settings = ExporterSettings(port=0, auth="basic", token_file=secret_file(tmp_path, "prom:" + SECRET))

    def basic(credentials: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}

    with Exporter(settings, reader=reader) as exporter:
        assert get(exporter, "/metrics", basic("prom:" + SECRET)).status == 200
        assert get(exporter, "/metrics", basic("prom:wrong")).status == 401
        assert get(exporter, "/metrics", {"Authorization": "Basic !!notbase64"}).status == 401
        assert get(exporter, "/metrics", {"Authorization": f"Bearer {SECRET}"}).status == 401


@pytest.mark.parametrize("mode", [0o644, 0o660, 0o604])
def test_a_token_file_others_can_read_refuses_to_start(tmp_path: Path, mode: int) -> None:
    path = secret_file(tmp_path, mode=mode)

    with pytest.raises(ConfigError) as caught:
        Exporter(ExporterSettings(auth="bearer", token_file=path))

    line = caught.value.one_line()
    assert "monitor.exporter.token_file" in line and f"chmod 600 {path}" in line
    assert SECRET not in line


def test_auth_without_a_token_file_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"needs monitor\.exporter\.token_file"):
        Exporter(ExporterSettings(auth="bearer"))


def test_basic_auth_needs_user_and_password_in_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="user:password"):
        Exporter(ExporterSettings(auth="basic", token_file=secret_file(tmp_path, "justatoken")))


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "192.168.1.20", "myhost.example"])  # noqa: S104
def test_a_non_loopback_bind_without_auth_is_refused(bind: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Exporter(ExporterSettings(bind=bind))

    line = caught.value.one_line()
    assert "monitor.exporter.bind" in line and "monitor.exporter.auth" in line


def test_a_non_loopback_bind_with_auth_is_accepted(tmp_path: Path) -> None:
    settings = ExporterSettings(bind="0.0.0.0", auth="bearer", token_file=secret_file(tmp_path))  # noqa: S104
    assert Exporter(settings).auth.scheme == "bearer"  # constructed, not started


@pytest.mark.parametrize(
    ("bind", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),  # noqa: S104
        ("10.0.0.1", False),
        ("example.org", False),
    ],
)
def test_is_loopback(bind: str, loopback: bool) -> None:
    assert is_loopback(bind) is loopback


def test_a_port_in_use_is_a_conflict_naming_the_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        exporter = Exporter(ExporterSettings(port=port))
        with pytest.raises(ResourceConflict, match=f"monitor.exporter.port {port}"):
            exporter.start()


def test_stop_closes_the_port(reader: FakeReader) -> None:
    exporter = Exporter(ExporterSettings(port=0), reader=reader)
    exporter.start()
    port = exporter.port
    exporter.stop()
    exporter.stop()  # idempotent

    answer = http.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    assert isinstance(answer, http.HttpFailure)
    assert not exporter.running
