"""The monitor thread: ticks the dispatcher in the background while jobs are live."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("rigorlab.clusters")


class Monitor:
    """Calls `tick(force)` every `interval_s` (sooner when `wake` is set) while `live()` says
    jobs are live; the thread ends when none are (`start` starts it again), so an idle
    server holds no polling thread. Its first tick is forced: the reconciliation after a
    restart."""

    def __init__(self, tick: Callable[[bool], int], live: Callable[[], bool],
                 interval_s: Callable[[], float], wake: threading.Event) -> None:
        self._tick, self._live, self._interval = tick, live, interval_s
        self.wake = wake
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="rigorlab-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread:
            self._thread.join(timeout=10)
        self._thread = None

    def _loop(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self._tick(first)
                first = False
            except Exception:  # the monitor must survive a bad poll
                log.exception("job monitor tick failed")
            with self._lock:
                if not self._still_live():
                    self._thread = None
                    return
            self.wake.wait(self._interval())
            self.wake.clear()

    def _still_live(self) -> bool:
        try:
            return self._live()
        except Exception:  # noqa: BLE001 - unsure: keep watching
            return True
