"""Problems from a spec an agent can write: objective + data (files or a seed) + set.

    {"objective": "least_squares", "data": {"A": "data/A.npy", "y": "data/y.npy"},
     "set": "l1", "set_params": {"radius": 5}}
    {"objective": "quadratic", "data": {"Q": "qp.safetensors:Q", "b": "qp.safetensors:b"}, ...}
    {"objective": "quadratic", "data": {"d": "d.npy", "B": "B.npy", "b": "b.npy"}, ...}   # diag(d) + B^T B
    {"objective": "quadratic", "data": {"Q": "Q.npz", "b": "b.npy"}, ...}                 # scipy sparse
    {"objective": "logistic", "seed": 0, "size": [500, 200], "set": "l2", ...}
    {"objective": "python", "function": "obj.py:f,grad_f", "set": "simplex",
     "set_params": {"n": 50}}

Paths are resolved by the caller's `resolve(path, what)` (the workspace jail in the server).
A .safetensors file without ":key" gives its tensor of the array's name.
"""
from __future__ import annotations

import math
from typing import Callable

from rigorlab.core.errors import UserError

NEEDS = {"quadratic": ("Q", "b"), "least_squares": ("A", "y"), "logistic": ("A", "y")}
OBJECTIVES = (*NEEDS, "python")
CODE_ONLY_IN_JOBS = ("objective 'python' runs workspace code, which runs only as a job (in the "
                     "job runtime's sandbox), never inside rigorlab's own process: dispatch it")


def load_arrays(objective: str, data: dict, resolve: Callable, mmap: bool = False) -> dict:
    """The data arrays of `objective` as torch float64 tensors (Q of a quadratic may also be a
    scipy sparse matrix); `mmap` maps .npy files instead of reading them (job processes only)."""
    import torch

    from rigorlab.tools.fw.arrays import read
    need, allowed = _needs(objective, data)
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise UserError(f"objective {objective!r} takes the arrays {_takes(objective)}; unexpected: "
                        f"{', '.join(extra)}")
    missing = [k for k in need if k not in data]
    if missing:
        raise UserError(f"objective {objective!r} needs the arrays {_takes(objective)} (missing "
                        f"{', '.join(missing)}): give workspace paths to .npy or .safetensors files, or a "
                        "seed to generate data")
    import numpy as np
    out = {}
    for k in allowed:
        if k in data:
            watch = _ScanWhileReading() if k == "Q" else None
            arr = read(str(data[k]), k, resolve, mmap=mmap, sparse_ok=k == "Q", on_rows=watch)
            out[k] = arr if hasattr(arr, "tocsr") else torch.from_numpy(np.asarray(arr))
            if watch is not None and watch.scan is not None:
                out["Q_scan"] = watch.scan
    return out


class _ScanWhileReading:
    """Scans a square Q (convexity's one pass) as arrays.read hands over its blocks of rows."""

    def __init__(self):
        self.scan = None

    def __call__(self, M, i0, i1):
        if M.shape[0] != M.shape[1]:
            return
        if self.scan is None:
            from rigorlab.tools.fw.dense_scan import DenseScan
            self.scan = DenseScan(M.shape[0])
        self.scan.rows(M, i0, i1)


def _needs(objective: str, data: dict) -> tuple[tuple, tuple]:
    """(required, allowed) array names; a quadratic's Q is dense, sparse or given as d and B."""
    if objective != "quadratic":
        return NEEDS[objective], NEEDS[objective]
    if "Q" in data:
        return ("Q", "b"), ("Q", "b")
    if "d" in data or "B" in data:
        return ("b",), ("d", "B", "b")
    return ("Q", "b"), ("Q", "d", "B", "b")


def _takes(objective: str) -> str:
    if objective == "quadratic":
        return "Q (dense .npy/.safetensors or sparse .npz) or d and/or B (Q = diag(d) + B^T B), and b"
    return ", ".join(NEEDS[objective])


