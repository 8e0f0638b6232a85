"""Image names a job or a sandbox may ask for, checked before any command line is built.

An OCI image is an image reference in the grammar of the distribution project
(github.com/distribution/reference, regexp.go): `[host[:port]/]path[:tag][@digest]`, lower-case
path components, at most 255 characters for the name. Nothing that passes can start with "-",
and the command lines put it after "--" too, so an image is never read as an option.
"""
from __future__ import annotations

import os
import re

from rigorlab.core.errors import UserError
from rigorlab.core.runtimes import Runtime

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
# Bracketed IPv6 hosts are left out: engines as recent as Docker 20.10 refuse them.
_HOST = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::{_TAG})?(?:@{_DIGEST})?", re.ASCII)
NAME_MAX = 255
# Sources apptainer takes besides a .sif file: an OCI reference behind one of these schemes.
APPTAINER_SCHEMES = ("docker://", "docker-daemon:", "oras://")
HOW = ("an image reference such as rigorlab-sandbox:latest, registry.example:5000/team/img:1.2 "
       "or name@sha256:<hex>")


def is_reference(text: str) -> bool:
    m = REFERENCE.fullmatch(text)
    return m is not None and len(m.group("name")) <= NAME_MAX and not _upper_non_host(m.group("name"))


def _upper_non_host(name: str) -> bool:
    """A first component that is not a host (no "." or ":", not localhost) is a path component
    for the engines, and they refuse one with capitals, although the grammar reads it as a host."""
    first, slash, _ = name.partition("/")
    return bool(slash) and not any(c in first for c in ".:") and first != "localhost" and first != first.lower()


def check_image(runtime: Runtime, image: str | None) -> str | None:
    """`image` if `runtime` can run it, else a UserError that says what to give instead."""
    if image is None:
        return None
    if not isinstance(image, str) or not image:
        raise UserError(f"image must be a non-empty string; give {HOW}, or omit it")
    if runtime.image == "none":
        raise UserError(f"runtime {runtime.name!r} runs no image: omit image, or choose a "
                        "container runtime")
    if runtime.image == "oci":
        if not is_reference(image):
            raise UserError(f"image {_show(image)} is not a valid image reference for "
                            f"{runtime.name}: give {HOW}")
        return image
    if runtime.image == "file":
        scheme = next((s for s in APPTAINER_SCHEMES if image.startswith(s)), None)
        if scheme is not None and is_reference(image[len(scheme):]):
            return image
        if scheme is None and _plain_path(image):
            return image
        raise UserError(f"image {_show(image)} is not an apptainer image: give the absolute path "
                        f"of a .sif file, or {', '.join(APPTAINER_SCHEMES)} followed by {HOW}")
    if not _plain_path(image):
        raise UserError(f"image {_show(image)} is not a root file system folder for "
                        f"{runtime.name}: give an absolute path (a debootstrap folder), or omit it")
    return image


def _plain_path(text: str) -> bool:
    return os.path.isabs(text) and not any(c in text for c in "\x00\n,:")


def _show(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
