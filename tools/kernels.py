"""Every compiled (numba) kernel of rigorlab: built once at install (`rigorlab warm-up`, run by
`make bootstrap`), loaded from numba's disk cache when the server starts (in the background,
after the handshake), and never compiled inside a tool call's measured time.

A kernel is loaded by calling it once on a tiny input of the argument types its callers use,
so that numba finds (or compiles and caches) exactly that signature. `ensure(name)` does this
at most once per process, under a lock a concurrent call waits on, and says what it cost:
a solver calls it before its clock starts and reports the time apart from the method's.
"""
from __future__ import annotations

import importlib
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Load:
    seconds: float = 0.0
    compiled: bool = False      # True when numba had no cached build and compiled it
    done: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _qp(kernel) -> list:
    import numpy as np
    from rigorlab.tools.fw.simplex_qp import SimplexQP
    G = np.array([[2.0, 0.5], [0.5, 1.0]])
    SimplexQP()(G, np.array([1.0, -1.0]), np.array([1.0, 0.0]), enter=1)
    return [kernel.solve]


def _scan(kernel) -> list:
    import numpy as np
    Q, Xt = np.eye(3), np.ones((4, 3))
    kernel.scan_rows(Q[:2], 0, Xt, np.empty((3, 4)), np.zeros((4, 3)), np.empty(3), np.empty(3))
    return [kernel.scan_rows]


def _swap(kernel) -> list:
    import numpy as np
    rng = np.random.default_rng(0)
    W = rng.standard_normal((2, 8))
    B = rng.standard_normal((16, 8))
    mask = np.zeros((2, 8), dtype=bool)
    mask[:, :4] = True
    kernel.run_rows(W, B.T @ B, mask, 4, 1e-12)
    return [kernel.swap_rows]


def _fw(kernel) -> list:
    import numpy as np
    x, s = np.ones(4), np.array([True, False, True, False])
    kernel.dots(x, s, x, x, x)
    kernel.move(x, s, x.copy(), x.copy(), x, 0.5, np.empty(4))
    return [kernel.dots, kernel.move]


# name -> (module, warm function(module) returning the dispatchers it compiled)
KERNELS = {
    "fw.simplex_qp": ("rigorlab.tools.fw._qp_kernel", _qp),
    "fw.dense_scan": ("rigorlab.tools.fw._scan_kernel", _scan),
    "pruning.sparseswaps": ("rigorlab.tools.pruning._swap_kernel", _swap),
    "pruning.sparsefw": ("rigorlab.tools.pruning._fw_kernel", _fw),
}
_LOADS = {name: Load() for name in KERNELS}


def ensure(name: str, progress=None) -> Load:
    """Load kernel `name` in this process (a no-op after the first time); its Load record."""
    rec = _LOADS[name]
    if rec.done:
        return rec
    with rec.lock:
        if not rec.done:
            if progress is not None:
                progress(0, None, f"loading the compiled kernel {name} (compiling it when not cached)")
            t0 = time.perf_counter()
            module, warm = KERNELS[name]
            dispatchers = warm(importlib.import_module(module))
            rec.compiled = any(sum(d.stats.cache_misses.values()) > 0 for d in dispatchers)
            rec.seconds, rec.done = time.perf_counter() - t0, True
    return rec


def is_loaded(name: str) -> bool:
    return _LOADS[name].done


def warm_all(progress=None) -> dict[str, Load]:
    return {name: ensure(name, progress) for name in KERNELS}


# what the first solver or pruning call would otherwise import (torch alone takes seconds)
MODULES = ("torch", "scipy.linalg", "scipy.optimize", "scipy.sparse.linalg", "rigorlab.tools.fw.run",
           "rigorlab.tools.fw.solver", "rigorlab.tools.fw.spec", "rigorlab.tools.fw.quadratic",
           "rigorlab.tools.fw.convexity", "rigorlab.tools.fw.corrective", "rigorlab.tools.fw.oracles",
           "rigorlab.tools.fw.arrays", "rigorlab.tools.fw.plot", "rigorlab.core.safefs")


def warm_in_background() -> threading.Thread | None:
    """warm_all, then the MODULES, in a daemon thread at low priority (Linux gives each thread
    its own nice value); RIGORLAB_WARM_UP=0 turns it off."""
    import os
    if os.environ.get("RIGORLAB_WARM_UP", "1") == "0":
        return None

    def run():
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (AttributeError, OSError):
            pass
        try:
            warm_all()
            for module in MODULES:
                importlib.import_module(module)
        except Exception:  # a call will load (and report) what it needs itself
            import logging
            logging.getLogger("rigorlab").exception("warm-up failed")
    thread = threading.Thread(target=run, name="rigorlab-kernels", daemon=True)
    thread.start()
    return thread
