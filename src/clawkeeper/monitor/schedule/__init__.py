"""The keeper's maintenance schedule: cron-style jobs in a time zone, run as subprocesses.

- `cron.py`      cron expressions and time zones (DST handled like Debian cron, via cronsim)
- `jobs.py`      what can be scheduled: the default jobs and their per-config resolution
- `runner.py`    how a job runs: a `clawkeeper ... --json` subprocess or an in-process call
- `locks.py`     one flock'ed lock file per job, so no two runs of a job ever overlap
- `state.py`     per-job state in the monitor's SQLite file (last slot, last run, running since)
- `cleanup.py`   the `cleanup` job's work (ledger pruning, store maintenance)
- `scheduler.py` `Scheduler`: what is due, start in a worker thread, reap, drain on SIGTERM
- `build.py`     `build_scheduler(settings, ...)`: the above, wired from clawkeeper.toml

This package imports nothing eagerly, so `monitor/settings.py` can validate cron expressions
without pulling in the scheduler.
"""
