"""The distribution owns one top-level name, `rigorlab`, and carries every module and data file."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("server", "tools", "rules", "sandbox", "clusters", "core")


def _build_wheel(tmp_path: Path) -> zipfile.ZipFile:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "dist"
    code = ("import sys; from setuptools.build_meta import build_wheel; "
            "print(build_wheel(sys.argv[1]))")
    name = subprocess.run([sys.executable, "-c", code, str(out)], cwd=src, check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return zipfile.ZipFile(out / name)


def test_wheel_installs_only_rigorlab_and_every_source_and_data_file(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(wheel.namelist())
    top = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert wheel.read(top).decode().split() == ["rigorlab"]
    assert {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")} == {"rigorlab"}
    tracked = subprocess.run(["git", "ls-files", *FOLDERS], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout.split()
    missing = [f for f in tracked if f"rigorlab/{f}" not in names]
    assert not missing, f"left out of the wheel (add the package or its data to pyproject): {missing}"
