"""The one way rigorlab writes a file or a folder into a place an agent can also write.

Every component below the trusted `root` is opened through directory file descriptors with
O_NOFOLLOW, so a symlink planted anywhere on the way (or swapped in after a path was checked)
is refused instead of followed. A file is written to a fresh temporary name in its final
folder, created with O_EXCL|O_NOFOLLOW, fsynced and renamed into place; a final name that is a
link is refused. A folder is built in a private staging folder outside the workspace (in
rigorlab's state home, which no sandbox mounts) and moved in whole, so a reader (or a kill -9)
sees the complete folder or nothing. Reads of files whose content rigorlab returns or trusts
go through `read_bytes`/`open_read`: no link is followed out of `root`.

    with safefs.open_atomic(path, root=ws) as fh: fig.savefig(fh, format="png")
    safefs.write_text(path, text, root=ws)
    with safefs.new_folder(path, root=ws) as tmp: model.save_pretrained(tmp / "model")
    text = safefs.read_bytes("CLAUDE.md", root=ws, follow=True).decode()
"""
from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from rigorlab.core.errors import UserError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(UserError):
    """A link or a non-folder where rigorlab must write; the message names it."""


def _parts(path: str | os.PathLike[str], root: Path) -> tuple[str, ...]:
    p = Path(path)
    if not p.is_absolute():
        p = root / p
    try:
        rel = p.relative_to(root)
    except ValueError:
        raise UnsafePath(f"{p} is outside {root}: write inside the workspace") from None
    parts = rel.parts
    if not parts or any(x in ("", ".", "..") for x in parts):
        raise UnsafePath(f"{p} is not a file name inside {root}")
    return parts


def _refuse(root: Path, parts: tuple[str, ...], i: int, why: str) -> UnsafePath:
    where = root.joinpath(*parts[: i + 1])
    return UnsafePath(f"refusing to use {where}: {why}. Replace it with the real file or folder "
                      "(rigorlab follows no link where it writes, nor out of the workspace where "
                      "it reads) or choose another path.")


