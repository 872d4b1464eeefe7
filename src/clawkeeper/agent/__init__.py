"""Agents clawkeeper keeps: the `AgentAdapter` interface and its implementations."""

# How every `--target` option and the error for an unknown target name the choices (here, in a
# module that imports nothing, so light commands such as `backup create` can say it too)
TARGET_HELP = "auto (live install, else a running lab), live, lab, or lab:<instance>"
