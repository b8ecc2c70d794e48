"""Downloads, each step bounded by a timeout: a first-byte probe, streamed files with verification, the Hub.

Every request goes through huggingface_hub's HTTP session (its proxies, headers and user agent): files from the Hub
through ``hf_hub_download`` (its cache layout, pinned revisions), other addresses through
:func:`stream_to_file`, which shows a tqdm progress bar on a terminal, checks the announced length, the expected
size and sha256, and renames the file into place only when it verifies.

Every wait is bounded: a connection within :data:`CONNECT_TIMEOUT_S`, every read within
:data:`DOWNLOAD_TIMEOUT_S`, and a host given up is remembered for a minute, so that an offline or broken mirror (say,
one that accepts HEAD and stalls GET) costs seconds, not minutes. Before a Hub download, whose client retries for
minutes, :func:`probe` asks for the file's first byte with a :data:`FIRST_BYTE_TIMEOUT_S` limit.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .files import replaced_atomically
from .sources import HubSource

__all__ = ["CONNECT_TIMEOUT_S", "DOWNLOAD_TIMEOUT_S", "FIRST_BYTE_TIMEOUT_S", "download_from_hub", "download_url",
           "open_stream", "probe", "remembered_problem", "stream_to_file"]

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 3.0
"""Longest wait for a TCP/TLS connection."""
FIRST_BYTE_TIMEOUT_S = 5.0
"""Longest wait, once connected, for the probe's answer."""
DOWNLOAD_TIMEOUT_S = 10.0
"""Longest wait for the answer and then for each next chunk of a download (per read, not for the whole file)."""
_UNREACHABLE_MEMORY_S = 60.0
_unreachable: dict[str, tuple[float, str]] = {}
_unreachable_lock = threading.Lock()


def _session() -> Any:
    from huggingface_hub.utils import get_session

    return get_session()


def _timeout(read: float) -> tuple[float, float, float, float]:
    return (CONNECT_TIMEOUT_S, read, read, CONNECT_TIMEOUT_S)  # connect, read, write, pool


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    if "Timeout" in name:
        return f"no answer within the time limit ({name})"
    return f"{name}: {exc}" if str(exc) else name


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def remembered_problem(url: str) -> str | None:
    """Why the host of ``url`` was given up less than a minute ago, or None."""
    with _unreachable_lock:
        remembered = _unreachable.get(_origin(url))
    if remembered is not None and time.monotonic() - remembered[0] < _UNREACHABLE_MEMORY_S:
        return remembered[1]
    return None


def _remember(url: str, problem: str) -> str:
    with _unreachable_lock:
        _unreachable[_origin(url)] = (time.monotonic(), problem)
    return problem


def probe(url: str) -> str | None:
    """Ask for the first byte of ``url``; None when the server answers in time, else the reason it was given up.

    Any HTTP answer counts (even an error status: the download itself then reports it). A failure is remembered per
    host for a minute, so resolving several files offline costs one probe per host. Used before Hub downloads,
    whose client retries for minutes on a server that stalls.
    """
    problem = remembered_problem(url)
    if problem is not None:
        return problem
    try:
        with _session().stream("GET", url, headers={"Range": "bytes=0-0"}, follow_redirects=True,
                               timeout=_timeout(FIRST_BYTE_TIMEOUT_S)) as response:
            next(response.iter_bytes(1), b"")
    except Exception as exc:  # connection refused, DNS, TLS, timeouts: all mean "not usable now"
        return _remember(url, f"{_origin(url)} unreachable ({_reason(exc)})")
    return None


@contextmanager
def open_stream(url: str, headers: dict[str, str] | None = None) -> Iterator[Any]:
    """A streamed GET response (redirects followed, status checked), every wait bounded.

    The connection must open within :data:`CONNECT_TIMEOUT_S` and every read (the answer, then each chunk of the
    body) arrive within :data:`DOWNLOAD_TIMEOUT_S`. A host that cannot be reached is remembered for a minute.

    Raises:
        OSError: unreachable host, a timeout, or an HTTP error status.
    """
    problem = remembered_problem(url)
    if problem is not None:
        raise OSError(problem)
    try:
        with _session().stream("GET", url, headers=headers or {}, follow_redirects=True,
                               timeout=_timeout(DOWNLOAD_TIMEOUT_S)) as response:
            if response.status_code >= 400:
                raise OSError(f"HTTP {response.status_code} from {_origin(url)}")
            yield response
    except OSError:
        raise
    except Exception as exc:  # the HTTP client's connect/read/protocol errors
        raise OSError(_remember(url, f"{_origin(url)} unreachable ({_reason(exc)})")) from exc


def stream_to_file(response: Any, target: Path, *, size: int | None = None, sha256: str | None = None) -> Path:
    """Write a streamed response body to ``target`` through a temporary file, verify it, then rename it atomically.

    Nothing is left behind when the transfer fails or the file does not verify.
    """
    from tqdm.auto import tqdm

    declared = response.headers.get("Content-Length")
    total = int(declared) if declared and declared.isdigit() else size
    digest = hashlib.sha256()
    received = 0
    started = time.monotonic()
    with replaced_atomically(target, ".part") as temporary, temporary.open("wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, desc=target.name, disable=None, leave=False
    ) as bar:
        for chunk in response.iter_bytes(1 << 20):
            out.write(chunk)
            digest.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
        out.flush()
        if declared is not None and declared.isdigit() and int(declared) != received:
            raise OSError(f"transfer truncated: received {received} bytes, the server announced {declared}")
        if size is not None and received != size:
            raise OSError(f"size mismatch: received {received} bytes, expected {size}; the file was discarded")
        if sha256 is not None and digest.hexdigest() != sha256.lower():
            raise OSError(
                f"sha256 mismatch: got {digest.hexdigest()}, expected {sha256.lower()}; the file was discarded"
            )
    logger.info("Saved %s (%d bytes in %.1f s)", target, received, time.monotonic() - started)
    return target


def download_url(url: str, target: Path, *, size: int | None = None, sha256: str | None = None) -> Path:
    """Download ``url`` to ``target`` (verified, atomic)."""
    logger.info("Downloading %s to %s", url, target)
    with open_stream(url) as response:
        return stream_to_file(response, target, size=size, sha256=sha256)


def download_from_hub(source: HubSource, cache_dir: Path, endpoint: str) -> Path:
    """``hf_hub_download`` of a Hub source into the huggingface_hub cache (pinned revision, its own timeouts)."""
    from huggingface_hub import hf_hub_download

    logger.info("Downloading %s from %s", source.describe(), endpoint)
    return Path(hf_hub_download(
        source.repo, source.filename, repo_type=source.repo_type, revision=source.revision,
        cache_dir=cache_dir, endpoint=endpoint, library_name="harmonization",
    ))