def open_dir(root: Path, parts: tuple[str, ...], *, create: bool = True) -> int:
    """A file descriptor of root/parts..., each component opened without following links."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts):
            try:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)  # mkdir never follows a link at its name
                except FileExistsError:
                    pass
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise _refuse(root, parts, i, "it is a symbolic link or not a folder") from exc
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                    raise _refuse(root, parts, i, "it is a symbolic link or not a folder") from exc
                raise
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_final(dfd: int, name: str, root: Path, parts: tuple[str, ...], replace: bool,
                 kind: str) -> os.stat_result | None:
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(root, parts, len(parts) - 1, "it is a symbolic link")
    if kind == "file" and not stat.S_ISREG(st.st_mode):
        raise _refuse(root, parts, len(parts) - 1, "it exists and is not a regular file")
    if not replace:
        raise UserError(f"{root.joinpath(*parts)} already exists: choose another name "
                        "(rigorlab does not overwrite it)")
    return st


def _gone(root: Path, parts: tuple[str, ...]) -> UserError:
    return UserError(f"{root.joinpath(*parts[:-1])} was removed or replaced while "
                     f"{parts[-1]} was being written into it: nothing was written; try again")


def _tmp_name(name: str) -> str:
    return f".{name[:40]}.{secrets.token_hex(8)}.tmp"


@contextmanager
def open_atomic(path: str | os.PathLike[str], *, root: str | os.PathLike[str],
                replace: bool = True, mode: int | None = None) -> Iterator[BinaryIO]:
    """A binary file object that becomes `path` when the block succeeds (see module doc).

    The new file keeps the mode of the file it replaces, else `mode`, else 0o644.
    """
    root = Path(root)
    parts = _parts(path, root)
    dfd = open_dir(root, parts[:-1])
    name, tmp = parts[-1], _tmp_name(parts[-1])
    try:
        old = _check_final(dfd, name, root, parts, replace, "file")
        perm = stat.S_IMODE(old.st_mode) if old else (0o644 if mode is None else mode)
        try:
            fd = os.open(tmp, _NEW_FILE, 0o600, dir_fd=dfd)
        except FileNotFoundError:
            raise _gone(root, parts) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh  # type: ignore[misc]
                fh.flush()
                os.fchmod(fh.fileno(), perm)
                os.fsync(fh.fileno())
            _check_final(dfd, name, root, parts, replace, "file")
            if replace:
                try:
                    os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                except FileNotFoundError:
                    raise _gone(root, parts) from None
            else:
                try:
                    os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd, follow_symlinks=False)
                except FileExistsError:
                    raise UserError(f"{root.joinpath(*parts)} appeared while it was being "
                                    "written: choose another name") from None
                os.unlink(tmp, dir_fd=dfd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            raise
    finally:
        os.close(dfd)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, root: str | os.PathLike[str],
                replace: bool = True, mode: int | None = None) -> None:
    with open_atomic(path, root=root, replace=replace, mode=mode) as fh:
        fh.write(data)


def write_text(path: str | os.PathLike[str], text: str, *, root: str | os.PathLike[str],
               replace: bool = True, mode: int | None = None) -> None:
    write_bytes(path, text.encode("utf-8"), root=root, replace=replace, mode=mode)


def make_dirs(path: str | os.PathLike[str], *, root: str | os.PathLike[str]) -> None:
    """mkdir -p without following a link on the way."""
    os.close(open_dir(Path(root), _parts(path, Path(root))))


def _inside_parts(path: str | os.PathLike[str], root: Path) -> tuple[str, ...]:
    """The parts of `path` with every link resolved, refused unless it stays below root."""
    p = Path(path)
    p = p if p.is_absolute() else root / p
    real, base = Path(os.path.realpath(p)), Path(os.path.realpath(root))
    if real != base and not real.is_relative_to(base):
        raise UnsafePath(f"refusing to use {p}: it is (or runs through) a symbolic link that leads "
                         f"out of {root}. Replace it with the real file.")
    return _parts(real, base)


@contextmanager
def open_read(path: str | os.PathLike[str], *, root: str | os.PathLike[str],
              follow: bool = False) -> Iterator[BinaryIO]:
    """A file below `root` opened for reading without following a link out of it.

    follow=False refuses a link anywhere on the way; follow=True resolves links first and
    accepts them when their target stays below root (CLAUDE.md -> AGENTS.md), then opens the
    resolved path refusing any link, so a link swapped in after the check is refused too.
    """
    root = Path(root)
    parts = _inside_parts(path, root) if follow else _parts(path, root)
    base = Path(os.path.realpath(root)) if follow else root
    dfd = open_dir(base, parts[:-1], create=False)
    try:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                         dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _refuse(base, parts, len(parts) - 1, "it is a symbolic link") from exc
            raise
        fh = os.fdopen(fd, "rb")
    finally:
        os.close(dfd)
    with fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise _refuse(base, parts, len(parts) - 1, "it is not a regular file")
        os.set_blocking(fh.fileno(), True)
        yield fh  # type: ignore[misc]


def read_bytes(path: str | os.PathLike[str], *, root: str | os.PathLike[str],
               limit: int | None = None, follow: bool = False) -> bytes:
    """Read a file below `root` without following a link out of it (see open_read)."""
    with open_read(path, root=root, follow=follow) as fh:
        return fh.read() if limit is None else fh.read(limit)


def _staging_root() -> Path:
    """Where folders are staged: rigorlab's state home (never mounted into a sandbox, and on a
    disk rather than a RAM-backed /tmp), else the system temporary folder."""
    from rigorlab.core.paths import state_home
    try:
        base = state_home() / "staging"
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        return base
    except OSError:
        return Path(tempfile.gettempdir())


def read_text(path: str | os.PathLike[str], *, root: str | os.PathLike[str],
              follow: bool = True) -> str | None:
    """The text of a file below `root` (undecodable bytes replaced), None when there is none.

    Links are followed while they stay below root (see open_read); one that leaves it is
    refused with an UnsafePath that names it.
    """
    try:
        return read_bytes(path, root=root, follow=follow).decode("utf-8", "replace")
    except (FileNotFoundError, NotADirectoryError):
        return None


@contextmanager
def new_folder(path: str | os.PathLike[str], *, root: str | os.PathLike[str],
               replace: bool = False) -> Iterator[Path]:
    """A private staging folder (outside `root`) that appears at `path`, whole, on success.

    `path` must not exist yet, unless `replace`: then an existing folder there is moved aside
    and removed (without following a link inside it) once the new one is in place.
    """
    root = Path(root)
    parts = _parts(path, root)
    staging = Path(tempfile.mkdtemp(prefix="rigorlab-stage-", dir=_staging_root()))
    try:
        dfd = open_dir(root, parts[:-1])
        try:
            _check_final(dfd, parts[-1], root, parts, replace, "folder")
            yield staging
            _publish(staging, dfd, root, parts, replace)
        finally:
            os.close(dfd)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, dfd: int, root: Path, parts: tuple[str, ...], replace: bool) -> None:
    name = parts[-1]
    old = _check_final(dfd, name, root, parts, replace, "folder")
    aside = None
    if old is not None:
        if not stat.S_ISDIR(old.st_mode):
            raise _refuse(root, parts, len(parts) - 1, "it exists and is not a folder")
        aside = _tmp_name(name)
        os.rename(name, aside, src_dir_fd=dfd, dst_dir_fd=dfd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    try:
        _move_in(staging, dfd, root, parts)
    except BaseException:
        if aside is not None:
            os.rename(aside, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        raise
    if aside is not None:
        _remove_tree(dfd, aside)


def _move_in(staging: Path, dfd: int, root: Path, parts: tuple[str, ...]) -> None:
    name = parts[-1]
    try:
        os.rename(staging, name, dst_dir_fd=dfd)
        return
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise _gone(root, parts) from exc
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
            raise UserError(f"{root.joinpath(*parts)} appeared while it was being written: "
                            "choose another name") from exc
        if exc.errno != errno.EXDEV:
            raise
    tmp = _tmp_name(name)
    try:
        os.mkdir(tmp, 0o777, dir_fd=dfd)
    except FileNotFoundError:
        raise _gone(root, parts) from None
    try:
        _copy_tree(staging, dfd, tmp)
        os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        _remove_tree(dfd, tmp)
        raise


def _copy_tree(src: Path, parent_fd: int, name: str) -> None:
    fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    try:
        for entry in os.scandir(src):
            if entry.is_dir(follow_symlinks=False):
                os.mkdir(entry.name, 0o777, dir_fd=fd)
                _copy_tree(Path(entry.path), fd, entry.name)
            elif entry.is_file(follow_symlinks=False):  # links in staging are not published
                out = os.open(entry.name, _NEW_FILE, 0o666, dir_fd=fd)
                with open(entry.path, "rb") as fin, os.fdopen(out, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
    finally:
        os.close(fd)


def _remove_tree(parent_fd: int, name: str) -> None:
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError:
        return
    try:
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                _remove_tree(fd, entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)
