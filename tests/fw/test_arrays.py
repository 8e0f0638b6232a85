"""Reading a problem's arrays: .npy straight into place (and scanned while it arrives), sparse
.npz, and every bad file a clear error that never blocks or crashes the reader."""
import os
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from rigorlab.core.errors import UserError
from rigorlab.tools.fw import arrays
from rigorlab.tools.fw.dense_scan import scan
from rigorlab.core.jail import Workspace


@pytest.fixture
def read(workspace):
    ws = Workspace(workspace)
    return lambda ref, **kw: arrays.read(ref, "Q", lambda v, what="path": ws.path(v, what=what), **kw)


def test_npy_in_any_layout_and_dtype_reads_as_float64(workspace, read):
    rng = np.random.default_rng(0)
    M = rng.standard_normal((7, 5))
    np.save(workspace / "c.npy", M)
    np.save(workspace / "f.npy", np.asfortranarray(M))
    np.save(workspace / "s.npy", M.astype(np.float32))
    np.save(workspace / "be.npy", M.astype(">f8"))
    np.save(workspace / "i.npy", np.arange(6).reshape(2, 3))
    for name in ("c", "f", "be"):
        got = read(f"{name}.npy")
        assert got.dtype == np.float64 and np.array_equal(got, M), name
    assert np.array_equal(read("s.npy"), M.astype(np.float32).astype(np.float64))
    assert read("i.npy").dtype == np.float64
    mapped = read("c.npy", mmap=True)
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, M)


@pytest.fixture(params=["heap", "mapped"])
def allocation(request, monkeypatch):
    """Small arrays come from numpy's heap; large ones from an anonymous mapping whose pages are
    made ahead of the copy (made small here so that a test reaches that path)."""
    if request.param == "mapped":
        monkeypatch.setattr(arrays, "POPULATE_FROM", 1)
    return request.param


def test_a_scan_made_while_reading_equals_one_made_afterwards(workspace, read, monkeypatch, allocation):
    rng = np.random.default_rng(1)
    n = 700
    B = rng.standard_normal((n, n))
    np.save(workspace / "Q.npy", B + B.T)
    monkeypatch.setattr(arrays, "CHUNK", 8 * n * 37)          # chunks of 37 rows: blocks split unevenly
    seen, calls = [], []

    def on_rows(M, i0, i1):
        calls.append((i0, i1))
        if not seen:
            from rigorlab.tools.fw.dense_scan import DenseScan
            seen.append(DenseScan(M.shape[0]))
        seen[0].rows(M, i0, i1)
    Q = read("Q.npy", on_rows=on_rows)
    assert np.array_equal(Q, B + B.T) and Q.flags.writeable
    owner = Q
    while isinstance(owner, np.ndarray) and owner.base is not None:
        owner = owner.base
    owner = owner.obj if isinstance(owner, memoryview) else owner
    assert type(owner).__name__ == ("mmap" if allocation == "mapped" else "ndarray")
    assert calls[0] == (0, 37) and calls[-1][1] == n and len(calls) == -(-n // 37)
    st, ref = seen[0], scan(Q)
    assert st.complete and st.asymmetry() < 1e-10 and st.scale == ref.scale
    assert np.allclose(st.absrow, ref.absrow) and np.array_equal(st.diag, np.diag(Q))
    assert np.allclose(st.QX, Q @ st.X) and np.allclose(st.QtXt, st.X.T @ Q)


def test_sparse_npz_and_its_refusals(workspace, read, monkeypatch):
    S = sp.random(50, 50, density=0.1, random_state=0, format="csr")
    sp.save_npz(workspace / "S.npz", S + S.T)
    got = read("S.npz", sparse_ok=True)
    assert sp.issparse(got) and abs(got - (S + S.T)).max() == 0
    np.savez(workspace / "dense.npz", Q=np.eye(3))
    with pytest.raises(UserError, match="scipy sparse matrix"):
        read("dense.npz", sparse_ok=True)
    with pytest.raises(UserError, match=".npy or .safetensors"):
        read("S.npz")                                           # sparse only where a Q may be
    with zipfile.ZipFile(workspace / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in ("format.npy", "shape.npy", "data.npy"):
            zf.writestr(name, b"\0" * (4 << 20))
    monkeypatch.setattr(arrays, "NPZ_MAX_BYTES", 8 << 20)
    with pytest.raises(UserError, match="refused"):
        read("bomb.npz", sparse_ok=True)


def test_bad_files_are_clear_errors_and_never_block(workspace, read, allocation, monkeypatch):
    np.save(workspace / "ok.npy", np.ones((40, 40)))
    data = (workspace / "ok.npy").read_bytes()
    (workspace / "short.npy").write_bytes(data[:-16])
    monkeypatch.setattr(arrays, "CHUNK", 8 * 40 * 3)
    with pytest.raises(UserError, match="shorter than its header"):       # while a scan reads along
        read("short.npy", on_rows=lambda M, i0, i1: None)
    with pytest.raises(ZeroDivisionError):                                # the scan's own error, as is
        read("ok.npy", on_rows=lambda M, i0, i1: 1 / 0)
    np.save(workspace / "empty_rows.npy", np.ones((1000, 0)))
    assert read("empty_rows.npy", on_rows=lambda M, i0, i1: 1 / 0).shape == (1000, 0)   # no rows to scan
    (workspace / "junk.npy").write_bytes(b"not an array at all")
    np.save(workspace / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    os.mkfifo(workspace / "pipe.npy")
    for name, fragment in (("short.npy", "shorter than its header"), ("junk.npy", "not a plain numeric"),
                           ("obj.npy", "not a plain numeric"), ("pipe.npy", "not a regular file"),
                           ("nope.npy", "does not exist"), ("ok.txt", "must be a")):
        with pytest.raises(UserError, match=fragment):
            read(name)


def test_the_compiled_scan_equals_the_numpy_scan(monkeypatch):
    import rigorlab.tools.fw.dense_scan as ds
    rng = np.random.default_rng(3)
    B = rng.standard_normal((300, 300))
    Q = B + B.T
    Q[5, 7] += 1e-3                                           # a little asymmetry, seen by both
    monkeypatch.setattr(ds, "COMPILED_FROM", 10 ** 9)
    ref = ds.scan(Q)
    monkeypatch.setattr(ds, "COMPILED_FROM", 0)
    got = ds.DenseScan(300)
    got.X = ref.X
    got._Xt = np.ascontiguousarray(ref.X.T)
    assert got._kernel is not None
    got.rows(Q, 0, 300)
    assert np.allclose(got.QX, ref.QX) and np.allclose(got.QtXt, ref.QtXt) and np.allclose(got.absrow, ref.absrow)
    assert np.array_equal(got.diag, ref.diag) and got.asymmetry() == pytest.approx(ref.asymmetry(), rel=1e-6)
    assert got.asymmetry() > 1e-6
