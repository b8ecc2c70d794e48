"""Shared pytest setup: offline Hugging Face Hub, small synthetic inputs and the demo served on 127.0.0.1
(``app_url``). The package is imported as installed (``pip install -e .[dev]``); ``app.py`` from the checkout
(``pythonpath`` in pyproject.toml)."""

from __future__ import annotations

import importlib.util
import os
import socket
import struct
import sys
import tempfile
import zlib
from collections.abc import Generator, Iterator
from pathlib import Path
from types import ModuleType

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Importing app.py declares lazily cached examples; keep that cache out of the checkout.
os.environ.setdefault("GRADIO_EXAMPLES_CACHE", tempfile.mkdtemp(prefix="harmonization-test-examples-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded NumPy generator (a fresh one per test, so tests do not depend on their order)."""
    return np.random.default_rng(1234)


def make_scene(height: int = 48, width: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A tiny synthetic composite: a bluish textured background with a reddish box pasted in the middle.

    Returns:
        ``(rgb8, mask)``: ``(H, W, 3)`` uint8 and ``(H, W)`` bool with the box marked True.
    """
    gen = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = gen.integers(20, 80, (height, width))
    image[..., 1] = gen.integers(60, 120, (height, width))
    image[..., 2] = gen.integers(140, 220, (height, width))
    mask = np.zeros((height, width), bool)
    top, left = height // 4, width // 4
    mask[top : height - top, left : width - left] = True
    count = int(mask.sum())
    image[mask] = np.stack(
        [gen.integers(180, 250, count), gen.integers(90, 140, count), gen.integers(30, 90, count)], axis=1
    ).astype(np.uint8)
    return image, mask


@pytest.fixture
def scene() -> tuple[np.ndarray, np.ndarray]:
    """``make_scene()``: a 64x48 composite (uint8) and its bool mask."""
    return make_scene()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG file that declares ``width x height`` RGB pixels but holds no pixel data (a few dozen bytes).

    PIL reads only the header on ``Image.open``, so this is a cheap stand-in for an enormous upload.
    """

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` imported from its file (``scripts/`` is not a package), registered in ``sys.modules``
    (dataclasses look their module up there)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    """The URL of ``app.demo`` served on 127.0.0.1 for one test module (``app.serve_locally``)."""
    import app

    with app.serve_locally() as url:
        yield url


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                               ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item (``item.rep_setup``, ``rep_call``, ``rep_teardown``), so that
    fixtures can tell in their teardown whether the test failed (the browser tests then save a screenshot)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
