"""Capability probes: prove the agent works, not only that it started.

A *suite* (TOML) lists probes; each probe has a *kind* (HTTP, command, gateway RPC, an OpenClaw
gate, or an agent capability such as a tool call or a memory round-trip) and Argo-Rollouts-style
analysis settings (count, interval, conditions, limits). Agent capabilities are exercised through
the *probe model*: a scripted OpenAI-compatible server on 127.0.0.1 that clawkeeper starts and
registers as a custom provider for a dedicated probe agent, so a turn runs with no API key and
every request the agent sent is on record.

This package's `__init__` stays import-free: `python -m clawkeeper.probes.model_server` runs inside
the lab's namespaces and should start in milliseconds.
"""
