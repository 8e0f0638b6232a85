"""A small local base image for the sandbox tests: busybox-static plus the host's python3.

No registry is reachable here, so the base is a root file system tarball made from host files
(busybox applets, bash, python3 with the shared libraries ldd names, the standard library without
its tests), imported into the engine, then built on with tests/sandbox/image/Dockerfile.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import tarfile
from pathlib import Path

BUSYBOX = "/bin/busybox"
BASH = os.path.realpath("/bin/bash")
APPLETS = ("sh", "ls", "cat", "id", "env", "echo", "mkdir", "touch", "rm", "sleep", "true",
           "false", "wget", "test", "head", "grep")
SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data",
        "site-packages", "dist-packages", "unittest", "distutils"}


CACHE = Path(__file__).resolve().parents[2] / ".run" / "sandbox"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, not a venv's or pyenv's: small and standard


def _python() -> Path:
    return Path(os.path.realpath(SYSTEM_PYTHON))


def _stdlib() -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['stdlib'])"
    return Path(subprocess.run([SYSTEM_PYTHON, "-c", code], capture_output=True, text=True,
                               check=True).stdout.strip())


def _libs(paths: list[str]) -> set[str]:
    """Shared libraries the binaries need (the `=> /path` and loader lines of ldd)."""
    out = subprocess.run(["ldd", *paths], capture_output=True, text=True).stdout
    return set(re.findall(r"=> (/\S+)", out)) | set(re.findall(r"^\s+(/\S+) \(", out, re.M))


def cache_key() -> str:
    stat = os.stat(BUSYBOX)
    text = f"{_python()}|{os.stat(_python()).st_mtime}|{stat.st_size}|{stat.st_mtime}|{BASH}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def make_tar(dest: Path) -> Path:
    """Write the root file system tarball to `dest` (atomically); return it."""
    if not Path(BUSYBOX).is_file():
        raise RuntimeError("busybox-static is missing: bash tests/services/docker.sh start installs it")
    stdlib = _stdlib()
    dynload = sorted(str(p) for p in (stdlib / "lib-dynload").glob("*.so") if "tkinter" not in p.name)
    tmp = dest.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for d in ("tmp", "home", "root", "etc", "usr/bin", "usr/local/bin"):
            _dir(tar, d, 0o1777 if d == "tmp" else 0o755)
        tar.add(BUSYBOX, "bin/busybox")
        for a in APPLETS:
            _link(tar, f"bin/{a}", "busybox")
        py = _python()
        tar.add(str(py), f"usr/bin/{py.name}")
        _link(tar, "usr/bin/python3", py.name)
        tar.add(BASH, "usr/bin/bash")  # job wrappers run `bash command.sh`
        _link(tar, "bin/bash", "../usr/bin/bash")
        for lib in sorted(_libs([str(py), BASH, *dynload])):
            tar.add(os.path.realpath(lib), lib.lstrip("/"))
        tar.add(str(stdlib), str(stdlib).lstrip("/"),
                filter=lambda ti: None if _skip(Path(ti.name).name) else ti)
        _file(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n")
        _file(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n")
    os.replace(tmp, dest)
    return dest


def _skip(name: str) -> bool:
    return name in SKIP or name.startswith("config-3") or "tkinter" in name


def _dir(tar: tarfile.TarFile, name: str, mode: int) -> None:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode = tarfile.DIRTYPE, mode
    tar.addfile(ti)


def _link(tar: tarfile.TarFile, name: str, target: str) -> None:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
    tar.addfile(ti)


def _file(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode = len(data), 0o644
    tar.addfile(ti, io.BytesIO(data))


def build_test_image(runtime: str) -> str:
    """Import the base (once) and build the test image through rigorlab.sandbox.build; its tag."""
    from rigorlab.sandbox.build import build_image, import_tar
    key = cache_key()
    base, tag = f"rigorlab-testbase:{key}", f"rigorlab-sbxtest:{key}"
    tar = CACHE / f"testbase-{key}.tar"
    if not tar.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        make_tar(tar)
    if not has_image(runtime, base):
        import_tar(runtime, tar, base, log=lambda _: None)
    build_image(runtime, base=base, tag=tag, context=Path(__file__).parent / "image",
                log=lambda _: None)
    return tag


def has_image(runtime: str, tag: str) -> bool:
    if runtime == "podman":
        return subprocess.run(["podman", "image", "exists", tag]).returncode == 0
    import docker
    from docker.errors import ImageNotFound
    try:
        docker.from_env().images.get(tag)
        return True
    except ImageNotFound:
        return False
