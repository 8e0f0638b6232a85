"""Reading the arrays of a problem from workspace files: .npy (dense), .safetensors[:key]
(dense) and .npz (a scipy sparse matrix, scipy.sparse.save_npz).

A .npy file is read straight into its array (one copy from the page cache, no parsing), or
memory-mapped with `mmap=True`. A large array lives in an anonymous mapping whose pages are
made ahead of the copy (MAP_POPULATE, or block by block while a scan reads along): faulting
200,000 pages in one by one costs more than the copy, and the huge pages numpy asks for
sometimes took 1 to 2 s of system time to come. Mapping the file itself is for job processes
only: a file truncated while mapped kills the process that maps it (SIGBUS), and the server
must survive whatever the agent does to its files. Only regular files are opened (a named
pipe would block forever).
"""
from __future__ import annotations

import mmap
import os
import queue
import stat
import threading
from pathlib import Path

import numpy as np

from rigorlab.core.errors import UserError

NPZ_MAX_BYTES = 8 << 30      # uncompressed members of a sparse .npz, in total
NPZ_MAX_RATIO = 200          # uncompressed / compressed: more is a zip bomb, not a matrix


def split_ref(ref: str) -> tuple[str, str]:
    """'file.safetensors:KEY' -> (file, KEY); any other reference -> (ref, '')."""
    return tuple(ref.rsplit(":", 1)) if ".safetensors:" in ref else (ref, "")  # type: ignore[return-value]


def array_file(ref: str, name: str, resolve) -> Path:
    """The workspace file an array reference names; it must exist."""
    path_part, _ = split_ref(ref)
    path = resolve(path_part, f"array {name}")
    if not path.is_file():
        raise UserError(f"array file {path_part!r} for {name} does not exist in the workspace")
    return path


def read(ref: str, name: str, resolve, *, mmap: bool = False, sparse_ok: bool = False, on_rows=None):
    """The array named `name` from the workspace file `ref`: float64 numpy, or a scipy CSR
    matrix for a .npz when sparse_ok. `on_rows(array, i0, i1)` is told of each block of rows of
    a float64 matrix as it arrives (to scan it while it is in cache)."""
    path_part, key = split_ref(str(ref))
    path = resolve(path_part, f"array {name}")
    if path.suffix == ".npy":
        arr = _npy(path, path_part, mmap, on_rows)
    elif path.suffix == ".safetensors":
        arr = _safetensors(path, path_part, key or name)
    elif path.suffix == ".npz" and sparse_ok:
        return _npz(path, path_part, name)
    else:
        kinds = ".npy, .safetensors or .npz (sparse, scipy.sparse.save_npz)" if sparse_ok else ".npy or .safetensors"
        raise UserError(f"{path_part}: array {name} must be a {kinds} file")
    if arr.dtype.kind not in "fiu":
        raise UserError(f"{path_part}: array {name} has dtype {arr.dtype}; a float array is needed")
    return arr if arr.dtype == np.float64 else arr.astype(np.float64)


def _open(path: Path, shown: str):
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserError(f"array file {shown!r} does not exist in the workspace") from None
    except OSError as exc:
        raise UserError(f"cannot open {shown!r}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UserError(f"{shown!r} is not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


CHUNK = 16 << 20      # bytes read between two on_rows calls
POPULATE_FROM = 64 << 20
MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)     # Linux 5.14


def _npy(path: Path, shown: str, mmap: bool, on_rows=None) -> np.ndarray:
    fmt = np.lib.format
    with _open(path, shown) as fh:
        try:
            version = fmt.read_magic(fh)
            header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            shape, fortran, dtype = header(fh, max_header_size=1 << 16)
        except (ValueError, OSError) as exc:
            raise UserError(f"{shown}: not a plain numeric .npy array ({exc})") from None
        if dtype.hasobject or dtype.kind not in "fiu":
            raise UserError(f"{shown}: not a plain numeric .npy array (dtype {dtype})")
        count = int(np.prod(shape, dtype=np.int64))
        order = "F" if fortran else "C"
        if mmap:
            return np.memmap(fh, dtype=dtype, mode="r", offset=fh.tell(), shape=shape, order=order)
        scan = on_rows if len(shape) == 2 and not fortran and dtype == np.float64 else None
        flat, pages = _empty(count, dtype, populate=scan is None)
        _fill(fh, flat, pages, shape, shown, scan)
    return flat.reshape(shape, order=order)


