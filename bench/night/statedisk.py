"""The state folder on a small disk of its own (a tmpfs), so the night can fill it for a few
seconds the way a full scratch disk would: every write of the server and of local jobs there
fails with ENOSPC until the ballast is removed."""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

BALLAST = ".night-ballast"


class StateDisk:
    def __init__(self, path: Path, size_mb: int) -> None:
        self.path = Path(path)
        self.size_mb = size_mb
        self.mounted = False
        self.full = False

    def mount(self) -> str | None:
        """Mount the tmpfs; None, or why the disk-full fault cannot run (then the folder is plain)."""
        self.path.mkdir(parents=True, exist_ok=True)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m,mode=0755", "tmpfs",
                            str(self.path)], capture_output=True, text=True)
        if p.returncode != 0:
            return f"mount -t tmpfs refused: {p.stderr.strip() or p.returncode}"
        self.mounted = True
        return None

    def fill(self) -> int:
        """Take every free block; returns the bytes taken."""
        taken = 0
        fd = os.open(self.path / BALLAST, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = 1 << 20
            while True:
                try:
                    taken += os.write(fd, b"\0" * size)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    if size == 512:
                        break
                    size = max(512, size // 16)
        finally:
            os.close(fd)
        self.full = True
        return taken

    def free(self) -> None:
        (self.path / BALLAST).unlink(missing_ok=True)
        self.full = False

    def used_mb(self) -> float:
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize / 2**20

    def unmount(self) -> None:
        self.free()
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
            self.mounted = False
