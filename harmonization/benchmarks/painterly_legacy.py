"""The previous painterly implementation, read from the git history, for old-vs-new comparisons in one run.

The one-pass engine that the two-pass rewrite replaced is not kept in the package. :func:`load_legacy` writes its
four modules at :data:`LEGACY_REVISION` (``pipelines/painterly.py``, ``ops/style.py``, ``models/vgg.py``,
``models/_loading.py``) into a temporary package and imports it; :func:`legacy_fuse` runs it with the VGG weights of
the current extractor, so both implementations see the same network.
"""

from __future__ import annotations

import functools
import importlib
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import torch

from ..models.vgg import VGGFeatures

__all__ = ["LEGACY_REVISION", "legacy_fuse", "load_legacy"]

LEGACY_REVISION = "79ad869"
"""The last commit with the one-pass engine (``harmonization/pipelines/painterly.py``, 638 lines)."""
_FILES = ("pipelines/painterly.py", "ops/style.py", "models/vgg.py", "models/_loading.py")
_REPO = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=2)
def load_legacy(revision: str = LEGACY_REVISION) -> ModuleType:
    """Import the painterly module of ``revision`` from a temporary package (needs git and this repository).

    Raises:
        RuntimeError: git or the revision is not available (e.g. an installed copy without the history).
    """
    name = f"_painterly_legacy_{revision}"
    root = Path(tempfile.mkdtemp(prefix="painterly-legacy-")) / name
    for rel in _FILES:
        try:
            text = subprocess.run(["git", "-C", str(_REPO), "show", f"{revision}:harmonization/{rel}"], check=True,
                                  capture_output=True, text=True).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            raise RuntimeError(f"cannot read harmonization/{rel} at {revision} from git ({exc}); the legacy "
                               "comparison needs a git checkout of the repository.") from exc
        text = text.replace("from harmonization.models._loading import", "from ._loading import")
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    for package in (root, root / "pipelines", root / "ops", root / "models"):
        (package / "__init__.py").write_text("", encoding="utf-8")
    sys.path.insert(0, str(root.parent))
    try:
        importlib.invalidate_caches()
        return importlib.import_module(f"{name}.pipelines.painterly")
    finally:
        sys.path.remove(str(root.parent))


@functools.lru_cache(maxsize=2)
def _legacy_vgg(vgg: VGGFeatures, revision: str) -> torch.nn.Module:
    legacy = load_legacy(revision)
    vgg_module = sys.modules[legacy.__name__.rsplit(".", 2)[0] + ".models.vgg"]
    old = vgg_module.VGGFeatures(vgg.arch, vgg.preprocessing, last_layer=vgg.last_layer)
    old.features.load_state_dict(vgg.features.state_dict())
    return old.to(next(vgg.parameters()).device)


def legacy_fuse(composite: torch.Tensor, mask: torch.Tensor, vgg: VGGFeatures, revision: str = LEGACY_REVISION,
                **options: object) -> torch.Tensor:
    """Run the legacy ``painterly_fuse`` (its own defaults for everything not in ``options``) with ``vgg``'s weights.

    Args:
        composite: ``(1, 3, H, W)`` naive composite in [0, 1]; mask: ``(1, 1, H, W)``.
        vgg: the current extractor (its trunk weights are copied into the legacy extractor once).
        revision: git revision of the legacy code.
        **options: forwarded (e.g. ``size``, ``steps``, ``mode``, ``progress``).
    """
    legacy = load_legacy(revision)
    return legacy.painterly_fuse(composite, mask, vgg=_legacy_vgg(vgg, revision), **options)