def _empty(count: int, dtype: np.dtype, populate: bool) -> tuple[np.ndarray, mmap.mmap | None]:
    """An array of `count` items and, for a large one, the anonymous mapping that holds it (its
    pages made now with `populate`, else block by block as the read reaches them)."""
    nbytes = count * dtype.itemsize
    if nbytes < POPULATE_FROM or not hasattr(mmap, "MAP_POPULATE"):
        return np.empty(count, dtype=dtype), None
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | (mmap.MAP_POPULATE if populate else 0)
    pages = mmap.mmap(-1, nbytes, flags=flags)
    return np.frombuffer(pages, dtype=dtype, count=count), (None if populate else pages)


def _fill(fh, flat: np.ndarray, pages, shape, shown: str, on_rows) -> None:
    """Read the file's data into `flat`; with on_rows, a thread reads ahead (making the pages of
    each block, then copying into them: both let go of the GIL) while on_rows takes each block
    of whole rows that has arrived."""
    buf = memoryview(flat.view(np.uint8))
    if on_rows is None or flat.nbytes == 0:
        _read_into(fh, buf, 0, flat.nbytes, shown)
        return
    row = flat.itemsize * (shape[-1] or 1)
    step = max(1, CHUNK // row) * row
    arrived: queue.SimpleQueue = queue.SimpleQueue()

    def read_ahead():
        try:
            for start in range(0, flat.nbytes, step):
                end = min(flat.nbytes, start + step)
                _make_pages(pages, start, end)
                _read_into(fh, buf, start, end, shown)
                arrived.put(end)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            arrived.put(exc)

    reader = threading.Thread(target=read_ahead, name="rigorlab-read-ahead", daemon=True)
    reader.start()
    M, done = flat.reshape(shape), 0
    try:
        while done < shape[0]:
            got = arrived.get()
            if isinstance(got, BaseException):
                raise got
            on_rows(M, done, got // row)
            done = got // row
    finally:
        reader.join()


def _make_pages(pages: mmap.mmap | None, start: int, end: int) -> None:
    if pages is None:
        return
    first = start - start % mmap.PAGESIZE
    try:
        pages.madvise(MADV_POPULATE_WRITE, first, end - first)
    except OSError:             # a kernel before 5.14: the copy below faults the pages in
        pass


def _read_into(fh, buf: memoryview, got: int, end: int, shown: str) -> None:
    while got < end:
        k = fh.readinto(buf[got:end])
        if not k:
            raise UserError(f"{shown}: the file is shorter than its header says ({got} of {len(buf)} bytes)")
        got += k


def _safetensors(path: Path, shown: str, key: str) -> np.ndarray:
    from safetensors.numpy import load_file
    with _open(path, shown):
        pass
    try:
        tensors = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - a malformed file is the caller's to fix
        raise UserError(f"{shown}: not a readable .safetensors file ({exc})") from None
    if key not in tensors:
        raise UserError(f"{shown} has no tensor {key!r}; it holds: {', '.join(sorted(tensors))}. "
                        f"Write 'file.safetensors:KEY' to pick one")
    return tensors[key]


def _npz(path: Path, shown: str, name: str):
    import zipfile

    import scipy.sparse as sp
    with _open(path, shown) as fh:
        try:
            with zipfile.ZipFile(fh) as zf:
                members = zf.infolist()
                names = {m.filename for m in members}
                packed = sum(m.compress_size for m in members) or 1
                total = sum(m.file_size for m in members)
                if total > NPZ_MAX_BYTES or total > NPZ_MAX_RATIO * packed + (1 << 20):
                    raise UserError(f"{shown}: its members unpack to {total} bytes from {packed}: refused "
                                    "(too large, or not a matrix)")
                if not {"format.npy", "shape.npy", "data.npy"} <= names:
                    raise UserError(f"{shown}: a .npz must hold a scipy sparse matrix (scipy.sparse.save_npz); "
                                    "save a dense array as .npy")
                fh.seek(0)
                M = sp.load_npz(fh)
        except (zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
            raise UserError(f"{shown}: not a readable sparse .npz ({exc})") from None
    if M.dtype.kind not in "fiu":
        raise UserError(f"{shown}: sparse {name} has dtype {M.dtype}; a float matrix is needed")
    M = M.tocsr().astype(np.float64, copy=False)
    M.sum_duplicates()
    return M
