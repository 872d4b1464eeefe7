"""Alert identity and grouping, spelled the way Alertmanager spells them.

`fingerprint` is Prometheus' label-set fingerprint (FNV-1a 64 over sorted name/value pairs, hex),
so a receiver that also talks to a real Alertmanager sees the same ids. `group_key` follows
Alertmanager's `{route}:{group labels}` form with the root route `{}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from clawkeeper.monitor.model import Alert, Labels

GROUP_BY_ALL = "..."  # Alertmanager's "group by every label": each alert is its own group

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = 0xFFFFFFFFFFFFFFFF
_SEPARATOR = b"\xff"


def _fnv_add(digest: int, data: bytes) -> int:
    for byte in data:
        digest ^= byte
        digest = (digest * _FNV_PRIME) & _MASK
    return digest


def labels_fingerprint(labels: Labels) -> str:
    """Prometheus' `LabelSet.Fingerprint()` as 16 hex digits."""
    digest = _FNV_OFFSET
    for name, value in sorted(labels):
        digest = _fnv_add(digest, name.encode() + _SEPARATOR + value.encode() + _SEPARATOR)
    return f"{digest:016x}"


def fingerprint_of(alert: Alert) -> str:
    """The alert's own fingerprint when the rule engine set one, else the label fingerprint."""
    return alert.fingerprint or labels_fingerprint(alert.labels)


def group_labels(labels: Labels, group_by: Sequence[str]) -> Labels:
    """The alert's values of the `group_by` labels (labels it lacks are left out)."""
    if GROUP_BY_ALL in group_by:
        return tuple(sorted(labels))
    wanted = set(group_by)
    return tuple(sorted((k, v) for k, v in labels if k in wanted))


def group_key(labels: Labels) -> str:
    """`{}:{alertname="GatewayNotReady", severity="critical"}` — the root route, then the labels."""
    inner = ", ".join(f"{name}={json.dumps(value)}" for name, value in sorted(labels))
    return "{}:{" + inner + "}"
