"""The machine the server runs on: its GPUs (config or nvidia-smi) or CPU slots."""
from __future__ import annotations

from rigorlab.clusters.backends.slots import SlotBackend
from rigorlab.clusters.inventory import local_gpus
from rigorlab.clusters.shell import LocalShell


class LocalBackend(SlotBackend):
    kind = "local"

    def __init__(self, cfg, timing, on_exit=None) -> None:
        super().__init__("local", timing, local_gpus(cfg.gpus), cfg.cpu_slots,
                         cfg.runtime, cfg.image)
        self._shell = LocalShell(on_exit)

    def shell(self) -> LocalShell:
        return self._shell

    def reachability(self) -> tuple[bool, str]:
        n = len(self.gpus)
        return True, f"this machine, {n} GPU{'s' if n != 1 else ''}" if n else "this machine, CPU slots only"

