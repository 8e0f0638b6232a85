"""The trajectory plot of a run (plot.png, plot.pdf): primal gap (against f* if known, else the
certified bound f - max(f - gap)) and FW gap against iterations.

Rendering takes longer than a small solve (matplotlib's import and layout: 0.1 to 0.3 s), so
a tool call hands it to `Plotter`, a worker process (lower priority, no share of the server's
interpreter) that writes the files into the run folder just after the answer has gone out;
`render` draws in-process for the CLI and for jobs.

    python -m rigorlab.tools.fw.plot --worker     # reads one JSON request per line on stdin
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

MAX_POINTS = 4000     # a log-log plot shows no more: longer trajectories are thinned log-evenly


def thin(traj: dict, most: int = MAX_POINTS) -> dict:
    """iteration, primal, gap as lists, at most `most` points (log-spaced; first and last kept)."""
    import numpy as np
    n = len(traj["iteration"])
    idx = np.arange(n)
    if n > most:
        idx = np.unique(np.concatenate([np.geomspace(1, n, most).astype(int) - 1, [0, n - 1]]))
    return {k: np.asarray(traj[k])[idx].tolist() for k in ("iteration", "primal", "gap")}


def render(traj: dict, f_star: float | None = None, title: str = "") -> dict[str, bytes]:
    """{'png': ..., 'pdf': ...} of the trajectory plot (matplotlib's object API: thread-safe)."""
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    it = np.asarray(traj["iteration"]) + 1
    primal, gap = np.asarray(traj["primal"], dtype=float), np.asarray(traj["gap"], dtype=float)
    if f_star is not None:
        pg, label = primal - float(f_star), "primal gap f(x_t) - f*"
    else:
        pg, label = primal - np.max(primal - gap), "primal gap bound f(x_t) - max_s (f(x_s) - gap_s)"
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    floor = 1e-300
    ax.loglog(it, np.maximum(pg, floor), label=label)
    ax.loglog(it, np.maximum(gap, floor), "--", label="FW gap")
    positive = np.concatenate([pg[pg > 0], gap[gap > 0]])
    if positive.size:
        ax.set_ylim(bottom=positive.min() / 10)
    ax.set_xlabel("iteration + 1")
    ax.set_ylabel("gap")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = {}
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext)
        out[ext] = buf.getvalue()
    return out


def write(request: dict) -> None:
    """Render and write plot.png / plot.pdf into request['out'] (below request['root'])."""
    from rigorlab.core import safefs
    files = render(request["traj"], request.get("f_star"), request.get("title", ""))
    for ext, data in files.items():
        safefs.write_bytes(Path(request["out"]) / f"plot.{ext}", data, root=request["root"], replace=False)


class Plotter:
    """One worker process per server, started on first use; requests queue in a thread, so a
    call never waits on the worker."""

    def __init__(self):
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._pending: list[str] = []
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def submit(self, request: dict) -> None:
        line = json.dumps(request, default=float) + "\n"
        with self._lock:
            self._pending.append(line)
            if self._thread is None:
                self._thread = threading.Thread(target=self._feed, name="rigorlab-plots", daemon=True)
                self._thread.start()
            self._wake.notify()

    def _feed(self) -> None:
        while True:
            with self._lock:
                while not self._pending:
                    self._wake.wait()
                line = self._pending.pop(0)
            try:
                proc = self._worker()
                proc.stdin.write(line.encode())
                proc.stdin.flush()
            except OSError:          # the worker died: the next request starts another
                self._proc = None

    def _worker(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, "-m", "rigorlab.tools.fw.plot", "--worker"],
                                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=None, close_fds=True)
        return self._proc


_PLOTTER = Plotter()


def submit(request: dict) -> None:
    _PLOTTER.submit(request)


def _serve() -> int:
    try:
        os.nice(10)
    except OSError:
        pass
    for line in sys.stdin:
        try:
            write(json.loads(line))
        except Exception as exc:  # noqa: BLE001 - one bad plot must not stop the others
            print(f"rigorlab plot worker: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        sys.exit(_serve())
    print("usage: python -m rigorlab.tools.fw.plot --worker", file=sys.stderr)
    sys.exit(2)
