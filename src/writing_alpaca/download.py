"""Stage ``download``: fetch the upstream files of one source into ``resources/downloads/{source}/``.

Command (see docs/DESIGN.md)::

    writing-alpaca download --name SOURCE --spec JSON --out DIR
        [--manual-dir DIR] [--attempts N] [--retry-delay S] [--timeout S] [--keep-archives] [--progress|--no-progress]

``--spec`` is the config fragment ``sources.<SOURCE>``.  Three forms are supported:

``files`` (plain download)::

    {"files": [{"url": "https://...|file:///abs/path", "sha256": "<64 hex>"|null,
                "name": "<path to save as, relative to DIR>", "extract": true|false}],
     "licence": "..."}

    Only ``url`` is required: ``name`` defaults to the last component of the URL path,
    ``sha256`` to null and ``extract`` to false.  HTTP(S) and ``file://`` URLs go through
    one code path (``urllib``); relative ``file:`` URLs must be made absolute first
    (:func:`resolve_url`, which the rules call).  Every file is streamed to a temporary
    ``.part`` file, its size is checked against ``Content-Length`` when the server sends
    one, and only then is it renamed into place.  Network errors (connection refused or
    reset, time-outs, truncated bodies, HTTP 408/429/5xx) are retried with exponential
    backoff (``--attempts``, default 4; delay ``--retry-delay * 2**k``, capped at 60 s);
    other HTTP errors (404, 403, ...) and ``file://`` errors fail at once.  A pinned
    ``sha256`` that does not match is an error naming the URL and both hashes, and the
    file is deleted; ``sha256: null`` logs a warning with the actual hash so that it can
    be pinned.

    ``extract: true`` unpacks ``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``/``.tbz2``,
    ``.tar.xz``/``.txz`` and ``.zip`` archives into DIR.  Members with absolute paths or
    ``..`` components, links pointing outside DIR, device files, and members that would
    overwrite another file of the source are rejected; ``__MACOSX/`` resource-fork entries
    of zip files are skipped.  **The archive is deleted after extraction** (its URL,
    size, sha256 and extracted file list stay in the manifest) unless ``--keep-archives``.

``hf`` (a Hugging Face dataset, saved as JSON lines ``DIR/<file>``)::

    {"hf": {"path": ..., "name": <config>|null, "split": "train", "file": "train.jsonl",
            "data_files": <str | [str] | {split: str}>  (optional)}}

    ``path`` may be
      * a directory written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``
        (read with ``datasets.load_from_disk``; ``split`` picks from a DatasetDict);
      * a local data file (``.json``/``.jsonl``, ``.csv``, ``.tsv``, ``.parquet``, ``.txt``),
        read with the matching packaged builder;
      * any other local directory (e.g. a clone of a Hub dataset repository), or a
        packaged builder name (``json``, ``csv``, ...) together with ``data_files``,
        passed to ``datasets.load_dataset(path, name, data_files=..., split=split)``;
      * a Hub id (``tatsu-lab/alpaca``), passed to ``datasets.load_dataset(path, name,
        split=split)``.  With ``HF_DATASETS_OFFLINE=1`` (or ``HF_HUB_OFFLINE=1``) it is
        read from the local ``datasets`` cache; nothing here overrides those variables.
        A Hub id is loaded at the source's ``revision`` when it has one.
    ``file:`` URLs are accepted for ``path``.  Local paths never touch the network.

``gated`` (licence-gated: never fetched)::

    {"gated": {"request": "<where to ask for the data>", "place": "<what to put where>"},
     "files": [{"name": ..., "sha256": ..., "extract": ...}]  (optional; urls are ignored),
     "licence": "..."}

    The user places the files at ``--manual-dir`` (default ``resources/manual/<SOURCE>``).
    When ``files`` is given each named file must be there (and match its pinned sha256);
    without ``files`` every regular file under the manual directory is taken.  The files
    are copied (never moved or modified) into DIR.  If anything is missing the command
    fails with one message saying where to request the data and where to put it.

DIR is written atomically (:func:`writing_alpaca.io.atomic_dir`): it is either complete
or absent; a failed run leaves an existing DIR unchanged.  ``DIR/MANIFEST.json`` lists
every file with its origin, size and sha256 (``files``), and the size and sha256 of every
file in DIR, extracted archive members included (``contents``).

Checks:

* Content: a file whose first bytes are not what its name declares is an error naming the
  URL and what was received (:func:`sniff_content`): an HTML page (a login or error page
  served with status 200) where text, TSV, JSON or an archive is expected, an archive or
  compressed file with the wrong magic bytes, a ``.json``/``.jsonl`` file that does not
  start with ``{`` or ``[``.  For a pinned file the sha256 decides; a mismatch names what
  was received.
* Cached copies: consumers (``writing-alpaca data``) call :func:`verify_download` before
  parsing a file of DIR; a file that no longer matches ``contents`` is one
  :class:`DownloadCorruptError` naming the file, both hashes and the fix (delete DIR and
  download again).
* The last verified download is kept as hard links (no extra disk space) in the hidden
  sibling ``.<DIR name>.last-good`` (:func:`kept_dir`) until a verified replacement
  exists: Snakemake removes a rule's output before rerunning it (say, after an overlay
  changes a pin) and again when it fails, so the good copy survives a failing re-download
  there, and pinned files (or archives) whose sha256 it still matches are taken from it
  instead of being fetched again.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from . import __version__
from . import settings as S
from .errors import WritingAlpacaError
from .hashing import sha256_file
from .io import atomic_dir, parse_json_arg, read_json, write_json, write_jsonl
from .progress import Progress, stderr_is_tty

log = logging.getLogger(__name__)

MANIFEST_NAME = "MANIFEST.json"
CHUNK_SIZE = 1 << 20
#: Progress (a bar on a terminal, else log lines) is shown when stderr is a terminal, or for files
#: at least this large.
LARGE_FILE_BYTES = 50 * (1 << 20)
#: HTTP statuses worth retrying; every other HTTP error is permanent.
RETRY_HTTP_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_HF_FILE_BUILDERS = {
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".txt": "text",
}
_FILE_KEYS = frozenset({"url", "sha256", "name", "extract"})
_HF_KEYS = frozenset({"path", "name", "split", "file", "data_files"})
_SOURCE_KEYS = frozenset({"files", "hf", "gated", "licence", "revision"})


class DownloadCorruptError(WritingAlpacaError):
    """A cached download no longer matches its ``MANIFEST.json`` (a file changed, vanished or was added)."""


class UnexpectedContentError(WritingAlpacaError):
    """A downloaded file is not what its name declares (an HTML page for a TSV, a zip that is not a zip)."""


# ---------------------------------------------------------------------------
# Spec


@dataclass(frozen=True)
class FileSpec:
    """One file of a ``files`` source."""

    url: str | None
    name: str
    sha256: str | None
    extract: bool


@dataclass(frozen=True)
class HfSpec:
    """A Hugging Face dataset split, saved as ``file`` (JSON lines)."""

    path: str
    name: str | None
    split: str
    file: str
    data_files: str | list[str] | dict[str, Any] | None = None
    revision: str | None = None  # the source's ``revision``: a Hub dataset is loaded at it


@dataclass(frozen=True)
class GatedSpec:
    """Licence-gated source: the user requests the data and places it by hand."""

    request: str
    place: str


@dataclass(frozen=True)
class SourceSpec:
    """A validated ``sources.<name>`` config fragment."""

    name: str
    files: tuple[FileSpec, ...] = ()
    hf: HfSpec | None = None
    gated: GatedSpec | None = None
    licence: str | None = None
    revision: str | None = None  # recorded in the manifest (the files' URLs name it: settings.Source)


@dataclass(frozen=True)
class FetchOptions:
    """How to fetch URLs: retries, back-off, time-out and progress display."""

    attempts: int = 4
    base_delay: float = 2.0
    max_delay: float = 60.0
    timeout: float = 60.0
    progress: bool | None = None  # None: automatic (TTY or large file)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise WritingAlpacaError(f"--attempts must be at least 1, got {self.attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise WritingAlpacaError("retry delays must not be negative")
        if self.timeout <= 0:
            raise WritingAlpacaError(f"--timeout must be positive, got {self.timeout}")


@dataclass
class FileRecord:
    """One entry of ``MANIFEST.json``."""

    name: str
    size: int
    sha256: str
    pinned: bool
    url: str | None = None
    placed: str | None = None
    hf: dict[str, Any] | None = None
    rows: int | None = None
    archive: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "size": self.size, "sha256": self.sha256, "pinned": self.pinned}
        for key in ("url", "placed", "hf", "rows", "archive"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _where(source: str, *parts: str | int) -> str:
    path = f"sources.{source}"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _check_keys(obj: Any, where: str, allowed: frozenset[str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise WritingAlpacaError(f"{where}: expected a mapping, got {type(obj).__name__}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise WritingAlpacaError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    for key in required:
        if obj.get(key) in (None, ""):
            raise WritingAlpacaError(f"{where}: missing key '{key}'")
    return obj


def _check_str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise WritingAlpacaError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _check_relative_name(name: Any, where: str) -> str:
    """A file name inside the source directory: relative, no '..', not the manifest."""
    name = _check_str(name, where)
    posix = PurePosixPath(name.replace("\\", "/"))
    if _unsafe_member_name(name) or posix.name in ("", "."):
        raise WritingAlpacaError(f"{where}: '{name}' must be a relative path without '..'")
    if posix.as_posix() == MANIFEST_NAME:
        raise WritingAlpacaError(f"{where}: '{MANIFEST_NAME}' is reserved for the manifest")
    return posix.as_posix()


def _check_sha256(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256_RE.match(value.strip().lower()):
        raise WritingAlpacaError(f"{where}: expected 64 hex digits or null, got {value!r}")
    return value.strip().lower()


def _default_name(url: str) -> str:
    return urllib.parse.unquote(PurePosixPath(urllib.parse.urlsplit(url).path).name)


def parse_source_spec(name: str, spec: Any) -> SourceSpec:
    """Validate a ``sources.<name>`` fragment; every problem is one error naming the key."""
    where = _where(name)
    spec = _check_keys(spec, where, _SOURCE_KEYS)
    licence = spec.get("licence")
    if licence is not None and not isinstance(licence, str):
        raise WritingAlpacaError(f"{where}.licence: expected a string, got {licence!r}")
    revision = spec.get("revision")
    if revision is not None:
        revision = _check_str(revision, f"{where}.revision")

    gated = None
    if spec.get("gated") is not None:
        g = _check_keys(spec["gated"], f"{where}.gated", frozenset({"request", "place"}), ("request", "place"))
        gated = GatedSpec(
            _check_str(g["request"], f"{where}.gated.request"), _check_str(g["place"], f"{where}.gated.place")
        )

    has_files = spec.get("files") is not None
    has_hf = spec.get("hf") is not None
    if has_files and has_hf:
        raise WritingAlpacaError(f"{where}: give either 'files' or 'hf', not both")
    if gated is not None and has_hf:
        raise WritingAlpacaError(f"{where}: a gated source lists 'files' (or none), not 'hf'")
    if gated is None and not (has_files or has_hf):
        raise WritingAlpacaError(f"{where}: missing key 'files' or 'hf' (or 'gated' for licence-gated data)")

    files: list[FileSpec] = []
    if has_files:
        raw_files = spec["files"]
        if not isinstance(raw_files, list) or not raw_files:
            raise WritingAlpacaError(f"{where}.files: expected a non-empty list")
        seen: set[str] = set()
        for i, entry in enumerate(raw_files):
            fwhere = _where(name, "files", i)
            entry = _check_keys(entry, fwhere, _FILE_KEYS, () if gated else ("url",))
            url = entry.get("url")
            if url is not None:
                url = _check_str(url, f"{fwhere}.url")
            if gated is None:
                _check_scheme(url, f"{fwhere}.url")
            raw_name = entry.get("name")
            if raw_name is None:
                if url is None:
                    raise WritingAlpacaError(f"{fwhere}: missing key 'name'")
                raw_name = _default_name(url)
            fname = _check_relative_name(raw_name, f"{fwhere}.name")
            if fname in seen:
                raise WritingAlpacaError(f"{fwhere}.name: '{fname}' is listed twice")
            seen.add(fname)
            extract = entry.get("extract", False)
            if not isinstance(extract, bool):
                raise WritingAlpacaError(f"{fwhere}.extract: expected true or false, got {extract!r}")
            if extract and S.archive_kind(fname) is None:
                raise WritingAlpacaError(
                    f"{fwhere}.extract: cannot extract '{fname}': not a known archive type "
                    f"({', '.join(S.TAR_SUFFIXES + S.ZIP_SUFFIXES)})"
                )
            files.append(FileSpec(url, fname, _check_sha256(entry.get("sha256"), f"{fwhere}.sha256"), extract))

    hf = None
    if has_hf:
        hwhere = f"{where}.hf"
        h = _check_keys(spec["hf"], hwhere, _HF_KEYS, ("path",))
        config = h.get("name")
        if config is not None:
            config = _check_str(config, f"{hwhere}.name")
        split = _check_str(h.get("split") or "train", f"{hwhere}.split")
        out_file = _check_relative_name(h.get("file") or f"{split}.jsonl", f"{hwhere}.file")
        data_files = h.get("data_files")
        if data_files is not None and not isinstance(data_files, (str, list, dict)):
            raise WritingAlpacaError(f"{hwhere}.data_files: expected a string, list or mapping")
        hf = HfSpec(_check_str(h["path"], f"{hwhere}.path"), config, split, out_file, data_files, revision)

    return SourceSpec(name=name, files=tuple(files), hf=hf, gated=gated, licence=licence, revision=revision)


def _check_scheme(url: str | None, where: str) -> None:
    if url is None:
        raise WritingAlpacaError(f"{where}: missing")
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not url[5:].startswith("//"):
            raise WritingAlpacaError(
                f"{where}: '{url}' is not an absolute file URL (file:///abs/path); "
                "resolve relative ones with writing_alpaca.download.resolve_url"
            )
        return
    raise WritingAlpacaError(f"{where}: unsupported URL '{url}' (use http://, https:// or file:///)")


def resolve_url(url: str, base_dir: str | os.PathLike[str]) -> str:
    """Turn ``file:relative/path`` into an absolute ``file:///...`` URL relative to ``base_dir``.

    ``file:/abs/path`` becomes ``file:///abs/path``; ``file://...`` and every other URL is
    returned unchanged.
    """
    if not url.lower().startswith("file:") or url[5:].startswith("//"):
        return url
    path = Path(urllib.request.url2pathname(url[5:]))
    if not path.is_absolute():
        path = Path(base_dir) / path
    return Path(os.path.abspath(path)).as_uri()


#: where the workflow's checkout is (set by workflow/rules/common.smk for every job)
WORKFLOW_ROOT_ENV = "WRITING_ALPACA_WORKFLOW_ROOT"


def resolve_source_urls(spec: dict[str, Any], workflow_root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``spec`` with its relative ``file:`` URLs made absolute as the workflow means them: those into
    ``resources/`` (generated stand-ins) against the working directory, the others (``demo/data``,
    ``../shared`` beside the checkout) against ``workflow_root`` (default: the
    ``WRITING_ALPACA_WORKFLOW_ROOT`` the Snakefile sets, else the working directory).  The rules
    pass the config's relative URLs, so that a checkout moved elsewhere reruns no download."""
    if not isinstance(spec.get("files"), list):
        return spec  # nothing to resolve (parse_source_spec says what is wrong with it)
    root = Path(workflow_root or os.environ.get(WORKFLOW_ROOT_ENV) or os.getcwd())
    files = []
    for entry in spec["files"]:
        url = entry.get("url") if isinstance(entry, dict) else None
        if url and url.lower().startswith("file:") and not url[5:].startswith("/"):
            base = os.getcwd() if url[5:].startswith("resources/") else root
            entry = {**entry, "url": resolve_url(url, base)}
        files.append(entry)
    return {**spec, "files": files}


