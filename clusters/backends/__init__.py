"""Backends: where a job runs. Each implements `rigorlab.clusters.backends.base.Backend`."""
