"""Getting a feed's files: from a folder or a zip (a zip bomb refused while reading, before it is in
memory), the files in one sub-folder found too."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from twin.transport.gtfs.feed import OPTIONAL_FILES, REQUIRED_FILES, FeedError, Problem
from twin.transport.gtfs.problems import Problems, cut

# --------------------------------------------------------------------------------------------------
# Getting the files' bytes


def read_files(source: Path, problems: Problems) -> dict[str, bytes]:
    """The bytes of the feed's known files by name; a member that cannot be read is an error."""
    if source.is_dir():
        return {name: path.read_bytes() for name, path in _folder_files(source).items()}
    if not source.is_file():
        raise FeedError([Problem("error", source.name, None, None, f"no such file or folder: {cut(source)}")])
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        detail = "an empty file" if source.stat().st_size == 0 else str(exc)
        problem = Problem("error", source.name, None, None, f"not a zip file ({cut(detail)})")
        raise FeedError([problem]) from None
    unsafe = [i.filename for i in archive.infolist() if _unsafe(i.filename)]
    if unsafe:
        # Never unpacked to disk here, but a name that climbs out of its folder is a crafted archive.
        problem = Problem(
            "error",
            source.name,
            None,
            None,
            f"the archive names a path outside itself ({cut(unsafe[0])}): refused",
            "unsafe_archive_path",
        )
        archive.close()
        raise FeedError([problem])
    files = {}
    unpacked = 0
    with archive:
        for name, member in _zip_files(archive).items():
            try:
                files[name] = _read_member(archive, member, MAX_UNPACKED_BYTES - unpacked)
            except _TooLarge:
                # A zip bomb, or a feed far beyond any city's: refused before it is in memory.
                raise FeedError(
                    [
                        Problem(
                            "error",
                            name,
                            None,
                            None,
                            f"the feed unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB; "
                            "it is not read any further",
                            "feed_too_large",
                        )
                    ]
                ) from None
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                problems.add("i_o_error", name, None, None, f"cannot be read from the zip: {cut(exc)}")
                continue
            unpacked += len(files[name])
    return files


MAX_UNPACKED_BYTES = 2**30
"""The most a zipped feed may unpack to (the whole of Sofia's is 18 MiB; a national feed of several
GiB is not a city's). Counted while reading, since a zip's declared sizes can lie."""


class _TooLarge(Exception):
    pass


def _read_member(archive: zipfile.ZipFile, member: str, budget: int) -> bytes:
    if archive.getinfo(member).file_size > budget:
        raise _TooLarge
    chunks = []
    with archive.open(member) as stream:
        while chunk := stream.read(1 << 20):
            budget -= len(chunk)
            if budget < 0:
                raise _TooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def _folder_files(folder: Path) -> dict[str, Path]:
    wanted = set(REQUIRED_FILES + OPTIONAL_FILES)
    files = {p.name: p for p in folder.iterdir() if p.is_file() and p.name in wanted}
    if not files:
        # Unpacked feeds often keep the zip's own top folder.
        subfolders = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
        if len(subfolders) == 1:
            return _folder_files(subfolders[0])
    return files


def _unsafe(name: str) -> bool:
    """An absolute path, a drive, or a `..` step: a member that would land outside the archive."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def _zip_files(archive: zipfile.ZipFile) -> dict[str, str]:
    """Member names by file name: those at the top, else those of the one folder that has any."""
    wanted = set(REQUIRED_FILES + OPTIONAL_FILES)
    by_folder: dict[str, dict[str, str]] = {}
    for info in archive.infolist():
        if info.is_dir() or info.filename.startswith("__MACOSX/"):
            continue
        folder, _, name = info.filename.rpartition("/")
        if name in wanted:
            by_folder.setdefault(folder, {})[name] = info.filename
    if "" in by_folder:
        return by_folder[""]
    return next(iter(by_folder.values())) if len(by_folder) == 1 else {}
