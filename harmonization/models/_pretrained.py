"""Constants shared by the model files' checkpoint catalogues (``PRETRAINED``).

Our own weights are published by ``harmonization publish`` to one Hugging Face model repository (overridden by
``$HARMONIZATION_HUB_REPO``) and pinned to a tag, which changes whenever the shipped weights change.
"""

from __future__ import annotations

__all__ = ["OUR_HUB_ENV", "OUR_HUB_REPO", "OUR_HUB_REVISION", "our_hub_source"]

OUR_HUB_REPO = "harmonization-toolkit/checkpoints"
OUR_HUB_ENV = "HARMONIZATION_HUB_REPO"
OUR_HUB_REVISION = "checkpoints-v2"
"""The tag of the shipped weights: v1 (trained on 114 shared photos), v2 (fine-tuned on the photo corpus)."""


def our_hub_source(name: str) -> dict[str, str]:
    """The catalogue source of our checkpoint ``name``: ``<name>/model.safetensors`` in our repository."""
    return dict(kind="hub", repo_id=OUR_HUB_REPO, repo_env=OUR_HUB_ENV, filename=f"{name}/model.safetensors",
                revision=OUR_HUB_REVISION)
