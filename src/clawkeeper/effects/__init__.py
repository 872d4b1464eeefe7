"""The only places where clawkeeper touches the outside world.

`proc` runs subprocesses, `http` makes HTTP requests, `fs` writes user state. Everything else in
clawkeeper calls these, so timeouts, redaction and atomicity are decided once.
"""
