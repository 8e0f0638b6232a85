"""Whether this machine can start a bubblewrap sandbox (installed is not enough: user
namespaces may be switched off). Asked once per process; the doctor and the local job
backend share the answer."""
from __future__ import annotations

import functools
import shutil
import subprocess

from rigorlab.core.runtimes import BWRAP

FIX = "install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces"


@functools.cache
def bwrap_usable() -> tuple[bool, str]:
    """(usable, detail): a real sandbox with every namespace started and ran `true`."""
    exe = shutil.which(BWRAP.program)
    if exe is None:
        return False, "bubblewrap is not installed"
    argv = [exe, "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--ro-bind", "/", "/",
            "--proc", "/proc", "--dev", "/dev", "--", "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"bubblewrap could not start: {exc}"
    if proc.returncode != 0:
        return False, f"bubblewrap cannot start a sandbox here: {proc.stderr.strip()[:200]}"
    return True, exe
