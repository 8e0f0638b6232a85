"""Backends: where a job runs. Each implements `clusters.backends.base.Backend`."""
