"""The network pipeline shared by PHNet and FMM: checkpoints, resolution, full-resolution transfer, blending."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import harmonization
from harmonization import hub
from harmonization.benchmarks.transfer import OracleNetwork
from harmonization.errors import CheckpointFileError, MethodUnavailableError
from harmonization.hub import CheckpointSpec, LoadedNetwork, LocalSource, load_network, load_state_dict
from harmonization.models import build_from_state_dict
from harmonization.models.phnet import PHNET_TINY, PHNet
from harmonization.pipelines.neural import network_unavailable_reason, run_loaded, run_network


@pytest.fixture(scope="module")
def tiny_phnet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = PHNet(PHNET_TINY)
    path = tmp_path_factory.mktemp("ckpt") / "phnet_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


def _scene(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = np.zeros((height, width), np.float32)
    mask[height // 4 : 3 * height // 4, width // 3 : 2 * width // 3] = 1.0
    mask[height // 4, width // 3 : 2 * width // 3] = 0.3  # a soft edge row
    return image, mask


@pytest.mark.parametrize("transfer", ["affine", "upsample"])
@pytest.mark.parametrize("size", [(101, 77), (64, 64), (150, 230)])
def test_phnet_full_resolution_and_untouched_background(tiny_phnet_file: Path, transfer: str,
                                                        size: tuple[int, int]) -> None:
    image, mask = _scene(*size)
    out = np.asarray(harmonization.harmonize(image, mask, "phnet", checkpoint=str(tiny_phnet_file),
                                             transfer=transfer, device="cpu"))
    assert out.shape == image.shape
    assert (out[mask == 0] == image[mask == 0]).all()
    assert (out[mask == 1] != image[mask == 1]).any()


def test_file_formats_and_refusal_of_pickles(tiny_phnet_file: Path, tmp_path: Path) -> None:
    state = load_state_dict(tiny_phnet_file)
    pth = tmp_path / "plain.pth"
    torch.save(state, pth)
    a = build_from_state_dict("phnet", state)
    b = load_network(pth, "cpu", arch="phnet")
    x, m = torch.rand(1, 3, 32, 40), (torch.rand(1, 1, 32, 40) > 0.5).float()
    torch.testing.assert_close(a(x, m), b.model(x, m))
    assert b.resolution == 512  # a published-style .pth says nothing: the family's published resolution
    with pytest.raises(ValueError, match="does not say which network"):
        load_network(pth, "cpu")
    evil = tmp_path / "evil.pth"
    torch.save({"weights": state, "object": Path("/")}, evil)
    with pytest.raises(CheckpointFileError, match="Refusing to load evil.pth.*pickled"):
        load_network(evil, "cpu", arch="phnet")


def test_a_path_runs_with_the_settings_its_metadata_and_the_registry_give() -> None:
    # Regression: the shipped file given by path ran at 512 px while the registry name ran at 320 px.
    by_name = load_network("phnet-shared-photos", "cpu")
    by_path = load_network(str(hub.resolve_checkpoint("phnet-shared-photos").path), "cpu")
    assert by_name.resolution == by_path.resolution == 320
    assert (by_name.transfer, by_name.strength) == (by_path.transfer, by_path.strength) == ("global", 0.6)
    assert by_name.model is by_path.model  # one cache entry per file


def test_non_finite_weights_and_non_regular_files_are_refused(tiny_phnet_file: Path, tmp_path: Path) -> None:
    state = {k: v.clone() for k, v in load_state_dict(tiny_phnet_file).items()}
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key].view(-1)[0] = float("nan")
    broken = tmp_path / "nan.safetensors"
    save_file(state, str(broken), metadata={"arch": "phnet"})
    image, mask = _scene(32, 32)
    with pytest.raises(CheckpointFileError, match=rf"nan.safetensors holds NaN or infinite weights in 1 tensor.*{key}"):
        harmonization.harmonize(image, mask, "phnet", checkpoint=str(broken), device="cpu")
    fifo = tmp_path / "weights.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointFileError, match="is a FIFO"):
        harmonization.harmonize(image, mask, "phnet", checkpoint=str(fifo), device="cpu")
    (tmp_path / "folder.pth").mkdir()
    with pytest.raises(CheckpointFileError, match="is a folder"):
        load_network(tmp_path / "folder.pth", arch="phnet")
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointFileError, match="empty.pth could not be read as a weights file"):
        load_network(empty, arch="phnet")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_phnet_file.read_bytes()[:300])
    with pytest.raises(CheckpointFileError, match="truncated.safetensors could not be read"):
        load_network(truncated, arch="phnet")


def test_registered_checkpoint_makes_the_method_available(tiny_phnet_file: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARMONIZATION_CHECKPOINTS_DIR", str(tmp_path))
    spec = CheckpointSpec(name="phnet-test-tiny", arch="phnet", resolution=64, redistributable=True,
                          sources=(LocalSource("phnet_test_tiny.safetensors", "phnet-safetensors", shipped=True),))
    monkeypatch.setitem(hub.registry._REGISTRY, spec.name, spec)
    reason = network_unavailable_reason("phnet")
    assert reason is not None and "phnet-test-tiny" in reason and "checkpoints/" in reason
    assert "phnet" not in harmonization.available_methods()
    image, mask = _scene(48, 64)
    with pytest.raises(MethodUnavailableError, match="no PHNet checkpoint"):
        harmonization.harmonize(image, mask, "phnet")
    (tmp_path / "phnet_test_tiny.safetensors").write_bytes(tiny_phnet_file.read_bytes())
    assert network_unavailable_reason("phnet") is None
    assert "phnet" in harmonization.available_methods()
    assert "phnet-test-tiny" in harmonization.get_method("phnet").describe_source()
    assert "strength" not in harmonization.get_method("phnet").describe_source()  # published-style file: 1
    state = {k: v.contiguous() for k, v in load_state_dict(tiny_phnet_file).items()}
    save_file(state, str(tmp_path / "phnet_test_tiny.safetensors"), metadata={"strength": "0.6"})
    assert harmonization.get_method("phnet").describe_source().endswith("64 px, strength 0.6)")
    out = np.asarray(harmonization.harmonize(image, mask, "phnet", device="cpu"))
    assert out.shape == image.shape and (out[mask == 0] == image[mask == 0]).all()


def test_aspect_ratio_kept_and_padding_removed(tiny_phnet_file: Path) -> None:
    seen: list[tuple[int, ...]] = []
    model = build_from_state_dict("phnet", load_state_dict(tiny_phnet_file))
    model.register_forward_hook(lambda _m, inputs, _o: seen.append(tuple(inputs[0].shape)))
    composite = torch.rand(1, 3, 300, 500)
    mask = torch.zeros(1, 1, 300, 500)
    mask[..., 100:200, 200:300] = 1
    out = run_loaded(composite, mask, LoadedNetwork(model, 64, "tiny"))
    assert out.shape == composite.shape
    # long side 500 -> 64, short side 300 -> 38, padded to 40 (multiple of 8): not squashed to a square.
    assert seen == [(1, 3, 40, 64)]


def test_affine_transfer_beats_upsampling_with_a_perfect_low_resolution_prediction() -> None:
    # Smooth colour fields (visible at low resolution) times a fine 2-px texture (lost at low resolution); the
    # "network" is an oracle that returns the real image at the working resolution.
    torch.manual_seed(0)
    fields = F.interpolate(torch.rand(1, 3, 4, 4), size=(256, 256), mode="bicubic", align_corners=False)
    yy, xx = torch.meshgrid(torch.arange(256), torch.arange(256), indexing="ij")
    texture = ((yy // 2 + xx // 2) % 2).float()[None, None]
    target = (0.15 + 0.6 * fields.clamp(0, 1)) * (0.8 + 0.3 * texture)
    mask = torch.zeros(1, 1, 256, 256)
    mask[..., 64:192, 64:192] = 1
    composite = torch.lerp(target, (target * 0.7 + 0.2).clamp(0, 1), mask)
    oracle = OracleNetwork()
    oracle.target, oracle.size = target, (64, 64)
    network = LoadedNetwork(oracle, 64, "oracle")
    errors = {}
    for transfer in ("affine", "upsample"):
        pred = run_loaded(composite, mask, network, transfer=transfer)
        errors[transfer] = float(((pred - target) ** 2 * mask).sum() / (3 * mask.sum()))
    assert errors["affine"] < 0.1 * errors["upsample"]


def test_bad_transfer_and_wrong_arch(tiny_phnet_file: Path) -> None:
    with pytest.raises(ValueError, match="transfer must be"):
        run_network(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32), arch="phnet",
                    checkpoint=str(tiny_phnet_file), transfer="nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fmm-iharmony-256 is a fmm checkpoint, not phnet"):
        run_network(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32), arch="phnet", checkpoint="fmm-iharmony-256")


def test_strength_moves_between_composite_and_prediction_and_metadata_sets_the_default(
        tiny_phnet_file: Path, tmp_path: Path) -> None:
    image, mask = _scene(72, 96, seed=3)
    inside = mask == 1

    def run(path: Path, **options: object) -> np.ndarray:
        return np.asarray(harmonization.harmonize(image, mask, "phnet", checkpoint=str(path), device="cpu",
                                                  **options)).astype(np.int16)

    full = run(tiny_phnet_file)
    assert np.array_equal(run(tiny_phnet_file, strength=1.0), full)
    assert np.array_equal(run(tiny_phnet_file, strength=0.0), image)  # no change at all, inside the mask too
    half = run(tiny_phnet_file, strength=0.5)
    # halfway between the composite and the full prediction (up to 8-bit rounding of both)
    assert np.abs(half[inside] - (image[inside] + full[inside]) / 2).max() <= 1.0
    assert np.abs(full[inside] - image[inside]).mean() > 10  # the test is not trivial
    assert (half[mask == 0] == image[mask == 0]).all()
    # a checkpoint whose metadata says strength 0.5 runs at 0.5 by default; an explicit option still wins
    state = load_state_dict(tiny_phnet_file)
    calibrated = tmp_path / "calibrated.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(calibrated), metadata={"strength": "0.5"})
    assert np.array_equal(run(calibrated), half)
    assert np.array_equal(run(calibrated, strength=1.0), full)


def test_bad_strength_option_and_metadata_are_explained(tiny_phnet_file: Path, tmp_path: Path) -> None:
    image, mask = _scene(32, 32)
    with pytest.raises(ValueError, match=r"strength must be in \[0, 2\].*got 2.5"):
        harmonization.harmonize(image, mask, "phnet", checkpoint=str(tiny_phnet_file), strength=2.5)
    state = {k: v.contiguous() for k, v in load_state_dict(tiny_phnet_file).items()}
    for text in ("strong", "3", "nan"):
        path = tmp_path / f"bad_{text}.safetensors"
        save_file(state, str(path), metadata={"strength": text})
        with pytest.raises(ValueError, match=rf"bad_{text}\.safetensors: metadata strength '{text}' is not a number "
                                             r"in \[0, 2\]"):
            harmonization.harmonize(image, mask, "phnet", checkpoint=str(path), device="cpu")


@pytest.mark.parametrize("name", ["phnet-shared-photos", "fmm-shared-photos"])
def test_shipped_checkpoints_run_at_the_strength_their_model_cards_state(name: str) -> None:
    resolved = hub.resolve_checkpoint(name, allow_network=False)
    metadata = hub.read_metadata(resolved.path)
    assert "calibration" in metadata["strength_calibration"]
    card = (resolved.path.parent / f"MODEL_CARD_{name}.md").read_text()
    assert f"`strength: {metadata['strength']}`" in card
    assert load_network(name, "cpu").strength == float(metadata["strength"])
