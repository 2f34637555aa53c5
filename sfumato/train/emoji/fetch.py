"""Fetch pinned npm tarballs with `npm pack` into the cache, verify their hash, extract needed files safely.

Layout: `<cache>/<name>-<version>.tgz` and the extracted `<cache>/<name>-<version>/package/...`, where
`cache` is `<home>/cache/npm`. A marker file records what was extracted, so later builds run offline.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Final

from sfumato.atomic_write import atomic_write_bytes
from sfumato.errors import BadInput, SfumatoError
from sfumato.train.emoji.sources import NpmPackage, check_allowed

MARKER: Final = ".sfumato-extracted.json"
NPM_TIMEOUT_S: Final = 600  # the largest tarball (Noto, 74 MB) took 1-8 s here; slow links need more


def ensure_package(package: NpmPackage, *, cache: Path) -> Path:
    """The extracted folder of a pinned package, fetched and extracted only when the cache lacks it."""
    check_allowed(package.name)
    root = cache / package.folder
    marker = root / MARKER
    expected = marker_text(package)
    if marker.is_file() and marker.read_text(encoding="utf-8") == expected:
        return root
    tarball = fetch_tarball(package, cache=cache)
    extract_members(tarball, root, patterns=package.members)
    atomic_write_bytes(marker, expected.encode("utf-8"))
    return root


def marker_text(package: NpmPackage) -> str:
    """What the marker of a complete extraction holds: the package, its hash and the member patterns."""
    record = {"package": package.spec, "integrity": package.integrity, "members": list(package.members)}
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def fetch_tarball(package: NpmPackage, *, cache: Path) -> Path:
    """`npm pack NAME@VERSION` into the cache; the hash npm reports and the file's own must equal the pin."""
    check_allowed(package.name)
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"{package.folder}.tgz"
    if tarball.is_file() and sri_sha512(tarball) == package.integrity:
        return tarball
    with tempfile.TemporaryDirectory(dir=cache, prefix=".npm-pack-") as scratch:
        reported = _npm_pack(package, Path(scratch))
        if reported["integrity"] != package.integrity:
            raise SfumatoError(
                f"npm pack {package.spec}: integrity must equal the pinned value; npm reported "
                f"{reported['integrity']!r}, pinned {package.integrity!r}",
                hint="the registry served a different tarball; do not train on it until the pin is reviewed",
            )
        downloaded = Path(scratch) / reported["filename"]
        if (actual := sri_sha512(downloaded)) != package.integrity:
            raise SfumatoError(f"{downloaded.name}: sha512 must equal {package.integrity!r}, got {actual!r}")
        os.replace(downloaded, tarball)
    return tarball


def _npm_pack(package: NpmPackage, folder: Path) -> dict[str, str]:
    command = ["npm", "pack", package.spec, "--json", "--ignore-scripts", "--pack-destination", str(folder)]
    try:
        done = subprocess.run(
            command, cwd=folder, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False
        )
    except FileNotFoundError as e:
        raise SfumatoError("npm pack: the npm command was not found", hint="install Node.js (npm 9+)") from e
    if done.returncode != 0:
        detail = done.stderr.strip()[-500:]
        raise SfumatoError(f"npm pack {package.spec} failed (exit {done.returncode}): {detail}")
    try:
        entry = json.loads(done.stdout)[0]
        return {"integrity": str(entry["integrity"]), "filename": str(entry["filename"])}
    except (ValueError, LookupError, TypeError) as e:
        report = done.stdout[:300]
        raise SfumatoError(f"npm pack {package.spec}: could not read its --json report: {report!r}") from e


def sri_sha512(path: Path) -> str:
    """The Subresource Integrity string npm uses: 'sha512-' + base64 of the digest."""
    digest = hashlib.sha512()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def check_member(member: tarfile.TarInfo) -> PurePosixPath:
    """A member's relative path; absolute paths, '..', links and device files are refused."""
    path = PurePosixPath(member.name)
    if "\\" in member.name or path.is_absolute() or ".." in path.parts:
        raise BadInput(f"tar member {member.name!r}: paths must be relative and stay inside the folder")
    if not (member.isfile() or member.isdir()):
        raise BadInput(f"tar member {member.name!r}: only regular files and folders are extracted, not links")
    return path


def extract_members(tarball: Path, dest: Path, *, patterns: tuple[str, ...]) -> Path:
    """Extract the regular files matching `patterns` into `dest`, replacing it whole once complete.

    Every member is checked first: one unsafe member refuses the whole tarball.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "r:*") as archive:
        members = [(check_member(member), member) for member in archive.getmembers()]
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".extract-") as scratch:
            staging = Path(scratch) / "root"
            staging.mkdir()
            for path, member in members:
                if member.isfile() and any(fnmatch.fnmatchcase(str(path), p) for p in patterns):
                    _copy_member(archive, member, staging / path)
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(staging, dest)
    return dest


def _copy_member(archive: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    source = archive.extractfile(member)
    if source is None:  # isfile() was checked; extractfile returns None only for non-files
        raise BadInput(f"tar member {member.name!r}: cannot be read as a file")
    target.parent.mkdir(parents=True, exist_ok=True)
    with source, target.open("wb") as out:
        shutil.copyfileobj(source, out)

