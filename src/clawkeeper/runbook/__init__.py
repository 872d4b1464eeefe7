"""The update runbook: release intelligence, policy, and the persisted update state machine."""
