"""Where numba caches rigorlab's compiled kernels (tools/kernels.py lists them)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_MOVED: dict[str, str] = {}     # the private cache folder of this process, once made


def cache_where_writable(module_file: str) -> None:
    """Called by each kernel module before its @njit(cache=True). numba caches a kernel beside
    its source (__pycache__) and refuses to import the module where that folder cannot be
    written, as in a sandboxed job, which sees rigorlab read-only. There numba's cache moves to
    a private temporary folder seeded with the builds the tree holds, so the job loads them
    instead of failing (or compiling, when the tree holds none)."""
    from numba.core import config
    from numba.core.caching import UserProvidedCacheLocator
    tree = Path(module_file).parent / "__pycache__"
    if config.CACHE_DIR and config.CACHE_DIR != _MOVED.get("dir"):
        return      # the user's own choice
    if os.access(tree if tree.is_dir() else tree.parent, os.W_OK):
        return
    if "dir" not in _MOVED:
        _MOVED["dir"] = tempfile.mkdtemp(prefix="rigorlab-numba-")
        config.CACHE_DIR = _MOVED["dir"]
    dest = Path(_MOVED["dir"], UserProvidedCacheLocator.get_suitable_cache_subpath(module_file))
    dest.mkdir(exist_ok=True)
    stem = Path(module_file).stem + "."
    for f in tree.glob(stem + "*.nb[ic]") if tree.is_dir() else ():
        shutil.copyfile(f, dest / f.name)
