"""The architecture rules of the package, checked on source files (used by ``test_layering.py``).

Layers, lowest first; a module may import its own layer or lower ones, never a higher one, and the import graph of
the package's modules has no cycles:

====  =========================================================================================
rank  modules
====  =========================================================================================
0     ``errors``
1     ``ops/``, ``image_io``, ``metrics``, ``cvbridge``
2     ``models/``
3     ``hub/``
4     ``pipelines/``, ``data/``
5     ``api``, the package root (``__init__``)
6     ``training/``, ``evaluation/``, ``benchmarks/``, ``serving/``
7     ``cli``, ``__main__`` and the alias modules (``train``, ``evaluate``, ``calibrate``, ``bench_*``)
8     ``app.py`` and the UI package ``demo/`` (both outside the package, at the repository root)
====  =========================================================================================

Third-party imports: PIL only in ``image_io`` and ``data/corpus`` (the corpus builder, a build-time tool);
NumPy only in ``image_io``, ``metrics`` (its "dovenet" convention resizes with PIL on 8-bit arrays) and
``data/corpus``; huggingface_hub, urllib, http and socket only in ``hub/``; gradio only in ``app.py`` and
``demo/``; ``models/`` and ``ops/`` import nothing but torch, kornia (ops only), ``errors``, ``ops`` and the
standard library; ``app.py`` and ``demo/`` do no image math (no torch, NumPy, PIL, kornia, OpenCV), and the
package never imports ``demo``.

``cvbridge`` (layer 1) is the one exception for OpenCV: ``cv2`` is imported there only, and NumPy with it, because
OpenCV's functions (GrabCut's exact min-cut, connected components) take NumPy arrays; the module converts tensors to
arrays and back around those two calls and nothing else, so the tensor code above it never sees NumPy.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

RANKS: tuple[tuple[str, int], ...] = (
    ("errors", 0),
    ("ops", 1), ("image_io", 1), ("metrics", 1), ("cvbridge", 1),
    ("models", 2),
    ("hub", 3),
    ("pipelines", 4), ("data", 4),
    ("api", 5), ("__init__", 5),
    ("training", 6), ("evaluation", 6), ("benchmarks", 6), ("serving", 6),
    ("cli", 7), ("__main__", 7), ("train", 7), ("evaluate", 7), ("calibrate", 7), ("bench_painterly", 7),
)
APP_RANK = 8
UI_FILES = ("app.py", "demo")
"""The UI at layer 8, relative to the repository root: ``app.py`` and every module of the ``demo/`` package."""
ONLY_IN: dict[str, tuple[str, ...]] = {
    "PIL": ("image_io", "data.corpus"),
    "numpy": ("image_io", "metrics", "data.corpus", "cvbridge"),
    "cv2": ("cvbridge",),
    "huggingface_hub": ("hub",),
    "urllib": ("hub",),
    "http": ("hub",),
    "socket": ("hub",),
    "gradio": (),
    "demo": (),  # the UI package (layer 8) is above everything in the package
    "httpx": (), "httpx2": (), "requests": (),
}
CORE_ALLOWED = {"torch", "kornia", "__future__"}  # plus the standard library and our errors/ops
STDLIB = set(sys.stdlib_module_names)


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. "harmonization.hub.loading"
    path: Path
    package: bool  # an __init__.py

    @property
    def relative(self) -> str:
        """The name inside the package (``"hub.loading"``, ``"__init__"`` for the root)."""
        parts = self.name.split(".")[1:]
        return ".".join(parts) if parts else "__init__"


def modules(root: Path, package: str) -> dict[str, Module]:
    """Every module of the package under ``root`` (the package folder), by dotted name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join([package, *parts])
        found[name] = Module(name, path, is_package)
    return found


def imports(module: Module, known: dict[str, Module]) -> list[tuple[str, int]]:
    """``(absolute module name, line)`` of every import in the file, relative ones resolved.

    ``from . import x`` counts as importing the submodule ``x`` when it is one, else the package.
    """
    result = []
    base = module.name.split(".") if module.package else module.name.split(".")[:-1]
    for node in ast.walk(ast.parse(module.path.read_text(), str(module.path))):
        if isinstance(node, ast.Import):
            result += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                result.append((sub if sub in known else target, node.lineno))
    return result


def rank_of(relative: str) -> int:
    head = relative.split(".")[0]
    for name, rank in RANKS:
        if head == name:
            return rank
    raise KeyError(f"no layer is assigned to the module {relative!r}; add it to RANKS in tests/_layering.py")


def _allowed_third_party(relative: str, top: str) -> bool:
    if top in ONLY_IN:
        return any(relative == place or relative.startswith(place + ".") for place in ONLY_IN[top])
    if relative.split(".")[0] in ("models", "ops"):
        return top in CORE_ALLOWED or top in STDLIB or (top == "kornia" and relative.startswith("ops"))
    return True


def check_package(root: Path, package: str) -> list[str]:
    """All violations of the rules in the package under ``root``, as readable lines (empty: all good)."""
    known = modules(root, package)
    problems: list[str] = []
    graph: dict[str, set[str]] = {name: set() for name in known}
    for module in known.values():
        try:
            own = rank_of(module.relative)
        except KeyError as exc:
            problems.append(exc.args[0])
            continue
        for target, line in imports(module, known):
            where = f"{module.path.relative_to(root.parent)}:{line}"
            top = target.split(".")[0]
            if top == package:
                inner = target.split(".", 1)[1] if "." in target else "__init__"
                graph[module.name].add(target if target in known else package)
                try:
                    other = rank_of(inner)
                except KeyError as exc:
                    problems.append(f"{where}: {exc.args[0]}")
                    continue
                if other > own:
                    problems.append(f"{where}: {module.relative} (layer {own}) imports {inner} (layer {other}); "
                                    "imports must go to the same or a lower layer")
                if module.relative.split(".")[0] in ("models", "ops") and inner.split(".")[0] not in (
                        "errors", "ops", "models"):
                    problems.append(f"{where}: {module.relative} imports {inner}; models/ and ops/ import only "
                                    "torch, ops and errors")
            elif not _allowed_third_party(module.relative, top):
                problems.append(f"{where}: {module.relative} imports {top}, which is reserved for "
                                f"{', '.join(ONLY_IN.get(top, ('torch-only code',))) or 'app.py'}")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def ui_modules(root: Path) -> list[Path]:
    """The UI's files under the repository ``root``: ``app.py`` and ``demo/**/*.py`` (see :data:`UI_FILES`)."""
    found = []
    for name in UI_FILES:
        path = root / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def check_app(path: Path, package: str) -> list[str]:
    """``app.py`` or a module of ``demo/``: no image math (the UI lays out, wires events and reports errors)."""
    problems = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for name in names:
            if name.split(".")[0] in {"torch", "numpy", "PIL", "kornia", "cv2"}:
                problems.append(f"{path.name}:{node.lineno}: imports {name}; the UI contains no image math")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a closed path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component) + [sorted(component)[0]])

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