def generate(objective: str, seed: int, size) -> dict:
    """Reproducible instances: sparse-recovery least squares, a PSD quadratic, separable logistic."""
    import torch
    size = [int(s) for s in (size or [])]
    gen = torch.Generator().manual_seed(int(seed))
    if objective == "quadratic":
        if len(size) != 1 or size[0] < 1 or size[0] > 8000:
            raise UserError("a generated quadratic needs size [n] with 1 <= n <= 8000 (Q is dense n x n)")
        n = size[0]
        B = torch.randn((n, n), generator=gen, dtype=torch.float64) / math.sqrt(n)
        Q = B.T @ B / 2 + 0.01 * torch.eye(n, dtype=torch.float64)
        return {"Q": (Q + Q.T) / 2, "b": torch.randn(n, generator=gen, dtype=torch.float64)}
    if len(size) != 2 or min(size) < 1:
        raise UserError(f"a generated {objective} problem needs size [m, n] (A is m x n)")
    m, n = size
    A = torch.randn((m, n), generator=gen, dtype=torch.float64) / math.sqrt(m)
    x_true = torch.zeros(n, dtype=torch.float64)
    k = max(1, n // 50)
    x_true[torch.randperm(n, generator=gen)[:k]] = torch.randn(k, generator=gen, dtype=torch.float64)
    z = A @ x_true
    if objective == "least_squares":
        return {"A": A, "y": z + 0.01 * torch.randn(m, generator=gen, dtype=torch.float64)}
    return {"A": A, "y": torch.where(z + 0.1 * torch.randn(m, generator=gen, dtype=torch.float64) >= 0, 1.0, -1.0)
            .to(torch.float64)}


def build(spec: dict, resolve: Callable, *, mmap: bool = False, allow_code: bool = False):
    """(objective, oracle) for a spec; every problem with the input is a UserError.
    A python objective imports workspace code: only a job's process (allow_code) does that.
    `mmap` maps .npy data instead of reading it (job processes: see arrays.py)."""
    from rigorlab.tools.fw.objectives import LeastSquares, Logistic
    from rigorlab.tools.fw.oracles import make_oracle
    kind = spec.get("objective")
    if kind not in OBJECTIVES:
        raise UserError(f"unknown objective {kind!r}; choose one of {', '.join(OBJECTIVES)}")
    set_name, set_params = spec.get("set", ""), dict(spec.get("set_params") or {})
    if set_name == "hull" and isinstance(set_params.get("atoms"), str):
        from rigorlab.tools.fw.arrays import read
        set_params["atoms"] = read(set_params["atoms"], "atoms", resolve)
    if kind == "python":
        if not allow_code:
            raise UserError(CODE_ONLY_IN_JOBS)
        oracle = make_oracle(set_name, set_params)
        obj = _python_objective(spec, oracle, resolve)
        if not spec.get("allow_nonconvex"):
            _check_convex_samples(obj, oracle)
        return obj, oracle
    if spec.get("data") and spec.get("seed") is not None:
        raise UserError("give either data files or a seed, not both")
    if spec.get("data"):
        arrays = load_arrays(kind, spec["data"], resolve, mmap)
    elif spec.get("seed") is not None:
        arrays = generate(kind, spec["seed"], spec.get("size"))
    else:
        raise UserError(f"objective {kind!r} needs data (workspace array files) or a seed (with size) to generate it")
    if kind == "quadratic":
        obj = _quadratic(arrays, check_convex=not spec.get("allow_nonconvex"))
    else:
        obj = {"least_squares": LeastSquares, "logistic": Logistic}[kind](*[arrays[k] for k in NEEDS[kind]])
    oracle = make_oracle(set_name, _fill_dims(set_name, set_params, obj.dim))
    return obj, oracle


def _quadratic(arrays: dict, check_convex: bool):
    from rigorlab.tools.fw.qforms import Factored
    from rigorlab.tools.fw.quadratic import Quadratic
    Q = arrays["Q"] if "Q" in arrays else Factored(arrays.get("d"), arrays.get("B"))
    return Quadratic(Q, arrays["b"], check_convex=check_convex, seen=arrays.get("Q_scan"))


def _fill_dims(name: str, params: dict, dim: int) -> dict:
    """Default the set's size from the data: n = dim (vectors) or a square n x n matrix."""
    if name in ("product", "hull") or "n" in params:
        return params
    if name in ("birkhoff", "spectraplex"):
        side = math.isqrt(dim)
        if side * side != dim:
            raise UserError(f"set {name!r} holds n x n matrices but the data has dimension {dim}, not a square")
        return {**params, "n": side}
    if name == "nuclear":
        if "m" in params and dim % int(params["m"]) == 0:
            return {**params, "n": dim // int(params["m"])}
        raise UserError("set 'nuclear' needs set_params m and n (the matrix shape, m * n = data dimension)")
    return {**params, "n": dim}


def _python_objective(spec: dict, oracle, resolve):
    import importlib.util
    from rigorlab.tools.fw.objectives import FunctionObjective
    ref, _, grad_name = (spec.get("function") or "").partition(",")
    file_part, _, name = ref.rpartition(":")
    if not file_part or not name:
        raise UserError("objective 'python' needs function 'path/to/file.py:function_name' (a workspace file)")
    path = resolve(file_part, "function file")
    if not path.is_file() or path.suffix != ".py":
        raise UserError(f"{file_part!r} is not a Python file in the workspace")
    mod_spec = importlib.util.spec_from_file_location(f"rigorlab_fw_user_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:  # the user's file: report, do not crash
        raise UserError(f"importing {file_part} failed: {type(exc).__name__}: {exc}") from exc
    fn = getattr(module, name, None)
    grad_name = grad_name.strip()
    grad = getattr(module, grad_name, None) if grad_name else None
    if not callable(fn) or (grad_name and not callable(grad)):
        raise UserError(f"{file_part} defines no function {grad_name if callable(fn) else name!r}")
    return FunctionObjective(fn, oracle.shape, grad, name=name)


def _check_convex_samples(obj, oracle, pairs: int = 12) -> None:
    """Refuse a function that visibly violates f(y) >= f(x) + <grad f(x), y - x> on the set."""
    import torch
    gen = torch.Generator().manual_seed(0)
    verts = [oracle.lmo(torch.randn(oracle.dim, generator=gen, dtype=torch.float64)) for _ in range(6)]
    pts = []
    for _ in range(pairs * 2):
        w = torch.rand(len(verts), generator=gen, dtype=torch.float64)
        pts.append(sum(wi * v for wi, v in zip(w / w.sum(), verts)))
    for x, y in zip(pts[::2], pts[1::2]):
        px, fy = obj.at(x), obj.at(y).f
        lin = px.f + float(px.g @ (y - x))
        if fy < lin - 1e-8 * max(1.0, abs(px.f), abs(fy)):
            raise UserError(
                f"the objective is not convex on the set: f(y) = {fy:.6g} < f(x) + <grad f(x), y - x> = {lin:.6g} "
                "for two feasible points. The FW gap is a certificate only for convex objectives; set "
                "allow_nonconvex to run anyway (the gap then only measures stationarity)")
