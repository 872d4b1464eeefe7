"""Monitoring: collectors, the embedded time-series store, alert rules, notifications, the
Prometheus exporter, the maintenance scheduler and the keeper daemon that runs them all.

`model.py` holds the small vocabulary every part shares (samples, label matchers, the reader and
writer protocols of the store, the collector interface); each part lives in its own module or
sub-package and depends only on that vocabulary, so each can be tested with fakes.
"""
