"""Checkpoints: sources, the registry, resolution, downloads, files and loaders. The only package that talks to the
Hugging Face Hub or the network.

- :mod:`.sources` where a file can come from; :mod:`.registry` named entries (data in each model file's
  ``PRETRAINED``, registered by :mod:`.catalog`); :mod:`.resolve` name -> file (local -> caches -> network);
  :mod:`.download` / :mod:`.gdrive` bounded downloads; :mod:`.files` reading/writing weights;
  :mod:`.loading` one loader per network and one cache; :mod:`.locations` folders and offline switches.

Example:
    >>> spec = get_checkpoint_spec("vgg19")
    >>> spec.arch, [type(s).__name__ for s in spec.sources]
    ('vgg19', ['LocalSource', 'HubSource', 'PackageSource'])
"""

from __future__ import annotations

from ..errors import CheckpointFileError, CheckpointNotFoundError
from .catalog import register_builtin_checkpoints
from .files import check_regular_file, is_safetensors, load_state_dict, read_metadata, save_safetensors, update_metadata
from .loading import (
    ANCHORED_OUTPUT,
    NETWORKS,
    TRANSFERS,
    LoadedNetwork,
    NetworkKind,
    clear_cache,
    default_checkpoint,
    load_cached,
    load_network,
    load_segmenter,
    resolve_device,
)
from .locations import default_cache_dir, default_checkpoints_dir, hub_cache_dir, hub_endpoint
from .registry import (
    ARCHS,
    CheckpointSpec,
    ResolvedCheckpoint,
    get_checkpoint_spec,
    list_checkpoints,
    register_checkpoint,
)
from .resolve import resolve_checkpoint
from .sources import GoogleDriveSource, HubSource, LocalSource, PackageSource, Source, UrlSource

__all__ = [
    "ANCHORED_OUTPUT", "ARCHS", "CheckpointFileError", "CheckpointNotFoundError", "CheckpointSpec",
    "GoogleDriveSource", "HubSource", "LoadedNetwork", "LocalSource", "NETWORKS", "NetworkKind", "PackageSource",
    "ResolvedCheckpoint", "Source", "TRANSFERS", "UrlSource", "check_regular_file", "clear_cache",
    "default_cache_dir", "default_checkpoint", "default_checkpoints_dir", "get_checkpoint_spec", "hub_cache_dir",
    "hub_endpoint", "is_safetensors", "list_checkpoints", "load_cached", "load_network", "load_segmenter",
    "load_state_dict", "read_metadata", "register_checkpoint", "resolve_checkpoint", "resolve_device",
    "save_safetensors", "update_metadata",
]

register_builtin_checkpoints()
