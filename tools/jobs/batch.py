"""Seeds as one dispatch, and one bounded wait over several jobs.

A study reports every seed (rule II): `seed_requests` turns one request into one per seed of
one experiment, each with RIGORLAB_SEED set, and refuses a seed that already ran (a live or
completed job, or a run recorded by hand) so each seed lands in the ledger once; a seed whose
jobs all failed may run again (rule V: fix the crash, rerun). `wait_for` waits for a list
of jobs, or every job of an experiment, at most a bounded time, reporting progress as they end.
"""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from rigorlab.clusters.dispatcher import Dispatcher
from rigorlab.clusters.request import JobRequest
from rigorlab.clusters.model import Job, JobState
from rigorlab.core.errors import UserError
from rigorlab.tools.jobs.contract import MAX_SEEDS, MAX_WAITED
from rigorlab.tools.results.ingest import SEED_VAR, seed_of

PROGRESS_EVERY_S = 5.0


def experiment_jobs(conn: sqlite3.Connection, experiment_id: str) -> list[Job]:
    """Every job of one experiment, oldest first."""
    from rigorlab.clusters import ledger
    return list(reversed(ledger.recent(conn, 100_000, experiment_id=experiment_id)))


def seed_requests(dispatcher: Dispatcher, req: JobRequest, seeds: list[int]) -> list[JobRequest]:
    """One request per seed of `req.experiment_id` (RIGORLAB_SEED set), after checking them
    all (`tools.jobs.api.dispatch_seeds` submits them)."""
    if not req.experiment_id:
        raise UserError("seeds need an experiment_id: each seed becomes one run of that "
                        "experiment (start_experiment first)")
    if not seeds or len(seeds) > MAX_SEEDS:
        raise UserError(f"give 1 to {MAX_SEEDS} seeds (got {len(seeds)})")
    if len(set(seeds)) != len(seeds):
        raise UserError(f"seeds {seeds} repeat a seed: each seed runs once")
    if any(s < 0 for s in seeds):
        raise UserError("seeds are integers from 0")
    if SEED_VAR in req.env:
        raise UserError(f"env sets {SEED_VAR}, which seeds sets per job: drop it from env")
    _refuse_seeds_that_ran(dispatcher.conn(), req.experiment_id, seeds)
    return [JobRequest.of(**{**req.model_dump(), "env": {**req.env, SEED_VAR: str(s)}})
            for s in seeds]


def _refuse_seeds_that_ran(conn: sqlite3.Connection, experiment_id: str, seeds: list[int]) -> None:
    from rigorlab.tools.results.schema import ensure
    taken: dict[int, str] = {}
    for job in experiment_jobs(conn, experiment_id):
        seed = seed_of(job)
        if seed in seeds and job.state not in _RERUNNABLE:
            taken.setdefault(seed, f"job {job.id} ({job.state.value})")
    ensure(conn)
    for row in conn.execute("SELECT id, seed FROM results_runs WHERE experiment_id=? AND "
                            "source='manual' AND seed IS NOT NULL", (experiment_id,)):
        if row["seed"] in seeds:
            taken.setdefault(row["seed"], f"run {row['id']} recorded by hand")
    if taken:
        listed = ", ".join(f"seed {s}: {why}" for s, why in sorted(taken.items()))
        raise UserError(f"{experiment_id} already has these seeds ({listed}): each seed runs once "
                        "and every seed is reported (rule II). Dispatch the other seeds, or start "
                        "a new experiment for a changed setup")


# A seed whose job ended like this produced no result: it may run again once the cause is fixed.
_RERUNNABLE = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.TIMEOUT,
                         JobState.OUT_OF_MEMORY, JobState.NODE_FAIL, JobState.PREEMPTED,
                         JobState.LOST})


def jobs_to_wait(conn: sqlite3.Connection, job_ids: list[str], experiment_id: str | None) -> list[str]:
    """The ids a wait covers: the given jobs, plus every job of the experiment."""
    from rigorlab.clusters import ledger
    ids = list(dict.fromkeys(job_ids))
    for i in ids:
        ledger.get(conn, i)  # NotFound names the id
    if experiment_id:
        from rigorlab.tools.results.experiments import get
        get(conn, experiment_id)
        found = [j.id for j in experiment_jobs(conn, experiment_id)]
        if not found:
            raise UserError(f"{experiment_id} has no jobs yet: dispatch_job with experiment_id")
        ids += [i for i in found if i not in ids]
    if not ids:
        raise UserError("name what to wait for: job_ids, or experiment_id for all its jobs")
    if len(ids) > MAX_WAITED:
        raise UserError(f"{len(ids)} jobs: wait for at most {MAX_WAITED} at a time")
    return ids


def wait_for(dispatcher: Dispatcher, job_ids: list[str], timeout_s: float,
             progress: Callable[[float, float | None, str | None], None] | None = None) -> list[Job]:
    """Wait until every job has ended or `timeout_s` passed; returns them in that order.
    Progress (jobs ended of all, the latest to end) is sent whenever one ends, and at least
    every few seconds so that a client keeps the call open."""
    deadline = time.monotonic() + max(0.0, timeout_s)
    sent_at, sent_done = 0.0, -1
    while True:
        jobs = [dispatcher.get(i) for i in job_ids]
        live = [j for j in jobs if not j.terminal]
        now = time.monotonic()
        if not live or now >= deadline:
            return jobs
        done = len(jobs) - len(live)
        if progress and (done != sent_done or now - sent_at >= PROGRESS_EVERY_S):
            ended = [j for j in jobs if j.terminal]
            latest = f"; {ended[-1].id} {ended[-1].state.value}" if ended else ""
            progress(done, len(jobs), f"{done} of {len(jobs)} jobs ended{latest}")
            sent_at, sent_done = now, done
        # one poll interval at a time: whichever job ends first is seen within it
        dispatcher.wait(live[0].id, min(deadline - now, dispatcher.timing.poll_s))
