"""Agents clawkeeper keeps: the `AgentAdapter` interface and its implementations."""
