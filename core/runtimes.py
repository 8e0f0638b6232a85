"""The job and sandbox runtimes: the one place their names are defined.

Everything else (the job request, clusters.toml, the command-line builders, the CLI, the
doctor) imports `RUNTIMES`, the `Runtime` entries or the `RuntimeName` Literal from here and
asks an entry what it can do instead of comparing names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rigorlab.core.errors import UserError


@dataclass(frozen=True)
class Runtime:
    name: str
    summary: str
    isolates: bool = True        # a sandbox; False: the job runs as a plain host process
    engine: bool = False         # an OCI engine with the docker command line (run, rm, image)
    image: str = "none"          # what `image` names: "oci" reference, "file" (.sif or a URI), "rootfs" folder
    host_programs: bool = False  # runs this machine's own programs (so it gets this machine's PATH)
    cdi_gpus: bool = False       # GPUs as CDI devices (nvidia.com/gpu=N) instead of --gpus
    keep_id: bool = False        # rootless mode maps the caller's uid with --userns keep-id
    forwards_signals: bool = True  # its host process passes TERM/INT on to the program inside
    builds: bool = False         # `rigorlab sandbox build` makes its image
    install: str = ""            # how to get it (rigorlab doctor's fix)

    @property
    def program(self) -> str | None:
        """The host program that starts it (None: a bare job is started by bash itself)."""
        return self.name if self.isolates else None


_ENTRIES: dict[str, dict] = {
    "bare": dict(summary="a plain process on the target machine, no isolation", isolates=False,
                 host_programs=True),
    "bwrap": dict(summary="bubblewrap: the workspace and named folders on a read-only host /usr, "
                  "own namespaces, loopback only", image="rootfs", host_programs=True,
                  forwards_signals=False, install="apt-get install bubblewrap"),
    "docker": dict(summary="Docker engine: own root file system, --network none", engine=True,
                   image="oci", builds=True, install="apt-get install docker.io"),
    "podman": dict(summary="Podman: as Docker; GPUs through CDI", engine=True, image="oci",
                   cdi_gpus=True, keep_id=True, builds=True, install="apt-get install podman"),
    "apptainer": dict(summary="Apptainer: --containall --cleanenv, a .sif image", image="file",
                      builds=True, install="install Apptainer (not packaged for Debian 12)"),
}
RUNTIMES: dict[str, Runtime] = {name: Runtime(name, **kw) for name, kw in _ENTRIES.items()}
BARE, BWRAP, DOCKER, PODMAN, APPTAINER = RUNTIMES.values()
NAMES: tuple[str, ...] = tuple(RUNTIMES)
SANDBOXES: tuple[str, ...] = tuple(n for n, r in RUNTIMES.items() if r.isolates)
ENGINES: tuple[str, ...] = tuple(n for n, r in RUNTIMES.items() if r.engine)
BUILDABLE: tuple[str, ...] = tuple(n for n, r in RUNTIMES.items() if r.builds)

RuntimeName = Literal[NAMES]  # type: ignore[valid-type]
SandboxName = Literal[SANDBOXES]  # type: ignore[valid-type]


def get(name: str, *, sandbox: bool = False) -> Runtime:
    """The runtime called `name`; an unknown name is a UserError listing the valid ones."""
    valid = SANDBOXES if sandbox else NAMES
    if name not in valid:
        raise UserError(f"unknown runtime {name!r}: use one of {', '.join(valid)}")
    return RUNTIMES[name]