# ---------------------------------------------------------------------------
# Progress (files are hashed by :mod:`writing_alpaca.hashing`; a download or a copy
# hashes its bytes as they are written, in the same pass)


def _progress_bar(total: int | None, label: str, enabled: bool | None) -> Progress:
    """A download's progress (:class:`writing_alpaca.progress.Progress`, in bytes): automatic
    (``enabled=None``) when stderr is a terminal or the file is large, forced on or off otherwise."""
    if enabled is None:
        enabled = stderr_is_tty() or (total or 0) >= LARGE_FILE_BYTES
    return Progress(f"download {label}", total, unit="B", log=log, enabled=enabled, announce=False)


# ---------------------------------------------------------------------------
# Fetching


class _TransientError(Exception):
    """A failure worth retrying (network trouble)."""


class _PermanentError(Exception):
    """A failure that retrying cannot fix (404, missing local file)."""


@dataclass(frozen=True)
class Fetched:
    size: int
    sha256: str


def fetch_url(url: str, dest: str | os.PathLike[str], options: FetchOptions | None = None) -> Fetched:
    """Download ``url`` to ``dest`` (retrying network errors); return its size and sha256.

    The bytes go to a hidden ``.part`` sibling first and are renamed onto ``dest`` only
    when complete, so ``dest`` never holds a partial file.
    """
    options = options or FetchOptions()
    _check_scheme(url, "URL")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for attempt in range(1, options.attempts + 1):
        try:
            return _fetch_once(url, dest, options)
        except _PermanentError as exc:
            raise WritingAlpacaError(f"cannot download {url}: {exc}") from None
        except _TransientError as exc:
            last = exc
            if attempt == options.attempts:
                break
            delay = min(options.max_delay, options.base_delay * 2 ** (attempt - 1))
            log.warning(
                "download of %s failed (attempt %d of %d: %s); retrying in %.1f s",
                url,
                attempt,
                options.attempts,
                exc,
                delay,
            )
            time.sleep(delay)
    raise WritingAlpacaError(f"cannot download {url} after {options.attempts} attempt(s): {last}")


