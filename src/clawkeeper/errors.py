"""Typed errors with stable exit codes.

Every error a user can cause or meet carries an exit code from `ExitCode` and a one-line `hint`
saying how to fix it. The CLI's single top-level handler turns them into one line on stderr and
that exit code; nothing below `cli/` prints or exits. The table in docs/exit-codes.md is generated
from `ExitCode` and pinned by tests/unit/test_errors.py: codes never change meaning once released.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes. Values are a public contract: add new ones, never renumber."""

    OK = 0
    FAILED = 1  # the operation ran and its verdict is negative (a check failed)
    USAGE = 2  # bad command line (unknown option, contradictory flags)
    CONFIG = 3  # clawkeeper's own config file or env override is invalid
    AGENT_NOT_FOUND = 4  # no agent installation could be discovered
    AGENT_UNAVAILABLE = 5  # the agent is installed but its gateway is down or not ready
    AGENT_PROTOCOL = 6  # the agent answered in a shape clawkeeper does not understand
    ENVIRONMENT = 7  # a prerequisite is missing or too old (Node, namespaces, a binary)
    CONFLICT = 8  # a resource is taken (port in use, another run holds a lock)
    TIMEOUT = 9  # a command or wait exceeded its time limit
    COMMAND_FAILED = 10  # an external command exited with an unexpected status
    LEDGER = 11  # clawkeeper's ledger database cannot be opened or migrated
    SANDBOX = 12  # the lab/sandbox could not be brought up, down or inspected
    INTEGRITY = 13  # stored data failed verification (corruption, tampering)
    CREDENTIALS = 14  # a key or passphrase is wrong or missing
    NOT_FOUND = 15  # a named object (run, snapshot, lab instance) does not exist
    INCONCLUSIVE = 20  # a check could not decide; a human must look
    INTERNAL = 70  # a bug in clawkeeper (EX_SOFTWARE); report it
    INTERRUPTED = 130  # stopped by SIGINT/SIGTERM; state was left consistent


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "the operation ran and its verdict is negative (for example a check failed)",
    ExitCode.USAGE: "bad command line: unknown option, missing argument, contradictory flags",
    ExitCode.CONFIG: "clawkeeper's config file or a CLAWKEEPER_* override is invalid",
    ExitCode.AGENT_NOT_FOUND: "no agent installation was found where clawkeeper looked",
    ExitCode.AGENT_UNAVAILABLE: "the agent is installed but its gateway is down or not ready",
    ExitCode.AGENT_PROTOCOL: "the agent answered in a shape clawkeeper does not understand",
    ExitCode.ENVIRONMENT: "a prerequisite is missing or too old (Node, namespaces, a binary)",
    ExitCode.CONFLICT: "a resource is already taken (port in use, a lock held by another run)",
    ExitCode.TIMEOUT: "a command or a wait exceeded its time limit",
    ExitCode.COMMAND_FAILED: "an external command exited with an unexpected status",
    ExitCode.LEDGER: "the ledger database cannot be opened or migrated",
    ExitCode.SANDBOX: "the lab/sandbox could not be brought up, down or inspected",
    ExitCode.INTEGRITY: "stored data failed verification",
    ExitCode.CREDENTIALS: "a key or passphrase is wrong or missing",
    ExitCode.NOT_FOUND: "a named object (run, snapshot, lab instance) does not exist",
    ExitCode.INCONCLUSIVE: "a check could not decide; a human must look",
    ExitCode.INTERNAL: "a bug in clawkeeper; please report it with the ledger run id",
    ExitCode.INTERRUPTED: "interrupted by a signal; state was left consistent",
}


class ClawkeeperError(Exception):
    """Base of every error clawkeeper raises on purpose.

    `message` says what went wrong, `hint` how to fix it; both are single lines without secrets.
    """

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = self.message.strip().replace("\n", " ")
        if self.hint:
            return f"{text} — {self.hint.strip()}"
        return text


class UsageError(ClawkeeperError):
    exit_code = ExitCode.USAGE


class ConfigError(ClawkeeperError):
    exit_code = ExitCode.CONFIG


class AgentNotFound(ClawkeeperError):
    exit_code = ExitCode.AGENT_NOT_FOUND


class AgentUnavailable(ClawkeeperError):
    exit_code = ExitCode.AGENT_UNAVAILABLE


class AgentProtocolError(ClawkeeperError):
    exit_code = ExitCode.AGENT_PROTOCOL


class EnvironmentProblem(ClawkeeperError):
    exit_code = ExitCode.ENVIRONMENT


class ResourceConflict(ClawkeeperError):
    exit_code = ExitCode.CONFLICT


class OperationTimeout(ClawkeeperError):
    exit_code = ExitCode.TIMEOUT


class CommandFailed(ClawkeeperError):
    exit_code = ExitCode.COMMAND_FAILED


class LedgerError(ClawkeeperError):
    exit_code = ExitCode.LEDGER


class SandboxError(ClawkeeperError):
    exit_code = ExitCode.SANDBOX


class IntegrityError(ClawkeeperError):
    exit_code = ExitCode.INTEGRITY


class CredentialsError(ClawkeeperError):
    exit_code = ExitCode.CREDENTIALS


class NotFound(ClawkeeperError):
    exit_code = ExitCode.NOT_FOUND


class VerificationFailed(ClawkeeperError):
    exit_code = ExitCode.FAILED


class Inconclusive(ClawkeeperError):
    exit_code = ExitCode.INCONCLUSIVE


class Interrupted(ClawkeeperError):
    exit_code = ExitCode.INTERRUPTED
