"""Synthetic pair generation, augmentation, splits and dataset readers (on tiny fake trees in tmp_path)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harmonization.data.augment import crop_resize, draw_crop, random_crop_resize, random_hflip, resize_long_side
from harmonization.data.readers import FFHQH, IHarmony4, load_record
from harmonization.data.splits import NEAR_DUPLICATES, SPLITS_DIR, group_names, load_split, split_names
from harmonization.data.synthetic import (
    PairConfig,
    ffhqh_foreground,
    make_composite,
    object_lab_stats,
    transfer_foreground,
)
from harmonization.data.training import ReaderPairDataset, SyntheticPairDataset, collate, quantize8
from harmonization.ops.color import masked_mean_std, rgb_to_lab
from tests._training_fakes import make_ffhqh_tree, make_iharmony4_tree, make_photo_folder


def _image_and_mask(seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = quantize8(torch.rand(1, 3, size, size, generator=g) * 0.6 + 0.2)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4: 3 * size // 4, size // 4: size // 2 + 4] = 1.0
    return image, mask


# --------------------------------------------------------------------------------------------------------------
# Composites
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("transfer_p", [0.0, 1.0])
def test_make_composite_is_seeded_and_keeps_background(transfer_p: float) -> None:
    image, mask = _image_and_mask()
    refs = [object_lab_stats(*_image_and_mask(s)) for s in (1, 2, 3)]
    config = PairConfig(transfer_p=transfer_p)
    a = make_composite(image, mask, torch.Generator().manual_seed(7), config, refs)
    b = make_composite(image, mask, torch.Generator().manual_seed(7), config, refs)
    c = make_composite(image, mask, torch.Generator().manual_seed(8), config, refs)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    background = mask == 0
    assert torch.equal(a.expand_as(image)[background.expand_as(image)], image[background.expand_as(image)])
    assert (a - image).abs().mul(mask).sum() > 0  # the object did change
    assert torch.equal(a, a.mul(255).round().div(255))  # 8-bit grid


def test_generator_does_not_touch_global_rng() -> None:
    image, mask = _image_and_mask()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_composite(image, mask, torch.Generator().manual_seed(0), PairConfig(transfer_p=0.0))
    assert torch.equal(torch.rand(3), expected)


def test_ffhqh_recipe_all_steps_keep_background() -> None:
    image, mask = _image_and_mask(4)
    config = PairConfig(posterize_p=1.0, sharpness_p=1.0, autocontrast_p=1.0, transfer_p=0.0)
    out = ffhqh_foreground(image, mask, torch.Generator().manual_seed(3), config)
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def test_transfer_foreground_takes_reference_statistics() -> None:
    image, mask = _image_and_mask(5)
    ref_mean = torch.tensor([55.0, 10.0, -12.0]).view(1, 3, 1, 1)
    _, source_std = masked_mean_std(rgb_to_lab(image), mask)
    ref_std = source_std * torch.tensor([0.5, 0.6, 0.7]).view(1, 3, 1, 1)  # within the [1/4, 4] ratio clamp
    out = transfer_foreground(image, mask, ref_mean, ref_std, strength=1.0)
    mean, std = masked_mean_std(rgb_to_lab(out), mask)
    assert torch.allclose(mean.flatten(), ref_mean.flatten(), atol=1.5)
    assert torch.allclose(std.flatten(), ref_std.flatten(), atol=1.5)
    assert torch.equal(out * (1 - mask), image * (1 - mask))
    same = transfer_foreground(image, mask, ref_mean, ref_std, strength=0.0)
    assert torch.allclose(same, image, atol=2e-3)


def test_pair_config_rejects_bad_probability() -> None:
    with pytest.raises(ValueError, match="transfer_p"):
        PairConfig(transfer_p=1.5)


# --------------------------------------------------------------------------------------------------------------
# Augmentation
# --------------------------------------------------------------------------------------------------------------
def test_crop_prefers_foreground_and_is_seeded() -> None:
    mask = torch.zeros(1, 1, 100, 100)
    mask[..., 80:95, 80:95] = 1
    box_a = draw_crop(100, 100, torch.Generator().manual_seed(1), scale=(0.05, 0.1), mask=mask)
    box_b = draw_crop(100, 100, torch.Generator().manual_seed(1), scale=(0.05, 0.1), mask=mask)
    assert box_a == box_b
    top, left, h, w = box_a
    assert float(mask[..., top:top + h, left:left + w].mean()) > 0.01


def test_crop_resize_flip_and_resize_long_side() -> None:
    image = torch.arange(2 * 3 * 6 * 8, dtype=torch.float32).reshape(2, 3, 6, 8)[:1] / 200
    mask = torch.zeros(1, 1, 6, 8)
    out = crop_resize((image, mask), (1, 2, 4, 4), 4)
    assert torch.equal(out[0], image[..., 1:5, 2:6])
    flipped = random_hflip(out, torch.Generator().manual_seed(0), p=1.0)
    assert torch.equal(flipped[0], out[0].flip(-1))
    a = random_crop_resize((image, mask), 8, torch.Generator().manual_seed(2))
    assert a[0].shape == (1, 3, 8, 8) and a[1].shape == (1, 1, 8, 8)
    assert resize_long_side(torch.rand(1, 3, 40, 20), 10).shape == (1, 3, 10, 5)
    assert resize_long_side(torch.rand(1, 3, 4, 2), 10).shape == (1, 3, 4, 2)
    with pytest.raises(ValueError, match=r"tensor 1 has H=5 but tensor 0 has H=6"):
        crop_resize((image, torch.zeros(1, 1, 5, 5)), (0, 0, 2, 2), 2)


# --------------------------------------------------------------------------------------------------------------
# Training datasets
# --------------------------------------------------------------------------------------------------------------
def test_synthetic_pair_dataset(tmp_path: Path) -> None:
    photos, masks = make_photo_folder(tmp_path, count=4)
    ds = SyntheticPairDataset(photos, masks, size=16, seed=3)
    assert len(ds) == 4
    a, b = ds.sample(1, epoch=0), ds.sample(1, epoch=0)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(ds.sample(1, epoch=1)["composite"], a["composite"])
    assert a["composite"].shape == (3, 16, 16) and a["mask"].shape == (1, 16, 16)
    assert set(a["mask"].unique().tolist()) <= {0.0, 1.0}
    bg = (a["mask"] == 0).expand(3, -1, -1)
    assert torch.equal(a["composite"][bg], a["target"][bg])
    batch = collate([ds[0], ds[1]])
    assert batch["composite"].shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match="multiple of 8"):
        SyntheticPairDataset(photos, masks, size=12)
    assert len(SyntheticPairDataset(photos, masks, names=["photo_00", "missing"], size=8)) == 1


def test_reader_pair_dataset(tmp_path: Path) -> None:
    reader = FFHQH(make_ffhqh_tree(tmp_path / "ffhqh"))
    ds = ReaderPairDataset(reader, size=16, seed=0)
    item = ds[0]
    assert item["target"].shape == (3, 16, 16)
    assert torch.equal(item["composite"], ds[0]["composite"])


# --------------------------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------------------------
def test_split_keeps_near_duplicates_together() -> None:
    names = [n for pair in NEAR_DUPLICATES for n in pair] + [f"photo_{i:03d}" for i in range(40)]
    for seed in range(5):
        train, held = split_names(names, 0.2, seed=seed)
        assert sorted(train + held) == sorted(names)
        assert abs(len(held) - 10) <= 1
        for pair in NEAR_DUPLICATES:
            assert all(n in held for n in pair) or all(n in train for n in pair)
    assert split_names(names, 0.2, seed=1) == split_names(list(reversed(names)), 0.2, seed=1)
    assert ["opencv_aloel", "opencv_aloer"] in group_names(names)


def test_committed_heldout_list_is_names_only() -> None:
    names = load_split("heldout")
    text = (SPLITS_DIR / "shared_photos_heldout.txt").read_text().splitlines()
    assert names == text and len(names) == 34 and len(set(names)) == 34
    assert all(n.replace("_", "").isalnum() and n.islower() for n in names)
    for pair in NEAR_DUPLICATES:
        assert sum(n in names for n in pair) in (0, 2)
    with pytest.raises(FileNotFoundError, match="split list"):
        load_split("no_such_split.txt")


def test_calibration_folds_are_disjoint_from_each_other_and_the_heldout_list() -> None:
    held, fold_a, fold_b = (set(load_split(n)) for n in ("heldout", "calibration-a", "calibration-b"))
    assert len(fold_a) == 27 and len(fold_b) == 27
    assert not (held & fold_a) and not (held & fold_b) and not (fold_a & fold_b)
    for fold in (fold_a, fold_b):
        for pair in NEAR_DUPLICATES:
            assert sum(n in fold for n in pair) in (0, 2)
    # the '#' header lines are comments, not names
    assert all(not n.startswith("#") for n in fold_a | fold_b)


# --------------------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------------------
def test_iharmony4_reader(tmp_path: Path) -> None:
    root = make_iharmony4_tree(tmp_path / "ih")
    test = IHarmony4(root, "test")
    assert [r.name for r in test.records] == ["HCOCO/coco1_1_2", "Hday2night/day2night1_1_2"]
    assert len(IHarmony4(root, "train")) == 6 and len(IHarmony4(root, "all", ["HCOCO"])) == 4
    sample = test[0]
    assert sample.composite.shape == (1, 3, 48, 64) and sample.mask.shape == (1, 1, 48, 64)
    record = test.records[0]
    assert record.target.name == "coco1.jpg" and record.mask.name == "coco1_1.png"
    diff = (sample.composite - sample.target).abs()
    assert float((diff * sample.mask).sum() / sample.mask.sum()) > float((diff * (1 - sample.mask)).mean()) + 0.02
    with pytest.raises(FileNotFoundError, match="subset"):
        IHarmony4(tmp_path / "empty_root_that_does_not_exist")
    with pytest.raises(ValueError, match="split"):
        IHarmony4(root, "val")


def test_ffhqh_reader(tmp_path: Path) -> None:
    root = make_ffhqh_tree(tmp_path / "ffhqh", count=3)
    reader = FFHQH(root)
    assert [r.name for r in reader.records] == ["00000", "00001", "00002"]
    samples = list(reader)
    assert samples[0].target.shape == (1, 3, 32, 32)
    assert len(FFHQH(root, names=["00001"])) == 1
    assert load_record(reader.records[2]).name == "00002"
    (root / "real").rename(root / "gt")
    assert len(FFHQH(root)) == 3
    with pytest.raises(FileNotFoundError, match="alpha"):
        FFHQH(root, real_dir="missing")


def test_random_scene_color_is_a_seeded_bounded_gain() -> None:
    from harmonization.data.augment import random_scene_color

    image = torch.full((1, 3, 4, 4), 0.5)
    assert torch.equal(random_scene_color(image, torch.Generator().manual_seed(0), 0.0), image)
    a = random_scene_color(image, torch.Generator().manual_seed(1), 0.3)
    b = random_scene_color(image, torch.Generator().manual_seed(1), 0.3)
    assert torch.equal(a, b) and not torch.equal(a, image)
    gains = a[0, :, 0, 0] / 0.5  # overall gain in [0.7, 1.3] times channel gains in [0.85, 1.15]
    assert ((gains >= 0.7 * 0.85 - 1e-6) & (gains <= 1.3 * 1.15 + 1e-6)).all()
    assert torch.equal(a, a[..., :1, :1].expand_as(a))  # one gain per channel for the whole image


# --------------------------------------------------------------------------------------------------------------
# Corpus layout: photos/, masks/<stem>__<k>.png, masks.csv, split lists (tiny, in tmp_path)
# --------------------------------------------------------------------------------------------------------------
def make_fake_corpus(root: Path, count: int = 5, regions: int = 2, seed: int = 0) -> Path:
    """A tiny built corpus: ``photos/photo_NN.jpg``, ``masks/photo_NN__<k>.png`` (ellipse and its complement's
    half), ``masks.csv`` and ``splits/{heldout,fold}.txt`` (photo_00 held out, photo_01 and photo_02 in the fold)."""
    import csv

    import numpy as np
    from PIL import Image

    from tests._training_fakes import fake_photo

    rng = np.random.default_rng(seed)
    (root / "photos").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    (root / "splits").mkdir(exist_ok=True)
    rows = []
    for i in range(count):
        name = f"photo_{i:02d}"
        image, mask = fake_photo(rng)
        Image.fromarray(image).save(root / "photos" / f"{name}.jpg", quality=95)
        second = np.zeros_like(mask)
        second[:, : mask.shape[1] // 4] = 255  # a band on the left: another region of the same photo
        for k, m in list(enumerate((mask, second)))[:regions]:
            Image.fromarray(m).save(root / "masks" / f"{name}__{k}.png")
            rows.append({"name": name, "region": k, "kind": "salient" if k == 0 else "segment",
                         "foreground_fraction": f"{(m > 127).mean():.4f}", "mask": f"{name}__{k}.png"})
    with (root / "masks.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (root / "splits" / "heldout.txt").write_text("photo_00\n")
    (root / "splits" / "fold.txt").write_text("photo_01\nphoto_02\n")
    return root


def test_pair_list_dataset_items_are_seeded_and_use_other_photos_as_references(tmp_path: Path) -> None:
    from harmonization.data.training import PairListDataset

    root = make_fake_corpus(tmp_path / "corpus", count=3)
    pairs = [(root / "photos" / f"photo_{i:02d}.jpg", root / "masks" / f"photo_{i:02d}__{k}.png")
             for i in range(3) for k in range(2)]
    ds = PairListDataset(pairs, size=32, seed=3)
    assert len(ds) == 6 and ds.photo_count == 3 and ds.names[1] == "photo_00/photo_00__1"
    assert len(ds.images) == 3  # each photo read once
    a, b = ds.sample(4, epoch=2), ds.sample(4, epoch=2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["composite"].shape == (3, 32, 32) and a["mask"].shape == (1, 32, 32)
    assert not torch.equal(ds.sample(4, epoch=3)["composite"], a["composite"])
    outside = a["mask"] < 0.5
    assert torch.equal(a["composite"][:, outside[0]], a["target"][:, outside[0]])


def test_corpus_composites_both_kinds_seeded_with_a_region_cap(tmp_path: Path) -> None:
    from harmonization.data.folders import CorpusComposites

    root = make_fake_corpus(tmp_path / "corpus", count=4)
    every = CorpusComposites(root, str(root / "splits" / "heldout.txt") + "," + str(root / "splits" / "fold.txt"),
                             max_regions=0)
    samples = list(every)
    assert len(every) == len(samples) == 3 * 2 * 2 and every.photo_count == 3
    assert [s.kind for s in samples[:2]] == ["jitter", "transfer"]
    assert samples[0].name == "photo_00__0"
    again = list(CorpusComposites(root, str(root / "splits" / "heldout.txt") + "," +
                                  str(root / "splits" / "fold.txt"), max_regions=0))
    assert all(torch.equal(x.composite, y.composite) for x, y in zip(samples, again, strict=True))
    for s in samples:
        outside = s.mask < 0.5
        assert torch.equal(s.composite[outside.expand_as(s.composite)], s.target[outside.expand_as(s.target)])
        assert not torch.equal(s.composite, s.target)
    split = str(root / "splits" / "heldout.txt") + "," + str(root / "splits" / "fold.txt")
    shards = [list(CorpusComposites(root, split, max_regions=0, shard=(i, 2))) for i in range(2)]
    joined = {(x.name, x.kind): x.composite for part in shards for x in part}
    assert len(joined) == len(samples) and all(torch.equal(joined[(x.name, x.kind)], x.composite) for x in samples)
    capped = CorpusComposites(root, str(root / "splits" / "heldout.txt"), max_regions=1, kinds=("jitter",))
    assert len(list(capped)) == 1
    with pytest.raises(ValueError, match="kinds"):
        CorpusComposites(root, str(root / "splits" / "heldout.txt"), kinds=("blur",))
