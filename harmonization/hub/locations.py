"""Where files live and whether the network may be used, read from the environment at call time.

- checkpoints folder: ``$HARMONIZATION_CHECKPOINTS_DIR`` or ``<repo>/checkpoints``;
- our download cache (URL and Drive files): ``$HARMONIZATION_CACHE``, else ``$XDG_CACHE_HOME/harmonization``;
- huggingface_hub's cache: ``$HF_HUB_CACHE`` / ``$HF_HOME/hub`` / ``~/.cache/huggingface/hub``;
- the Hub address: ``$HF_ENDPOINT``; our own weights' Hub repository: ``$HARMONIZATION_HUB_REPO``;
- offline: ``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE=1``) disables every download, of every kind.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "CHECKPOINTS_DIR_ENV", "GOOGLE_DRIVE_URL_ENV", "default_cache_dir",
           "default_checkpoints_dir", "google_drive_url", "hub_cache_dir", "hub_endpoint", "offline_reason"]

CHECKPOINTS_DIR_ENV = "HARMONIZATION_CHECKPOINTS_DIR"
CACHE_DIR_ENV = "HARMONIZATION_CACHE"
GOOGLE_DRIVE_URL_ENV = "HARMONIZATION_GDRIVE_URL"
DEFAULT_GOOGLE_DRIVE_URL = "https://drive.google.com/uc"
DEFAULT_HUB_ENDPOINT = "https://huggingface.co"
_REPO_ROOT = Path(__file__).resolve().parents[2]


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def default_checkpoints_dir() -> Path:
    """The folder of local checkpoint files: ``$HARMONIZATION_CHECKPOINTS_DIR`` or ``<repo>/checkpoints``."""
    override = os.environ.get(CHECKPOINTS_DIR_ENV)
    if override:
        return Path(override).expanduser().resolve()
    return _REPO_ROOT / "checkpoints"


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


def google_drive_url() -> str:
    """Google Drive's download address (``$HARMONIZATION_GDRIVE_URL`` points tests at a local server)."""
    return os.environ.get(GOOGLE_DRIVE_URL_ENV) or DEFAULT_GOOGLE_DRIVE_URL


def offline_reason() -> str | None:
    """Why downloads are disabled (``"HF_HUB_OFFLINE=1 is set"``), or None when they are allowed."""
    for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if _env_true(variable):
            return f"{variable}={os.environ[variable]} is set"
    return None
