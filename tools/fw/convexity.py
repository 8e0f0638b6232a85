"""Certify that the Hessian Q of a quadratic is positive semidefinite: the FW gap bounds
f(x) - f* only for convex f. The cheapest test that decides is used, never a full
eigendecomposition:

1. diag(d) + B^T B with d >= 0 is PSD by construction;
2. one blocked pass over a dense or sparse Q: finite, symmetric, no negative diagonal entry
   (e_i would be a direction of negative curvature), exactly diagonal, or diagonally dominant
   (Gershgorin: lambda_min >= min_i Q_ii - sum_j |Q_ij|);
3. a dense Q that is a diagonal plus a low-rank matrix is recognised (structure.py) and
   certified by its factor;
4. a Cholesky factorisation of Q + tau I (dense: LAPACK; sparse: banded, after a reverse
   Cuthill-McKee ordering, when the band is narrow): it succeeds iff lambda_min(Q) > -tau, and
   when it fails at pivot j the leading block gives a direction v with v^T Q v <= -tau |v|^2;
5. otherwise Lanczos: its smallest Ritz value bounds lambda_min from above, so a negative one
   refuses with its vector; a non-negative one is an estimate and is reported as such.

tau = TOL * n * max |Q_ij| absorbs rounding (a PSD Q computed in floating point, B^T B of a
wide B, is singular up to n eps |Q|). A refusal (`NotConvex`) carries the direction, checked
with one product.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from rigorlab.core.errors import UserError

TOL = 1e-10
BAND_MAX = 2 * 10 ** 7    # band entries (n x bandwidth) a banded Cholesky may hold
LANCZOS_S = 20.0          # time budget of the Lanczos fallback


@dataclass
class Certificate:
    method: str                 # how convexity was established
    lam_min: float | None       # a lower bound on lambda_min(Q) (an estimate for "lanczos estimate")
    proof: bool = True          # False for an estimate
    seconds: float = 0.0

    def describe(self) -> dict:
        out = {"method": self.method, "seconds": round(self.seconds, 4)}
        if self.lam_min is not None:
            out["lambda_min" if self.proof else "lambda_min_estimate"] = float(f"{self.lam_min:.6g}")
        if not self.proof:
            out["note"] = "an estimate, not a proof: the FW gap certifies only if Q is PSD"
        return out


class NotConvex(UserError):
    """Q has a direction of negative curvature; `direction` holds it (numpy, unit norm)."""

    def __init__(self, direction: np.ndarray, curvature: float, how: str):
        self.direction, self.curvature = direction, curvature
        super().__init__(
            f"the quadratic is not convex: v^T Q v = {curvature:.4g} < 0 for the unit vector v = "
            f"{_show(direction)} (found by {how}). Frank-Wolfe gap certificates need a convex "
            "objective: make Q positive semidefinite (e.g. give it as d and B with Q = diag(d) + B^T B, "
            "d >= 0), or set options.allow_nonconvex to run anyway (the gap then measures stationarity only)")


def _show(v: np.ndarray, most: int = 6) -> str:
    nz = np.flatnonzero(v)
    top = nz[np.argsort(-np.abs(v[nz]), kind="stable")[:most]]
    body = ", ".join(f"{int(i)}: {v[i]:.4g}" for i in sorted(top))
    if nz.size <= most:
        return "{" + body + "} (other entries 0)"
    return "{" + body + f", ...}} ({nz.size} nonzero entries; the {most} largest shown)"


def certify(form, seen=None) -> Certificate:
    """A Certificate for a qforms.Form, or NotConvex / UserError; `seen` is a DenseScan of a
    dense Q made while reading it."""
    t0 = time.perf_counter()
    kind = form.kind
    if kind in ("diagonal", "factored"):
        cert = _factored(form)
    elif kind == "sparse":
        cert = _sparse(form.S)
    else:
        cert = _dense(form.numpy(), seen)
    cert.seconds = time.perf_counter() - t0
    return cert


def tolerance(n: int, scale: float) -> float:
    return TOL * n * (scale or 1.0)


# --- factored -----------------------------------------------------------------------------

def _factored(form) -> Certificate:
    d = form.d.detach().cpu().numpy()
    B = None if form.B is None else form.B.detach().cpu().numpy()
    _finite(d, "d")
    if B is not None:
        _finite(B, "B")
    if d.min(initial=0.0) >= 0:
        what = "diagonal, d >= 0" if B is None else "factor: diag(d) + B^T B with d >= 0"
        return Certificate(what, float(d.min(initial=0.0)))
    cols = np.zeros_like(d) if B is None else np.einsum("ij,ij->j", B, B)
    q = d + cols
    i = int(np.argmin(q))
    scale = max(float(np.abs(d).max()), float(cols.max(initial=0.0)))
    tau = tolerance(d.shape[0], scale)
    if q[i] < -tau:
        raise NotConvex(_unit(d.shape[0], i), float(q[i]), "a negative diagonal entry of Q")
    return _lanczos(lambda x: d * x + (0 if B is None else B.T @ (B @ x)), d.shape[0], tau)


# --- dense --------------------------------------------------------------------------------

def _dense(Q: np.ndarray, seen=None) -> Certificate:
    """`seen`: a dense_scan.DenseScan of Q made while it was read (else Q is scanned here)."""
    from rigorlab.tools.fw.dense_scan import scan
    st = seen if seen is not None and seen.complete else scan(Q)
    n = Q.shape[0]
    if not (np.isfinite(st.absrow).all() and np.isfinite(st.QX).all()):
        _finite(Q, "Q")
    asym = st.asymmetry()
    if asym > 1e-10 * n * (st.scale or 1.0):
        raise UserError(f"Q is not symmetric (|(Q - Q^T) x| = {asym:.3g} for a random Gaussian x): pass "
                        "(Q + Q^T)/2, which defines the same objective")
    tau = tolerance(n, st.scale)
    diag, offsum = st.diag, st.offsum()
    i = int(np.argmin(diag))
    if diag[i] < -tau:
        raise NotConvex(_unit(n, i), float(diag[i]), "a negative diagonal entry of Q")
    if offsum.max(initial=0.0) == 0:
        return Certificate("diagonal", float(diag.min()))
    gersh = float((diag - offsum).min())
    if gersh >= -tau:
        return Certificate("diagonally dominant (Gershgorin)", gersh)
    from rigorlab.tools.fw.dense_scan import PROBES
    from rigorlab.tools.fw.structure import FAILURE, diagonal_plus_low_rank
    found = diagonal_plus_low_rank(Q, st, tau)
    if found is not None:
        return Certificate(f"diag(d) + F^T F found (rank {found[1]}), checked with {PROBES} random probes "
                           f"(failure probability < {FAILURE:.0e})", found[0])
    return _dense_cholesky(Q, tau)


def _dense_cholesky(Q: np.ndarray, tau: float) -> Certificate:
    from scipy.linalg import lapack, solve_triangular
    n = Q.shape[0]
    M = np.array(Q, dtype=np.float64, order="F")
    M[np.diag_indices(n)] += tau
    L, info = lapack.dpotrf(M, lower=1, clean=0, overwrite_a=1)
    if info == 0:
        return Certificate("Cholesky of Q + tau I", -tau)
    if info < 0:
        raise RuntimeError(f"dpotrf argument {-info} invalid")
    j = info - 1
    v = np.zeros(n)
    v[j] = 1.0
    if j > 0:
        q = Q[:j, j] + 0.0
        w = solve_triangular(L[:j, :j], q, lower=True, check_finite=False)
        v[:j] = -solve_triangular(L[:j, :j], w, lower=True, trans="T", check_finite=False)
    v /= np.linalg.norm(v)
    raise NotConvex(v, float(v @ (Q @ v)), f"a Cholesky factorisation failing at pivot {j}")


# --- sparse -------------------------------------------------------------------------------

def _sparse(S) -> Certificate:
    S = S.tocsr()
    n = S.shape[0]
    _finite(S.data, "Q")
    scale = float(np.abs(S.data).max(initial=0.0))
    asym = abs(S - S.T)
    if asym.nnz and float(asym.max()) > 1e-10 * (scale or 1.0):
        raise UserError(f"Q is not symmetric (max |Q_ij - Q_ji| = {float(asym.max()):.3g}): pass "
                        "(Q + Q^T)/2, which defines the same objective")
    tau = tolerance(n, scale)
    diag = S.diagonal()
    i = int(np.argmin(diag))
    if diag[i] < -tau:
        raise NotConvex(_unit(n, i), float(diag[i]), "a negative diagonal entry of Q")
    offsum = np.asarray(abs(S).sum(axis=1)).ravel() - np.abs(diag)
    gersh = float((diag - offsum).min())
    if offsum.max(initial=0.0) == 0:
        return Certificate("diagonal", float(diag.min()))
    if gersh >= -tau:
        return Certificate("diagonally dominant (Gershgorin)", gersh)
    banded = _banded_cholesky(S, tau)
    if banded is not None:
        return banded
    return _lanczos(lambda x: S @ x, n, tau)


def _banded_cholesky(S, tau):
    """Cholesky of P (Q + tau I) P^T in band storage after reverse Cuthill-McKee, or None when the
    band would be too wide."""
    from scipy.linalg import lapack
    from scipy.sparse.csgraph import reverse_cuthill_mckee
    n = S.shape[0]
    perm = reverse_cuthill_mckee(S, symmetric_mode=True)
    P = S[perm][:, perm].tocoo()
    low = P.row >= P.col
    bw = int((P.row - P.col)[low].max(initial=0))
    if n * (bw + 1) > BAND_MAX:
        return None
    ab = np.zeros((bw + 1, n), order="F")
    ab[P.row[low] - P.col[low], P.col[low]] = P.data[low]
    ab[0] += tau
    _, info = lapack.dpbtrf(ab, lower=1)
    if info == 0:
        return Certificate(f"banded Cholesky of Q + tau I (bandwidth {bw} after reverse Cuthill-McKee)", -tau)
    j = info - 1
    from scipy.sparse.linalg import spsolve
    Pc = P.tocsc()
    head = Pc[:j, :j] + tau * _eye(j)
    v_perm = np.zeros(n)
    v_perm[j] = 1.0
    if j > 0:
        v_perm[:j] = -spsolve(head.tocsc(), Pc[:j, j].toarray().ravel())
    v = np.zeros(n)
    v[perm] = v_perm
    v /= np.linalg.norm(v)
    raise NotConvex(v, float(v @ (S @ v)), f"a banded Cholesky factorisation failing at pivot {j}")


def _eye(n):
    from scipy.sparse import identity
    return identity(n, format="csc")


# --- Lanczos ------------------------------------------------------------------------------

def _lanczos(mv, n: int, tau: float, budget_s: float = LANCZOS_S, max_steps: int = 2000) -> Certificate:
    """Plain Lanczos from a fixed random start; its tridiagonal's smallest eigenvalue theta_k
    decreases to lambda_min. theta_k < -tau refuses (the Ritz vector, from a second pass, is
    the direction); convergence (residual below tau) gives an estimate."""
    from scipy.linalg import eigh_tridiagonal
    rng = np.random.default_rng(0)
    v0 = rng.standard_normal(n)
    v0 /= np.linalg.norm(v0)
    alphas, betas = [], []
    t0 = time.perf_counter()
    v_prev, v, beta = np.zeros(n), v0, 0.0
    theta, resid = np.inf, np.inf
    for k in range(min(n, max_steps)):
        w = mv(v) - beta * v_prev
        a = float(v @ w)
        w -= a * v
        alphas.append(a)
        beta = float(np.linalg.norm(w))
        if k % 5 == 4 or beta == 0 or k == n - 1:
            vals, vecs = eigh_tridiagonal(np.array(alphas), np.array(betas), select="i", select_range=(0, 0))
            theta, resid = float(vals[0]), abs(beta * vecs[-1, 0])
            if theta < -tau:
                x = _ritz_vector(mv, v0, alphas, betas, vecs[:, 0])
                curv = float(x @ mv(x))
                if curv < -tau:
                    raise NotConvex(x, curv, f"Lanczos ({k + 1} steps)")
            if resid <= max(tau, 1e-8 * abs(theta)) or beta == 0:
                return Certificate(f"Lanczos estimate ({k + 1} steps)", theta, proof=False)
        if time.perf_counter() - t0 > budget_s:
            break
        betas.append(beta)
        v_prev, v = v, w / beta
    return Certificate(f"Lanczos estimate, not converged in {len(alphas)} steps (residual {resid:.2g})",
                       theta, proof=False)


def _ritz_vector(mv, v0, alphas, betas, y):
    """V y, the Lanczos basis rebuilt by a second run of the same recurrence."""
    x = np.zeros_like(v0)
    v_prev, v, beta = np.zeros_like(v0), v0, 0.0
    for k, yk in enumerate(y):
        x += yk * v
        if k == len(y) - 1:
            break
        w = mv(v) - beta * v_prev - alphas[k] * v
        beta = betas[k]
        v_prev, v = v, w / beta
    return x / np.linalg.norm(x)


# --- helpers ------------------------------------------------------------------------------

def _unit(n: int, i: int) -> np.ndarray:
    v = np.zeros(n)
    v[i] = 1.0
    return v


def _finite(a, what: str) -> None:
    if not np.isfinite(a).all():
        raise UserError(f"{what} contains NaN or infinite values: clean the data before solving")
