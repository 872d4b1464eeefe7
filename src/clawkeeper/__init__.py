"""clawkeeper: keeps a self-hosted AI agent (OpenClaw) healthy over its whole life."""

__version__ = "0.1.0"