def _content_length(response: Any) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _fetch_once(url: str, dest: Path, options: FetchOptions) -> Fetched:
    is_file = url.lower().startswith("file:")
    part = dest.with_name(f".{dest.name}.part")
    request = urllib.request.Request(url, headers={"User-Agent": f"writing-alpaca/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=options.timeout) as response:
            expected = _content_length(response)
            # hashed as the bytes arrive (one pass; the same digest as hashing.sha256_file(dest))
            digest = hashlib.sha256()
            size = 0
            with _progress_bar(expected, dest.name, options.progress) as bar, open(part, "wb") as fh:
                while chunk := response.read(CHUNK_SIZE):
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
        if expected is not None and size != expected:
            raise _TransientError(f"incomplete download: got {size} of {expected} bytes")
        os.replace(part, dest)
        return Fetched(size, digest.hexdigest())
    except urllib.error.HTTPError as exc:
        exc.close()
        message = f"HTTP {exc.code} {exc.reason}"
        if exc.code in RETRY_HTTP_STATUSES:
            raise _TransientError(message) from None
        raise _PermanentError(message) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        if is_file:
            raise _PermanentError(text) from None
        raise _TransientError(text) from None
    except (TimeoutError, http.client.HTTPException, ConnectionError) as exc:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if is_file:
            raise _PermanentError(text) from None
        raise _TransientError(text) from None
    except OSError as exc:
        if is_file:
            raise _PermanentError(str(exc)) from None
        raise _TransientError(str(exc)) from None
    finally:
        part.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# Archives


def _unsafe_member_name(name: str) -> bool:
    """True for absolute names, Windows drive names and names with a '..' component."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        return True
    return ".." in PurePosixPath(normalised).parts


def _member_path(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).as_posix()


def extract_archive(
    archive: str | os.PathLike[str], dest: str | os.PathLike[str], taken: set[str] | None = None
) -> list[str]:
    """Unpack ``archive`` into ``dest`` safely; return the extracted regular files (relative paths).

    Rejects members with absolute paths or ``..`` components, links that leave ``dest``,
    device files, and files whose relative path is already in ``taken`` (another file of
    the source); ``taken`` is updated with the extracted files.
    """
    archive, dest = Path(archive), Path(dest)
    taken = set() if taken is None else taken
    kind = S.archive_kind(archive.name)
    if kind is None:
        raise WritingAlpacaError(f"{archive.name}: not a known archive type")
    try:
        if kind == "tar":
            files = _extract_tar(archive, dest, taken)
        else:
            files = _extract_zip(archive, dest, taken)
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise WritingAlpacaError(f"{archive.name}: bad archive: {exc}") from None
    taken.update(files)
    return files


def _claim(archive: Path, name: str, taken: set[str], claimed: set[str]) -> None:
    path = _member_path(name)
    if path in taken or path == MANIFEST_NAME or path in claimed:
        raise WritingAlpacaError(f"{archive.name}: member '{name}' would overwrite another file of the source")
    claimed.add(path)


def _extract_tar(archive: Path, dest: Path, taken: set[str]) -> list[str]:
    files: list[str] = []
    claimed: set[str] = set()
    with tarfile.open(archive, mode="r:*") as tar:
        members = tar.getmembers()
        for member in members:
            if _unsafe_member_name(member.name):
                raise WritingAlpacaError(
                    f"{archive.name}: unsafe member path '{member.name}' (absolute or '..'): refusing to extract"
                )
            if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                raise WritingAlpacaError(
                    f"{archive.name}: member '{member.name}' is a device or special file: refusing to extract"
                )
            if member.issym() or member.islnk():
                target = member.linkname if member.islnk() else str(PurePosixPath(member.name).parent / member.linkname)
                if _unsafe_member_name(member.linkname) or _escapes(target):
                    raise WritingAlpacaError(
                        f"{archive.name}: link '{member.name}' points outside the archive: refusing to extract"
                    )
            if not member.isdir():
                _claim(archive, member.name, taken, claimed)
                files.append(_member_path(member.name))
        # The 'data' filter re-checks everything above and drops unsafe permission bits.
        tar.extractall(dest, members=members, filter="data")
    return files


def _escapes(relative: str) -> bool:
    """Whether a relative posix path climbs above its root once normalised."""
    depth = 0
    for part in PurePosixPath(relative).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _extract_zip(archive: Path, dest: Path, taken: set[str]) -> list[str]:
    files: list[str] = []
    claimed: set[str] = set()
    with zipfile.ZipFile(archive) as zf:
        infos = [info for info in zf.infolist() if not _member_path(info.filename).startswith("__MACOSX/")]
        for info in infos:
            if _unsafe_member_name(info.filename):
                raise WritingAlpacaError(
                    f"{archive.name}: unsafe member path '{info.filename}' (absolute or '..'): refusing to extract"
                )
            if not info.is_dir():
                _claim(archive, info.filename, taken, claimed)
                files.append(_member_path(info.filename))
        for info in infos:
            zf.extract(info, dest)
    return files


# ---------------------------------------------------------------------------
# Content checks: is a download what its name declares?

#: bytes read to recognise a file (a tar header's ``ustar`` magic is at offset 257)
_SNIFF_BYTES = 4096
_HTML_RE = re.compile(
    rb"^(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype\s+html|<html[\s>])", re.IGNORECASE | re.DOTALL
)
_HTML_SUFFIXES = (".html", ".htm", ".xhtml")
#: (name suffixes, what they declare, check of the first bytes); the first matching suffix wins
_MAGIC: tuple[tuple[tuple[str, ...], str, Any], ...] = (
    ((".tar.gz", ".tgz", ".gz"), "gzip data", lambda head: head.startswith(b"\x1f\x8b")),
    ((".tar.bz2", ".tbz2", ".bz2"), "bzip2 data", lambda head: head.startswith(b"BZh")),
    ((".tar.xz", ".txz", ".xz"), "xz data", lambda head: head.startswith(b"\xfd7zXZ\x00")),
    ((".tar",), "a tar archive", lambda head: head[257:262] == b"ustar"),
    ((".zip",), "a zip archive", lambda head: head[:4] in (b"PK\x03\x04", b"PK\x05\x06")),
)
_JSON_SUFFIXES = (".json", ".jsonl")


def _describe(head: bytes, size: int) -> str:
    snippet = head[:60].decode("utf-8", "replace")
    snippet = re.sub(r"\s+", " ", snippet)
    return f"{size} bytes starting {snippet!r}"


def sniff_content(path: str | os.PathLike[str], name: str) -> tuple[str, str] | None:
    """``(what name declares, what the file holds)`` when ``path`` is not what ``name`` says, else None.

    Catches an HTML page (``<!DOCTYPE html`` or ``<html`` at the start, after an optional
    BOM, whitespace, XML declaration or comments; case-insensitive) where anything but HTML
    is expected, archives and compressed files whose magic bytes do not match the suffix
    (zip ``PK\\x03\\x04``, gzip ``1f 8b``, bzip2 ``BZh``, xz, tar ``ustar`` at offset 257),
    and ``.json``/``.jsonl`` files that do not start with ``{`` or ``[``.
    """
    lower = name.lower()
    if lower.endswith(_HTML_SUFFIXES):
        return None
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    text = text.lstrip()
    expected = next((label for suffixes, label, _ in _MAGIC if lower.endswith(suffixes)), None)
    if expected is None:
        expected = "JSON" if lower.endswith(_JSON_SUFFIXES) else "text or data (not HTML)"
    if _HTML_RE.match(text[:1024]):
        return expected, f"an HTML page ({_describe(text, size)})"
    for suffixes, label, ok in _MAGIC:
        if lower.endswith(suffixes):
            return None if ok(head) else (label, f"something else ({_describe(head, size)})")
    if lower.endswith(_JSON_SUFFIXES) and text[:1] not in (b"{", b"["):
        return "JSON", (f"something else ({_describe(head, size)})" if text else "an empty file")
    return None


# ---------------------------------------------------------------------------
# Verifying a cached download against its manifest


def _relative(name: str) -> str:
    return PurePosixPath(os.path.normpath(name.replace("\\", "/"))).as_posix()


def _contents(root: Path, records: list[FileRecord]) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file under ``root`` (extracted members too), for ``MANIFEST.json``."""
    known = {r.name: (r.size, r.sha256) for r in records if r.archive is None or r.archive.get("kept")}
    contents: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == MANIFEST_NAME or not path.is_file():
            continue
        if rel in known and not path.is_symlink():
            size, digest = known[rel]
        else:
            size, digest = path.stat().st_size, sha256_file(path)
        contents[rel] = {"size": size, "sha256": digest}
    return contents


def _fix(root: Path, manifest: Any) -> str:
    source = manifest.get("source") if isinstance(manifest, dict) else None
    rule = f"snakemake {root}" if source is None else f"snakemake resources/downloads/{source}"
    return f"delete {root} and download it again ({rule}, or writing-alpaca download)"


def verify_download(download_dir: str | os.PathLike[str], names: Any = None) -> dict[str, Any] | None:
    """Check the files of a download directory against its ``MANIFEST.json``; return the manifest.

    ``names`` (relative paths) are the files to check; default: every file the manifest
    lists.  A file that differs from its recorded size or sha256, is missing, or is not
    part of the download is a :class:`DownloadCorruptError` naming the file, both hashes and
    the fix.  A directory without a manifest (files put together by hand, not by
    ``download``) is not checked: None.  Manifests written before member hashes were
    recorded cannot vouch for extracted archive members; those are named in a warning.
    """
    root = Path(download_dir)
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        log.info("%s has no %s (not written by download): its files are not verified", root, MANIFEST_NAME)
        return None
    try:
        manifest = read_json(manifest_path)
    except WritingAlpacaError as exc:
        raise DownloadCorruptError(f"{exc}; {_fix(root, None)}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise DownloadCorruptError(f"{manifest_path}: not a download manifest; {_fix(root, manifest)}")
    contents = manifest.get("contents")
    unrecorded: set[str] = set()
    if not isinstance(contents, dict):  # a manifest from before 'contents'
        contents = {}
        for entry in manifest["files"]:
            archive = entry.get("archive")
            if not archive or archive.get("kept"):
                contents[entry["name"]] = {"size": entry["size"], "sha256": entry["sha256"]}
            if archive:
                unrecorded.update(archive.get("files", []))
    wanted = list(contents) if names is None else [_relative(str(n)) for n in names]
    for rel in wanted:
        entry = contents.get(rel)
        if entry is None:
            if rel in unrecorded:
                log.warning(
                    "%s: %s predates member hashes, so this extracted file cannot be verified; %s to record them",
                    root / rel,
                    manifest_path,
                    _fix(root, manifest),
                )
                continue
            raise DownloadCorruptError(
                f"{root / rel}: not part of the download recorded in {manifest_path}; {_fix(root, manifest)}"
            )
        path = root / rel
        if not path.is_file():
            raise DownloadCorruptError(f"{path}: listed in {manifest_path} but missing; {_fix(root, manifest)}")
        actual = sha256_file(path)
        size = path.stat().st_size
        if actual != entry.get("sha256") or size != entry.get("size"):
            raise DownloadCorruptError(
                f"{path} does not match {manifest_path}: expected sha256 {entry.get('sha256')} "
                f"({entry.get('size')} bytes), found {actual} ({size} bytes): the cached download changed "
                f"after it was verified; {_fix(root, manifest)}"
            )
    return manifest


# ---------------------------------------------------------------------------
# The last verified download, kept (hard-linked) beside the output until a verified
# replacement exists: Snakemake deletes a rule's output before it reruns it (a changed
# pin in an overlay) and after it fails, so a good copy inside the output would be lost.


def kept_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Where the last verified download of ``out_dir`` is kept: the hidden sibling ``.<name>.last-good``."""
    out = Path(out_dir)
    return out.with_name(f".{out.name}.last-good")


def _load_kept(kept: Path) -> dict[str, Any] | None:
    try:
        manifest = read_json(kept / MANIFEST_NAME) if (kept / MANIFEST_NAME).is_file() else None
    except WritingAlpacaError:
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("contents"), dict) else None


def _link_tree(src: Path, dest: Path) -> None:
    """Hard-link every file of ``src`` into a new ``dest`` (symlinks recreated, directories made)."""
    dest.mkdir(parents=True)
    for path in sorted(src.rglob("*")):
        target = dest / path.relative_to(src)
        if path.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(path), target)
        elif path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)


def _keep_copy(out: Path) -> None:
    """Replace the kept copy with hard links to the new, verified ``out`` (no extra disk space)."""
    kept = kept_dir(out)
    tmp = kept.with_name(f"{kept.name}.tmp")
    old = kept.with_name(f"{kept.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _link_tree(out, tmp)
        shutil.rmtree(old, ignore_errors=True)
        if kept.exists():
            os.replace(kept, old)
        os.replace(tmp, kept)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning("could not keep a hard-linked copy of %s in %s (%s)", out, kept, exc)
    finally:
        shutil.rmtree(old, ignore_errors=True)


def _place_kept(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        os.symlink(os.readlink(src), dest)
        return
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def _reuse_kept(
    spec: FileSpec,
    root: Path,
    kept: tuple[Path, dict[str, Any]] | None,
    taken: set[str],
    keep_archives: bool,
    source: str,
) -> FileRecord | None:
    """A pinned file (or the members of a pinned archive) taken from the kept copy, when it still verifies."""
    if kept is None or spec.sha256 is None:
        return None
    kept_root, manifest = kept
    contents = manifest["contents"]
    entry = next(
        (
            f
            for f in manifest.get("files", [])
            if isinstance(f, dict) and f.get("name") == spec.name and f.get("sha256") == spec.sha256
        ),
        None,
    )
    if entry is None:
        return None
    archive = entry.get("archive")
    if spec.extract != isinstance(archive, dict):
        return None
    members: list[str] = list(archive.get("files", [])) if isinstance(archive, dict) else []
    names = ([spec.name] if not spec.extract or keep_archives else []) + members
    others = taken - {spec.name}
    if any(n not in contents or n in others or n == MANIFEST_NAME for n in names) or not names:
        return None
    for n in names:
        path = kept_root / n
        if not path.is_file() or sha256_file(path) != contents[n].get("sha256"):
            log.info("source %s: the kept copy of %s changed; fetching it again", source, n)
            return None
    for n in names:
        _place_kept(kept_root / n, root / n)
    log.info(
        "source %s: %s unchanged (sha256 %s): taken from the last verified download in %s",
        source,
        spec.name,
        spec.sha256,
        kept_root,
    )
    record = FileRecord(spec.name, int(entry["size"]), spec.sha256, True, url=spec.url)
    if spec.extract:
        record.archive = {"members": len(members), "kept": keep_archives, "files": members}
        if not keep_archives:
            taken.discard(spec.name)
    taken.update(members)
    return record


# ---------------------------------------------------------------------------
# Sources


def _verify(path: Path, actual: str, expected: str | None, origin: str, delete: bool, name: str | None = None) -> None:
    """Check a pinned hash (deleting a bad download) or warn with the hash of an unpinned file.

    The first bytes are checked against what the file's ``name`` declares (:func:`sniff_content`):
    an unpinned file that is not what it says (an HTML login or error page, a zip that is
    not a zip) is an error; for a pinned one that does not match, what was received is named.
    """
    problem = sniff_content(path, name) if name is not None and actual != expected else None
    if expected is None:
        if problem is not None:
            if delete:
                path.unlink(missing_ok=True)
            raise UnexpectedContentError(
                f"{origin}: expected {problem[0]} but received {problem[1]}; the file was not used "
                "(a login or error page served in its place? check the URL)"
            )
        log.warning(
            "%s is not pinned (sha256: null); its sha256 is %s (put it in config.yaml to pin it)", origin, actual
        )
        return
    if actual != expected:
        if delete:
            path.unlink(missing_ok=True)
        received = f" (received {problem[1]} where {problem[0]} was expected)" if problem is not None else ""
        raise WritingAlpacaError(
            f"sha256 mismatch for {origin}: expected {expected}, got {actual}{received}; the file was not used"
        )


def _unpack(record: FileRecord, spec: FileSpec, root: Path, taken: set[str], keep_archives: bool) -> None:
    if not spec.extract:
        return
    archive = root / spec.name
    log.info("extracting %s", spec.name)
    files = extract_archive(archive, root, taken)
    if not keep_archives:
        archive.unlink()
        taken.discard(spec.name)
    record.archive = {"members": len(files), "kept": keep_archives, "files": files}


def _fetch_files(
    source: SourceSpec,
    root: Path,
    options: FetchOptions,
    keep_archives: bool,
    kept: tuple[Path, dict[str, Any]] | None = None,
) -> list[FileRecord]:
    records: list[FileRecord] = []
    taken = {f.name for f in source.files}
    for spec in source.files:
        assert spec.url is not None  # checked by parse_source_spec
        log.info("source %s: fetching %s -> %s", source.name, spec.url, spec.name)
        dest = root / spec.name
        reused = _reuse_kept(spec, root, kept, taken, keep_archives, source.name)
        if reused is not None:
            records.append(reused)
            continue
        fetched = fetch_url(spec.url, dest, options)
        _verify(
            dest,
            fetched.sha256,
            spec.sha256,
            f"{spec.url} (source {source.name}, file {spec.name})",
            delete=True,
            name=spec.name,
        )
        record = FileRecord(spec.name, fetched.size, fetched.sha256, spec.sha256 is not None, url=spec.url)
        _unpack(record, spec, root, taken, keep_archives)
        records.append(record)
    return records


def default_manual_dir(name: str) -> Path:
    """Where the user places a licence-gated source: ``resources/manual/<name>``."""
    return Path("resources") / "manual" / name


def _copy_hashing(src: Path, dest: Path) -> Fetched:
    dest.parent.mkdir(parents=True, exist_ok=True)
    # hashed as the bytes are copied (one pass; the same digest as hashing.sha256_file(dest))
    digest = hashlib.sha256()
    size = 0
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while chunk := fin.read(CHUNK_SIZE):
            fout.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    shutil.copystat(src, dest)
    return Fetched(size, digest.hexdigest())


#: a gated source without a file list: whatever the user places there (``_placed_specs``)
ANY_FILE = "(any file)"


def _placed_specs(source: SourceSpec, manual: Path) -> tuple[list[FileSpec], list[str]]:
    """The files expected in the manual directory, and those missing."""
    if source.files:
        missing = [f.name for f in source.files if not (manual / f.name).is_file()]
        return list(source.files), missing
    found = (
        sorted(p.relative_to(manual).as_posix() for p in manual.rglob("*") if p.is_file()) if manual.is_dir() else []
    )
    specs = [FileSpec(None, name, None, False) for name in found if name != MANIFEST_NAME]
    return specs, ([] if specs else [ANY_FILE])


def _collect_placed(source: SourceSpec, root: Path, manual: Path, keep_archives: bool) -> list[FileRecord]:
    assert source.gated is not None
    specs, missing = _placed_specs(source, manual)
    if missing:
        # a file under another name (e.g. cLang-8's run.sh output without --tokenize_text) is named too
        present = (
            sorted(p.relative_to(manual).as_posix() for p in manual.rglob("*") if p.is_file())
            if manual.is_dir()
            else []
        )
        holds = f"; it holds only: {', '.join(present)}" if present else ""
        wanted = "nothing is there yet" if missing == [ANY_FILE] else f"missing: {', '.join(missing)}"
        raise WritingAlpacaError(
            f"source '{source.name}' is licence-gated and is never downloaded automatically. "
            f"How to get it: {source.gated.request.rstrip('.')}. What to place: {source.gated.place.rstrip('.')}. "
            f"Put it in {manual.resolve()}/ ({wanted}{holds}) and run again"
        )
    records: list[FileRecord] = []
    taken = {f.name for f in specs}
    for spec in specs:
        src = manual / spec.name
        log.info("source %s: taking placed file %s", source.name, src)
        copied = _copy_hashing(src, root / spec.name)
        _verify(
            root / spec.name,
            copied.sha256,
            spec.sha256,
            f"placed file {src} (source {source.name})",
            delete=True,
            name=spec.name,
        )
        record = FileRecord(spec.name, copied.size, copied.sha256, spec.sha256 is not None, placed=str(src.resolve()))
        _unpack(record, spec, root, taken, keep_archives)
        records.append(record)
    return records


def _local_hf_path(path: str) -> Path | None:
    if path.lower().startswith("file:"):
        return Path(urllib.request.url2pathname(urllib.parse.urlsplit(path).path))
    candidate = Path(path).expanduser()
    return candidate if candidate.exists() else None


def _load_hf_split(hf: HfSpec, scratch: Path) -> Any:
    """Load one split as a ``datasets.Dataset`` (see the module docstring for the path forms).

    Local data is converted to Arrow under ``scratch`` rather than in the user's
    ``datasets`` cache; Hub ids use the normal cache (which is what offline mode reads).
    """
    import datasets

    local = _local_hf_path(hf.path)
    if local is not None and not local.exists():
        raise WritingAlpacaError(f"{local}: not found")
    if (
        local is not None
        and local.is_dir()
        and ((local / "dataset_dict.json").is_file() or (local / "state.json").is_file())
    ):
        loaded = datasets.load_from_disk(str(local))
        if isinstance(loaded, datasets.DatasetDict):
            if hf.split not in loaded:
                raise WritingAlpacaError(f"{local}: no split '{hf.split}' (has: {', '.join(loaded)})")
            return loaded[hf.split]
        return loaded
    if local is not None and local.is_file():
        builder = _HF_FILE_BUILDERS.get(local.suffix.lower())
        if builder is None:
            raise WritingAlpacaError(f"{local}: unknown data file type (known: {', '.join(sorted(_HF_FILE_BUILDERS))})")
        kwargs: dict[str, Any] = {"delimiter": "\t"} if local.suffix.lower() == ".tsv" else {}
        return datasets.load_dataset(
            builder, data_files={hf.split: str(local)}, split=hf.split, cache_dir=str(scratch), **kwargs
        )
    if local is not None or hf.data_files is not None:
        target = str(local) if local is not None else hf.path
        return datasets.load_dataset(target, hf.name, data_files=hf.data_files, split=hf.split, cache_dir=str(scratch))
    return datasets.load_dataset(hf.path, hf.name, split=hf.split, revision=hf.revision)


def _fetch_hf(source: SourceSpec, root: Path) -> list[FileRecord]:
    hf = source.hf
    assert hf is not None
    log.info("source %s: loading dataset %s (config %s, split %s)", source.name, hf.path, hf.name, hf.split)
    dest = root / hf.file
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hf-scratch-", dir=root) as scratch:
        try:
            dataset = _load_hf_split(hf, Path(scratch))
        except WritingAlpacaError:
            raise
        except Exception as exc:  # datasets raises many types; the user needs one line
            log.debug("datasets failed", exc_info=True)
            detail = (str(exc).strip().splitlines() or [""])[0]
            hint = ""
            if isinstance(exc, ConnectionError) and not _hf_offline():
                hint = " (no network? set HF_DATASETS_OFFLINE=1 to read the local cache, or give a local path)"
            raise WritingAlpacaError(
                f"source '{source.name}': cannot load Hugging Face dataset '{hf.path}' "
                f"(config {hf.name}, split {hf.split}): {type(exc).__name__}: {detail}{hint}"
            ) from None
        try:
            rows = write_jsonl(dest, iter(dataset))
        except TypeError as exc:
            raise WritingAlpacaError(
                f"source '{source.name}': dataset '{hf.path}' has values JSON cannot hold: {exc}"
            ) from None
        del dataset  # release the memory-mapped Arrow files before the scratch dir goes
    info = {"path": hf.path, "name": hf.name, "split": hf.split}
    if hf.data_files is not None:
        info["data_files"] = hf.data_files
    return [FileRecord(hf.file, dest.stat().st_size, sha256_file(dest), False, hf=info, rows=rows)]


def _hf_offline() -> bool:
    return any(
        os.environ.get(var, "").upper() in ("1", "ON", "YES", "TRUE")
        for var in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
    )


def download_source(
    name: str,
    spec: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    manual_dir: str | os.PathLike[str] | None = None,
    options: FetchOptions | None = None,
    keep_archives: bool = False,
) -> dict[str, Any]:
    """Fetch (or take from ``manual_dir``) every file of one source into ``out_dir``; return the manifest.

    ``out_dir`` is written atomically; on any error it is left absent (or, if it existed,
    unchanged).  Once it is complete, its files are hard-linked into :func:`kept_dir`
    (replacing the previous kept copy), so that a later failing run (after Snakemake has
    removed the output) still has the last verified download, and a pinned file whose
    sha256 it matches is taken from there instead of being fetched again.
    """
    # relative file: URLs as the workflow means them (the rules pass the config's own)
    spec = resolve_source_urls(dict(spec)) if isinstance(spec, Mapping) else spec
    source = parse_source_spec(name, spec)
    options = options or FetchOptions()
    out = Path(out_dir)
    if source.licence:
        log.info("source %s: licence: %s", name, source.licence)
    kept_root = kept_dir(out)
    kept_manifest = _load_kept(kept_root)
    try:
        with atomic_dir(out) as root:
            if source.gated is not None:
                manual = Path(manual_dir) if manual_dir is not None else default_manual_dir(name)
                records = _collect_placed(source, root, manual, keep_archives)
                kind = "gated"
            elif source.hf is not None:
                records = _fetch_hf(source, root)
                kind = "hf"
            else:
                kept = (kept_root, kept_manifest) if kept_manifest is not None else None
                records = _fetch_files(source, root, options, keep_archives, kept)
                kind = "files"
            manifest = {
                "source": name,
                "kind": kind,
                "licence": source.licence,
                "revision": source.revision,
                "tool": f"writing-alpaca {__version__}",
                "files": [r.to_json() for r in records],
                "contents": _contents(root, records),
            }
            write_json(root / MANIFEST_NAME, manifest)
    except WritingAlpacaError as exc:
        if kept_manifest is not None and not out.exists():
            # Snakemake removed the output before the run: say where the good copy still is
            message = (
                f"{exc} (the last verified download of '{name}' is kept in {kept_root}; "
                "it is used again for files whose pinned sha256 it matches)"
            )
            try:
                wrapped = type(exc)(message)
            except TypeError:  # a subclass with another signature
                wrapped = WritingAlpacaError(message)
            raise wrapped from None
        raise
    _keep_copy(out)
    log.info("source %s: %d file(s) in %s", name, len(records), out_dir)
    return manifest


# ---------------------------------------------------------------------------
# CLI


def _run(args: argparse.Namespace) -> int:
    spec = parse_json_arg(args.spec, "--spec")
    S.Source.from_dict(spec, f"sources.{args.name}")  # the fragment, as the Snakefile checked it
    options = FetchOptions(
        attempts=args.attempts, base_delay=args.retry_delay, timeout=args.timeout, progress=args.progress
    )
    download_source(
        args.name, spec, args.out, manual_dir=args.manual_dir, options=options, keep_archives=args.keep_archives
    )
    return 0


def register(subparsers: Any) -> None:
    """Add the ``download`` sub-command."""
    p = subparsers.add_parser(
        "download",
        help="fetch, verify and unpack the upstream files of one source",
        description="Fetch every file of one source (http/https/file URLs, or a Hugging Face dataset), "
        "verify sha256, extract archives, and write DIR atomically with a MANIFEST.json. "
        "Licence-gated sources are taken from --manual-dir.",
    )
    p.add_argument("--name", required=True, help="source name (config key sources.<name>)")
    p.add_argument("--spec", required=True, help="JSON of the config fragment sources.<name>")
    p.add_argument("--out", required=True, help="output directory (written atomically)")
    p.add_argument(
        "--manual-dir",
        default=None,
        help="where the user placed a licence-gated source (default: resources/manual/<name>)",
    )
    p.add_argument("--attempts", type=int, default=4, help="tries per URL on network errors (default: 4)")
    p.add_argument(
        "--retry-delay",
        type=float,
        default=2.0,
        help="first back-off delay in seconds, doubled each retry (default: 2)",
    )
    p.add_argument("--timeout", type=float, default=60.0, help="socket time-out in seconds (default: 60)")
    p.add_argument("--keep-archives", action="store_true", help="keep archives after extracting them (default: delete)")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="download progress: a bar on a terminal, else a log line every 10%% and 30 s "
        "(default: when stderr is a terminal or the file is large)",
    )
    p.set_defaults(func=_run)
