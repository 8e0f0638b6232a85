"""What a person reviews in the morning, assembled from the ledgers: the night's overview,
experiments, jobs, rule checks and the report. Read-only: every query runs on a connection
that SQLite itself refuses to write through."""
