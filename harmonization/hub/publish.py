"""Publishing our checkpoints to a Hugging Face model repository: ``harmonization publish --repo OWNER/NAME``.

The folder that is uploaded (``--dry-run`` writes it and prints its files, nothing leaves the machine):

```
README.md                     the repository's model card: YAML metadata (licence, tags, datasets, library) and one
                              section per checkpoint, its held-out results included
<name>/model.safetensors      the weights, exactly the shipped file (its metadata is what the loader reads)
<name>/config.json            arch, config, resolution, transfer, strength, format, licence, description
<name>/README.md              the checkpoint's own model card (checkpoints/MODEL_CARD_<name>.md)
```

Each checkpoint's registry entry has a :class:`~harmonization.hub.HubSource` pointing at ``<name>/model.safetensors``
in ``$HARMONIZATION_HUB_REPO`` at a pinned revision (the entry's ``revision``, a tag); :func:`publish` uploads the
folder with ``huggingface_hub`` (``create_repo`` + ``upload_folder``) and creates that tag on the new commit, so the
resolver finds exactly these files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .files import read_metadata
from .loading import NETWORKS, network_metadata_defaults
from .registry import CheckpointSpec, get_checkpoint_spec, list_checkpoints
from .resolve import resolve_checkpoint
from .sources import HubSource

__all__ = ["build_folder", "card_metadata", "main", "our_checkpoints", "publish"]

TAGS = ["image-harmonization", "image-to-image", "pytorch", "safetensors"]


def our_checkpoints() -> list[str]:
    """Names of the networks we train and ship (entries with a shipped local file and a Hub source)."""
    return [name for name in list_checkpoints() if get_checkpoint_spec(name).shipped
            and get_checkpoint_spec(name).arch in NETWORKS and get_checkpoint_spec(name).hub_sources]


def _hub_source(spec: CheckpointSpec) -> HubSource:
    return spec.hub_sources[0]


def card_metadata(specs: Sequence[CheckpointSpec]) -> Any:
    """The metadata of the repository's card, as ``huggingface_hub.ModelCardData`` (its YAML is the card's header)."""
    from huggingface_hub import ModelCardData

    return ModelCardData(
        license="mit",
        library_name="harmonization",
        tags=TAGS + sorted({spec.arch for spec in specs}),
        datasets=["harmonization-photo-corpus"],
        pipeline_tag="image-to-image",
    )


def _config(spec: CheckpointSpec, path: Path) -> dict[str, Any]:
    metadata = read_metadata(path)
    anchored, transfer, strength = network_metadata_defaults(metadata, path.name)
    return {"name": spec.name, "arch": spec.arch, "config": spec.config or metadata.get("config") or None,
            "resolution": spec.resolution, "transfer": transfer, "strength": strength,
            "output": "background-anchored" if anchored else "prediction", "format": _hub_source(spec).format,
            "license": spec.license, "description": spec.description}


def _card(spec: CheckpointSpec, checkpoints_dir: Path) -> str:
    card = checkpoints_dir / f"MODEL_CARD_{spec.name}.md"
    if not card.is_file():
        raise FileNotFoundError(f"No model card for {spec.name!r}: write {card.name} in the checkpoints folder first "
                                "(licence, data, recipe, held-out table).")
    return card.read_text()


def build_folder(out: str | Path, names: Sequence[str] | None = None) -> list[Path]:
    """Write the folder to upload (see the module docstring); returns its files, relative to ``out``.

    Raises:
        ValueError: a name that is not one of ours (no shipped file or no Hub source).
        FileNotFoundError: a missing weights file or model card.
    """
    from huggingface_hub import ModelCard

    names = list(names) if names else our_checkpoints()
    specs = []
    for name in names:
        spec = get_checkpoint_spec(name)
        if name not in our_checkpoints():
            raise ValueError(f"{name!r} is not one of our published networks ({', '.join(our_checkpoints())}); only "
                             "weights we trained and may redistribute are published.")
        specs.append(spec)
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    sections = []
    for spec in specs:
        resolved = resolve_checkpoint(spec, allow_network=False)
        folder = out / spec.name
        folder.mkdir()
        source = _hub_source(spec)
        target = out / source.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(resolved.path, target)
        (folder / "config.json").write_text(json.dumps(_config(spec, resolved.path), indent=2) + "\n")
        card = _card(spec, resolved.path.parent)
        (folder / "README.md").write_text(card)
        sections.append(f"## `{spec.name}`\n\nFiles: `{source.filename}`, `{spec.name}/config.json`; pinned "
                        f"revision `{source.revision}`. Load it with `harmonization.hub.load_network("
                        f"\"{spec.name}\")`.\n\n" + card.split("\n", 1)[1].strip() + "\n")
    header = ("# Image harmonization checkpoints\n\nNetworks trained by the `harmonization` toolkit (PHNet and FMM, "
              "original-compatible architectures), in safetensors with their settings in the file metadata. "
              "Use them with `pip install harmonization` and `harmonization.harmonize(composite, mask, "
              "method=\"phnet\")`; the resolver downloads them from this repository.\n")
    text = "---\n" + card_metadata(specs).to_yaml() + "\n---\n\n" + header + "\n" + "\n".join(sections)
    ModelCard(text)  # parses the YAML header the way the Hub does; raises on a malformed one
    (out / "README.md").write_text(text)
    return sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())


def publish(repo: str, folder: str | Path, *, api: Any = None, private: bool = False) -> str:
    """Upload a folder made by :func:`build_folder` and tag the commit with each checkpoint's pinned revision.

    Args:
        repo: ``"owner/name"`` of the model repository (created if missing).
        folder: the folder to upload.
        api: a ``huggingface_hub.HfApi`` (default: a new one, which reads ``HF_TOKEN``).
        private: create the repository as private.

    Returns:
        The URL of the uploaded commit.
    """
    from huggingface_hub import HfApi

    api = api or HfApi()
    api.create_repo(repo, repo_type="model", exist_ok=True, private=private)
    commit = api.upload_folder(repo_id=repo, repo_type="model", folder_path=str(folder),
                               commit_message="Upload harmonization checkpoints")
    revisions = {json.loads(p.read_text())["name"]: None for p in Path(folder).glob("*/config.json")}
    for name in revisions:
        tag = _hub_source(get_checkpoint_spec(name)).revision
        if tag:
            api.create_tag(repo, tag=tag, revision=getattr(commit, "oid", None), exist_ok=True)
    return str(getattr(commit, "commit_url", commit))


def main(argv: Sequence[str] | None = None) -> int:
    """``harmonization publish --repo OWNER/NAME [--dry-run] [--out DIR] [--names ...]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="harmonization publish", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", required=True, help="the Hub model repository, OWNER/NAME (created if missing)")
    parser.add_argument("--dry-run", action="store_true", help="write the folder and list it; upload nothing")
    parser.add_argument("--out", help="folder to write (default: publish/OWNER--NAME)")
    parser.add_argument("--names", nargs="+", help=f"checkpoints to publish (default: {', '.join(our_checkpoints())})")
    args = parser.parse_args(argv)
    if args.repo.count("/") != 1 or not all(args.repo.split("/")):
        parser.error(f"--repo must look like OWNER/NAME; got {args.repo!r}.")
    repo, dry_run = args.repo, args.dry_run
    folder = Path(args.out) if args.out else Path("publish") / repo.replace("/", "--")
    try:
        files = build_folder(folder, args.names)
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"error: {exc}\n")
    print(f"{'Would upload' if dry_run else 'Uploading'} {len(files)} files from {folder} to "
          f"https://huggingface.co/{repo}:")
    for path in files:
        print(f"  {path} ({(folder / path).stat().st_size:,} bytes)")
    if dry_run:
        print("Dry run: nothing was uploaded. Serve this folder, or run again without --dry-run.")
        return 0
    print(publish(repo, folder))
    return 0
