"""clusters.toml as the dispatcher sees it: loaded once, reloaded when the file changes, and
the backends built from it (dropped, their connections closed, when it changes)."""
from __future__ import annotations

import threading
from pathlib import Path

from rigorlab.clusters import config as cfgmod
from rigorlab.clusters.backends.base import Backend, Timing
from rigorlab.clusters.backends.registry import make_backend


class LiveConfig:
    def __init__(self, workspace_root: Path, timing: Timing, config: cfgmod.ClustersConfig | None = None,
                 on_exit=None) -> None:
        self.workspace_root = workspace_root
        self.timing = timing
        self.fixed = config is not None
        self.config = config or cfgmod.load(workspace_root)
        self._stamp = self._read_stamp()
        self._on_exit = on_exit
        self._backends: dict[str, Backend] = {}
        self._lock = threading.Lock()

    def _read_stamp(self):
        path = cfgmod.config_path(self.workspace_root)
        try:
            return (str(path), path.stat().st_mtime_ns) if path else None
        except OSError:
            return (str(path), None)

    def reload_if_changed(self) -> None:
        """Pick up an edited clusters.toml; a broken edit raises and keeps the old config."""
        if self.fixed:
            return
        stamp = self._read_stamp()
        if stamp == self._stamp:
            return
        new = cfgmod.load(self.workspace_root)
        with self._lock:
            old = self._backends
            self.config, self._stamp, self._backends = new, stamp, {}
        for b in old.values():
            try:
                b.shell().close()
            except Exception:  # noqa: BLE001 - a connection that will not close is gone anyway
                pass

    def backend(self, target: str) -> Backend:
        with self._lock:
            if target not in self._backends:
                self._backends[target] = make_backend(self.config, target, self.timing, self._on_exit)
            return self._backends[target]
