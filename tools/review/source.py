"""One workspace's ledger as the review pages read it: a read-only connection per thread, the
job system's log reader, and the rule checks, kept for a short while (they read the whole
ledger and the git history, so a page shows the last result and a fresh one is made in the
background once it is older than CHECK_MAX_AGE_S)."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from rigorlab.core import state
from rigorlab.core.paths import state_dir_for
from rigorlab.core.perthread import PerThread
from rigorlab.tools.review.db import open_readonly

CHECK_MAX_AGE_S = 30.0


class Source:
    def __init__(self, workspace: str | Path, state_dir: Path | None = None) -> None:
        self.workspace = Path(workspace).resolve()
        self.state_dir = Path(state_dir) if state_dir else state_dir_for(self.workspace)
        self.db_path = self.state_dir / state.DB_NAME
        self._conns = PerThread(lambda: open_readonly(self.db_path))
        self._logs = None
        self._lock = threading.Lock()
        self._checked: dict | None = None
        self._checking: threading.Thread | None = None

    def conn(self) -> sqlite3.Connection:
        """The calling thread's read-only connection (UserError while there is no ledger)."""
        return self._conns.get()

    def logs(self, job_id: str, stream: str, offset: int, max_bytes: int):
        if self._logs is None:
            from rigorlab.tools.review.jobs import log_reader
            self._logs = log_reader(self.workspace, self.state_dir, self.conn)
        return self._logs(job_id, stream, offset, max_bytes)

    def rules_check(self, max_age_s: float = CHECK_MAX_AGE_S, wait: bool = True) -> dict | None:
        """The latest rule check, refreshed in the background once older than `max_age_s`.
        Before the first one is done: wait for it, or with `wait` False answer None."""
        with self._lock:
            found, running = self._checked, self._checking
            stale = found is None or time.time() - found["checked_at"] > max_age_s
            if stale and running is None:
                running = self._checking = threading.Thread(target=self._refresh, daemon=True,
                                                            name="rigorlab-ui-check")
                running.start()
        if found is None and wait:
            running.join()
            return self._checked
        return found

    def warm(self) -> None:
        """Start the first rule check and load the statistics code before anyone asks."""
        self.rules_check(wait=False)
        try:
            import scipy.stats  # noqa: F401 - compare_to_baseline's test, first use is slow
        except ImportError:
            pass

    def _refresh(self) -> None:
        from rigorlab.tools.review.rules import check
        try:
            result = check(self.workspace, self.conn())
        except Exception as exc:  # noqa: BLE001 - no ledger yet, or a broken check: say so
            result = {"count": 0, "groups": [], "by_rule": {}, "titles": {}, "seconds": 0.0,
                      "checked_at": time.time(), "notes": [f"rule checks failed: {exc}"]}
        with self._lock:
            self._checking = None
            self._checked = result
