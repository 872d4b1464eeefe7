"""The command line: parse, call the core, render (rich or --json), map errors to exit codes."""
