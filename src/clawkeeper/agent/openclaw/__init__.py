"""OpenClaw, the first-class agent: discovery, health, busy state and read-only gates."""
