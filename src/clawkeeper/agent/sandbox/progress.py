"""How long sandbox operations report what they are doing, and record what they change.

The sandbox never prints. It calls a `Progress` observer with phase events (the CLI draws them
with rich, tests collect them in a list) and wraps every state-changing action in a
`StepRecorder` (the CLI passes the ledger's `step`, so intent is written before the action and the
outcome after).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ProgressEvent:
    """One report from a long operation.

    `state` is "start" when a phase begins, "tick" while it runs (with the time spent so far),
    "done" when it finished and "info" for a one-off remark.
    """

    phase: str  # resolve | node | install | instance | isolate | onboard | start | ready | stop | clean
    message: str
    state: str = "info"
    elapsed_s: float | None = None


Progress = Callable[[ProgressEvent], None]


def no_progress(_event: ProgressEvent) -> None:
    """The default observer: nobody is watching."""


class StepRecorder(Protocol):
    """Record one state-changing step; the yielded dict becomes the step's recorded detail."""

    def __call__(
        self, name: str, intent: Mapping[str, Any] | None = None
    ) -> contextlib.AbstractContextManager[dict[str, Any]]: ...


@contextlib.contextmanager
def unrecorded(name: str, intent: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The default recorder for library callers without a ledger."""
    del name, intent
    yield {}
