"""``compare`` (the app's three columns) and ``compare_all`` ("Compare all methods"): which methods run, with which
options, labels and times; bad options refused before any work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harmonization.pipelines.comparison import compare, compare_all, options_for
from harmonization.pipelines.registry import available_methods, get_method


def _scene() -> tuple[torch.Tensor, torch.Tensor]:
    """A blue-ish background with a reddish pasted square (so every method changes the square)."""
    g = torch.Generator().manual_seed(0)
    image = torch.empty(1, 3, 40, 48)
    image[:, 0], image[:, 1], image[:, 2] = 0.2, 0.3, 0.7
    image += 0.05 * torch.rand(image.shape, generator=g)
    mask = torch.zeros(1, 1, 40, 48)
    mask[..., 10:30, 12:36] = 1.0
    image[:, :, 10:30, 12:36] = torch.tensor([0.8, 0.4, 0.3]).view(1, 3, 1, 1)
    return image.clamp(0, 1), mask


def _array(column) -> np.ndarray:  # noqa: ANN001
    return np.asarray(column.image.convert("RGB")).astype(np.int16)


def test_options_for_gives_each_method_only_what_it_takes() -> None:
    options = {"strength": 0.5, "feather_radius": 2.0, "resolution": 512, "style_strength": 0.3, "size": 256}
    assert options_for("global", options) == {"strength": 0.5, "feather_radius": 2.0}
    assert options_for("phnet", options) == {"strength": 0.5, "feather_radius": 2.0, "resolution": 512}
    assert options_for("painterly", options) == {"style_strength": 0.3, "size": 256}


def test_compare_all_labels_and_times_every_requested_method() -> None:
    image, mask = _scene()
    seen: list[float] = []
    results = compare_all(image, mask, methods=["global", "local"], progress=lambda f, _m: seen.append(f))
    assert [r.method for r in results] == ["naive", "global", "local"]
    assert [r.label for r in results] == ["Cut and paste", "Global colour transfer", "Local colour transfer"]
    assert all(r.seconds >= 0 for r in results) and results[0].seconds == 0.0
    assert seen == sorted(seen) and seen[-1] == 1.0
    naive = _array(results[0])
    outside = mask[0, 0].numpy() == 0
    for column in results[1:]:
        out = _array(column)
        assert out.shape == naive.shape
        assert np.array_equal(out[outside], naive[outside])  # background bit-identical
        assert np.abs(out[~outside] - naive[~outside]).mean() > 5  # the square was harmonized


def test_compare_all_options_change_the_result() -> None:
    image, mask = _scene()
    full = compare_all(image, mask, methods=["global"])[1]
    none = compare_all(image, mask, methods=["global"], options={"strength": 0.0})[1]
    feathered = compare_all(image, mask, methods=["global"], options={"feather_radius": 4.0})[1]
    naive = _array(compare_all(image, mask, methods=[])[0])
    assert np.array_equal(_array(none), naive)  # strength 0: no change
    assert not np.array_equal(_array(full), naive)
    assert not np.array_equal(_array(feathered), _array(full))


@pytest.mark.parametrize("options", [{"strength": 2.5}, {"feather_radius": -1.0}, {"strength": "strong"}])
def test_compare_all_refuses_bad_options_before_running(options: dict) -> None:
    image, mask = _scene()
    calls: list[str] = []
    with pytest.raises(ValueError, match="strength|feather_radius"):
        compare_all(image, mask, methods=["global", "local"], options=options, progress=lambda f, m: calls.append(m))
    assert calls == []  # nothing ran


def test_compare_feather_reaches_the_photo_columns() -> None:
    image, mask = _scene()
    plain = compare(image, mask, "local")
    feathered = compare(image, mask, "local", options={"feather_radius": 4.0})
    assert not np.array_equal(_array(plain.result), _array(feathered.result))
    assert not np.array_equal(_array(plain.baseline), _array(feathered.baseline))


@pytest.mark.slow
def test_compare_all_default_runs_every_available_photo_method() -> None:
    image, mask = _scene()
    results = compare_all(image, mask)
    expected = [n for n in available_methods() if get_method(n).family == "photo"]
    assert [r.method for r in results] == ["naive", *expected]
    assert {r.label for r in results[1:]} == {get_method(n).label for n in expected}
