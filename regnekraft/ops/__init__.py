"""Running Regnekraft as a service: the worker, its schedule, the record of every run, and the
health checks (docs/operations.md)."""
