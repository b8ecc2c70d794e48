"""Deploy the demo as a Hugging Face Space without a git push: ``python scripts/deploy_space.py --space OWNER/NAME``.

This repository's history holds our weights as plain git blobs (20 and 23 MB), which a Space refuses on push. The
deploy therefore goes through ``huggingface_hub``: the tracked files of the checkout (``git ls-files``: no virtual
environment, caches or runs), minus what a Space does not need (tests, CI), are staged in a folder and uploaded with
``HfApi.upload_folder``, which stores large files with LFS itself.

Weights: with ``--hub-repo OWNER/MODELS`` (a repository made by ``harmonization publish``), our network weights are
left out of the upload; the staged README's front matter preloads them from that repository at build time
(``preload_from_hub``, pinned to the commit of their tag) and the Space variable ``HARMONIZATION_HUB_REPO`` points the
resolver there. Without it, the weights are uploaded with the app.

``--dry-run`` stages the folder and lists it; nothing is uploaded.
"""

from __future__ import annotations

import argparse
import fnmatch
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SKIP = ("tests/*", ".ci/*", ".gitattributes", "scripts/convert_selfie_segmentation.py")
MAX_PLAIN_BYTES = 10 * 1024 * 1024


def tracked_files(root: Path = ROOT) -> list[str]:
    """The checkout's tracked files (``git ls-files``), relative paths."""
    result = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True)
    return sorted(name for name in result.stdout.decode().split("\0") if name and (root / name).is_file())


def lfs_patterns(root: Path = ROOT) -> list[str]:
    """The patterns ``.gitattributes`` stores with LFS."""
    path = root / ".gitattributes"
    lines = path.read_text().splitlines() if path.is_file() else []
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#") and "filter=lfs" in line]


def our_weight_files() -> list[str]:
    """``checkpoints/<file>`` of the networks ``harmonization publish`` uploads."""
    from harmonization.hub import LocalSource, get_checkpoint_spec
    from harmonization.hub.publish import our_checkpoints

    return [f"checkpoints/{s.filename}" for name in our_checkpoints() for s in get_checkpoint_spec(name).sources
            if isinstance(s, LocalSource)]


def preload_entry(hub_repo: str, revision: str) -> str:
    """The ``preload_from_hub`` line for our weights in ``hub_repo`` at ``revision``."""
    from harmonization.hub.publish import our_checkpoints

    files = ",".join(f"{name}/model.safetensors" for name in our_checkpoints())
    return f"{hub_repo} {files} {revision}"


def stage(out: Path, hub_repo: str | None, revision: str | None, root: Path = ROOT) -> list[str]:
    """Copy what the Space needs into ``out`` (README front matter adjusted); returns the staged paths."""
    skip = list(SKIP) + (our_weight_files() if hub_repo else [])
    files = [f for f in tracked_files(root) if not any(fnmatch.fnmatch(f, pattern) for pattern in skip)]
    if out.exists():
        shutil.rmtree(out)
    for name in files:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, target)
    if hub_repo:
        from harmonization.models._pretrained import OUR_HUB_REPO

        readme = (out / "README.md").read_text()
        head, sep, rest = readme.partition("preload_from_hub:\n")
        if not sep:
            raise ValueError("README.md front matter has no preload_from_hub list to extend.")
        text = head.replace(f"  - {OUR_HUB_REPO}\n", f"  - {hub_repo}\n") + sep
        (out / "README.md").write_text(text + f"  - {preload_entry(hub_repo, revision or 'main')}\n" + rest)
    return files


def _commit_of(api: Any, repo: str, revision: str) -> str:
    return str(api.model_info(repo, revision=revision).sha)


def main(argv: Sequence[str] | None = None, api: Any = None) -> int:
    """Stage, list and (unless ``--dry-run``) upload; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", required=True, help="the Space, OWNER/NAME (created if missing)")
    parser.add_argument("--hub-repo", help="model repository holding our weights (harmonization publish)")
    parser.add_argument("--out", default=str(ROOT / "publish" / "space"), help="staging folder")
    parser.add_argument("--dry-run", action="store_true", help="stage and list; upload nothing")
    args = parser.parse_args(argv)
    from harmonization.models._pretrained import OUR_HUB_ENV, OUR_HUB_REVISION

    if api is None and not args.dry_run:
        from huggingface_hub import HfApi

        api = HfApi()
    revision = OUR_HUB_REVISION
    if args.hub_repo and api is not None:
        revision = _commit_of(api, args.hub_repo, OUR_HUB_REVISION)  # preload_from_hub takes a commit
    out = Path(args.out)
    files = stage(out, args.hub_repo, revision)
    big = [f for f in files if (out / f).stat().st_size > MAX_PLAIN_BYTES]
    print(f"{'Would upload' if args.dry_run else 'Uploading'} {len(files)} files ({len(big)} over 10 MB, stored with "
          f"LFS by the upload) from {out} to the Space {args.space}")
    for name in files:
        print(f"  {name}")
    if args.dry_run:
        return 0
    api.create_repo(args.space, repo_type="space", space_sdk="gradio", exist_ok=True)
    if args.hub_repo:
        api.add_space_variable(args.space, OUR_HUB_ENV, args.hub_repo)
    commit = api.upload_folder(repo_id=args.space, repo_type="space", folder_path=str(out),
                               commit_message="Deploy the harmonization demo")
    print(getattr(commit, "commit_url", commit))
    return 0


if __name__ == "__main__":
    sys.exit(main())
