"""Alert identity and group keys match Prometheus and Alertmanager, so ids agree across tools."""

from __future__ import annotations

import pytest

from clawkeeper.monitor.model import labels_of
from clawkeeper.monitor.notify.grouping import group_key, group_labels, labels_fingerprint


@pytest.mark.parametrize(
    ("labels", "expected"),
    [  # the vectors of prometheus/common model/metric_test.go
        ({}, 14695981039346656037),
        (
            {"first_name": "electro", "occupation": "robot", "manufacturer": "westinghouse"},
            5911716720268894962,
        ),
        ({"x": "y"}, 8241431561484471700),
        ({"a": "bb", "b": "c"}, 3016285359649981711),
        ({"a": "b", "bb": "c"}, 7122421792099404749),
    ],
)
def test_fingerprint_is_prometheus_label_set_fingerprint(labels: dict[str, str], expected: int) -> None:
    assert labels_fingerprint(labels_of(labels)) == f"{expected:016x}"


def test_group_labels_keep_only_group_by_labels_present() -> None:
    labels = labels_of(alertname="HostDiskPressure", mountpoint="/", severity="warning")

    assert group_labels(labels, ["alertname", "instance"]) == (("alertname", "HostDiskPressure"),)
    assert group_labels(labels, ["..."]) == labels


def test_group_key_spells_like_alertmanager() -> None:
    labels = labels_of(alertname="HostDiskPressure", mountpoint="/var")

    assert group_key(labels) == '{}:{alertname="HostDiskPressure", mountpoint="/var"}'
    assert group_key(()) == "{}:{}"
