"""PHNet (patch-based normalisation for portrait harmonisation), compatible with the original checkpoints.

The module layout (attribute names, layer order, parameter shapes) is exactly the one of the released network,
so the published checkpoint files load with ``strict=True``; see ``PHNET.md`` in the project specs for the facts
this file is written from. Two published configurations exist:

* :data:`PHNET_IHARMONY` -- encoder channels 3..512, patch grids 10/5/1 (iHarmony4 checkpoint, 512 px);
* :data:`PHNET_FFHQH` -- encoder channels 3..1024, patch grids 4/3/2/1 (portrait checkpoints, 256/512/1024 px).

``PHNet.forward(composite, mask)`` returns the sigmoid prediction of the WHOLE image, as the original does; a
caller blends ``pred * mask + composite * (1 - mask)``. The patch statistics are vectorised
(:mod:`harmonization.ops.patches`) instead of the original's Python loops over patches; the numbers agree with a
loop implementation to float rounding. The first skip fusion is computed with the squeeze-excitation gain folded
into the convolution weights (one convolution over C channels instead of one over 2C), which is the same linear map.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from harmonization.models._loading import clean_state_dict, load_strict
from harmonization.models._pretrained import our_hub_source
from harmonization.ops.checks import check_shapes
from harmonization.ops.patches import patch_masked_mean, patch_var, patches_to_pixels

__all__ = [
    "PHNetConfig",
    "PHNET_IHARMONY",
    "PHNET_FFHQH",
    "PHNET_TINY",
    "PHNET_PRESETS",
    "PHNet",
    "PatchNormalization",
    "PatchColorTransfer",
    "config_from_state_dict",
    "build_from_state_dict",
    "PRETRAINED",
]

_PN_EPS = 1e-7  # masked statistics of the patch-based normalisation
_PFE_EPS = 1e-8  # denominator of the colour transfer's std ratio
_SIZE_MULTIPLE = 8  # three stride-2 stages
_NUM_STAGES = 6


@dataclass(frozen=True)
class PHNetConfig:
    """Architecture hyper-parameters of a PHNet.

    Attributes:
        name: a label ("iharmony", "ffhqh", "tiny" or "custom").
        enc: the 7 encoder channel counts ``(3, c1, ..., c6)``; the decoder mirrors them.
        grids: patch-grid size of each patch-based normalisation block, deepest first. PN blocks run on the last
            ``len(grids) - 1`` decoder skips; the last block exists in the state dict but is never called.
            ``grids[1]`` is also the grid of the colour-transfer feature extractor.
        resolution: the square side the checkpoint was trained at (pixels); informative for pipelines.
    """

    name: str
    enc: tuple[int, ...]
    grids: tuple[int, ...]
    resolution: int

    def __post_init__(self) -> None:
        if len(self.enc) != _NUM_STAGES + 1 or self.enc[0] != 3 or any(c < 1 for c in self.enc):
            raise ValueError(f"PHNetConfig.enc must be 7 positive channel counts starting with 3, got {self.enc}.")
        if self.enc[-1] < 8:
            raise ValueError(f"PHNetConfig.enc[-1] must be >= 8 (the SE block reduces it by 8), got {self.enc[-1]}.")
        if not 2 <= len(self.grids) <= _NUM_STAGES or any(g < 1 for g in self.grids):
            raise ValueError(f"PHNetConfig.grids must hold 2 to 6 positive grid sizes, got {self.grids}.")
        if self.resolution < _SIZE_MULTIPLE or self.resolution % _SIZE_MULTIPLE:
            raise ValueError(f"PHNetConfig.resolution must be a positive multiple of 8, got {self.resolution}.")

    @property
    def first_pn_stage(self) -> int:
        """Decoder stage from which the skips go through PN blocks (``7 - len(grids)``)."""
        return _NUM_STAGES + 1 - len(self.grids)

    @property
    def transfer_grid(self) -> int:
        """Patch grid of the colour-transfer feature extractor (``grids[1]``)."""
        return self.grids[1]


PHNET_IHARMONY = PHNetConfig("iharmony", (3, 16, 32, 64, 128, 256, 512), (10, 5, 1), 512)
PHNET_FFHQH = PHNetConfig("ffhqh", (3, 16, 64, 128, 256, 512, 1024), (4, 3, 2, 1), 512)
PHNET_TINY = PHNetConfig("tiny", (3, 4, 8, 8, 16, 16, 16), (4, 3, 2, 1), 64)  # for tests only
PHNET_PRESETS: dict[str, PHNetConfig] = {c.name: c for c in (PHNET_IHARMONY, PHNET_FFHQH, PHNET_TINY)}


def _stats_dtype(x: torch.Tensor) -> torch.dtype:
    """Statistics are computed in float32 at least (the epsilons 1e-7/1e-8 underflow or vanish in half types)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _masked_mean_std(x: torch.Tensor, region: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked per-channel mean and std: ``sum(x r) / (sum(r) + eps)`` and ``sqrt(biased var + eps)``.

    Args:
        x: ``(B, C, H, W)`` features.
        region: ``(B, 1, H, W)`` region weights.
        eps: the epsilon of the mean's denominator and of the variance.

    Returns:
        ``(mean, std)``, each ``(B, C, 1, 1)``.
    """
    denominator = region.sum(dim=(2, 3), keepdim=True) + eps
    mean = (x * region).sum(dim=(2, 3), keepdim=True) / denominator
    var = ((x - mean) * region).square().sum(dim=(2, 3), keepdim=True) / denominator
    return mean, torch.sqrt(var + eps)


class PatchNormalization(nn.Module):
    """Patch-based normalisation (PN) block: foreground features re-normalised to background statistics.

    The foreground is whitened with its masked statistics and re-coloured twice, with the global background
    statistics and with a learned combination of per-patch background means; the background is normalised
    with its own statistics. Each branch has a learned per-channel affine.
    """

    def __init__(self, channels: int, grid: int) -> None:
        """Create the block.

        Args:
            channels: number of feature channels C.
            grid: patches per side g of the background-mean grid.
        """
        super().__init__()
        self.grid = grid
        base = 1.0 / (channels * grid * grid)
        self.weights = nn.Parameter(torch.full((2,), 0.5))
        self.fg_var = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.fg_bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.patched_fg_var = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.patched_fg_bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.bg_var = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bg_bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.grid_weights = nn.Parameter(torch.full((1, channels, grid, grid), base))

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalise ``features`` (the original is called as ``PN(f, f, m)``; both feature inputs are ``f``).

        Args:
            features: ``(B, C, h, w)`` feature map.
            mask: ``(B, 1, h, w)`` foreground mask in {0, 1} at the same scale.

        Returns:
            ``(B, C, h, w)`` normalised features, same dtype as ``features``.
        """
        dtype = _stats_dtype(features)
        f = features.to(dtype)
        fg_region = mask.to(dtype)
        bg_region = 1.0 - fg_region
        mu_bg, sd_bg = _masked_mean_std(f, bg_region, _PN_EPS)
        mu_fg, sd_fg = _masked_mean_std(f, fg_region, _PN_EPS)
        patch_mu_bg = patch_masked_mean(f, bg_region, self.grid, _PN_EPS)  # (B, C, g, g)
        patched_mu_bg = (self.grid_weights.to(dtype) * patch_mu_bg).sum(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)

        # Everything below is a per-channel affine map of f; fold the constants first (cheap, (B, C, 1, 1)).
        w_global, w_patched = self.weights.to(dtype).unbind(0)
        fg_var, fg_bias = self.fg_var.to(dtype), self.fg_bias.to(dtype)
        patched_var, patched_bias = self.patched_fg_var.to(dtype), self.patched_fg_bias.to(dtype)
        whiten_scale = sd_bg / sd_fg  # u * sd_bg = (f - mu_fg) * sd_bg / sd_fg
        fg_scale = whiten_scale * (w_global * fg_var + w_patched * patched_var)
        fg_shift = (w_global * (mu_bg * fg_var + fg_bias) + w_patched * (patched_mu_bg * patched_var + patched_bias)
                    - mu_fg * fg_scale)
        bg_scale = self.bg_var.to(dtype) / sd_bg
        bg_shift = self.bg_bias.to(dtype) - mu_bg * bg_scale

        fg_out = torch.addcmul(fg_shift, f, fg_scale)
        bg_out = torch.addcmul(bg_shift, f, bg_scale)
        return torch.lerp(bg_out, fg_out, fg_region).to(features.dtype)


class _BranchWeights(nn.Module):
    """Holds the two mixing weights (local, global) of the colour transfer (``patch_harmonizer.grid_weights``)."""

    def __init__(self) -> None:
        super().__init__()
        self.grid_weights = nn.Parameter(torch.full((2,), 0.5))


class PatchColorTransfer(nn.Module):
    """Colour-transfer feature extractor: moves foreground colour statistics onto the background's.

    Statistics are unmasked over the zero-filled foreground and background images (mean and Bessel-corrected
    std), both over the whole image and per patch of a ``grid x grid`` grid; a 3x3 conv + ReLU head fuses the
    foreground with the transferred image.
    """

    def __init__(self, grid: int) -> None:
        """Create the block.

        Args:
            grid: patches per side of the local statistics.
        """
        super().__init__()
        self.grid = grid
        self.patch_harmonizer = _BranchWeights()
        self.head = nn.Sequential(nn.Conv2d(6, 3, kernel_size=3, padding=1), nn.ReLU())

    def transfer(self, composite: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Colour-transferred image ``c`` (before the head).

        Args:
            composite: ``(B, 3, H, W)`` RGB in [0, 1].
            mask: ``(B, 1, H, W)`` in {0, 1}.

        Returns:
            ``(fg, c)``: the zero-filled foreground and the transferred image, each ``(B, 3, H, W)`` in the
            statistics dtype (float32 for half inputs).
        """
        dtype = _stats_dtype(composite)
        x, m = composite.to(dtype), mask.to(dtype)
        height, width = x.shape[-2:]
        fg = x * m
        bg = x * (1.0 - m)

        mu_fg, sd_fg = fg.mean(dim=(2, 3), keepdim=True), fg.std(dim=(2, 3), keepdim=True)
        mu_bg, sd_bg = bg.mean(dim=(2, 3), keepdim=True), bg.std(dim=(2, 3), keepdim=True)
        global_transfer = (fg - mu_fg) * sd_bg / (sd_fg + _PFE_EPS) + mu_bg

        patch_mu_fg, patch_var_fg = patch_var(fg, self.grid)
        patch_mu_bg, patch_var_bg = patch_var(bg, self.grid)
        patch_ratio = patch_var_bg.sqrt() / (patch_var_fg.sqrt() + _PFE_EPS)
        local_transfer = ((fg - patches_to_pixels(patch_mu_fg, height, width))
                          * patches_to_pixels(patch_ratio, height, width)
                          + patches_to_pixels(patch_mu_bg, height, width))

        a_local, a_global = self.patch_harmonizer.grid_weights.to(dtype).unbind(0)
        transferred = a_local * local_transfer + a_global * global_transfer
        return fg, transferred * m + (bg / 255.0) * (1.0 - m)

    def forward(self, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Auxiliary colour features ``aux``.

        Args:
            composite: ``(B, 3, H, W)`` RGB in [0, 1].
            mask: ``(B, 1, H, W)`` in {0, 1}.

        Returns:
            ``(B, 3, H, W)`` non-negative features, dtype of ``composite``.
        """
        fg, transferred = self.transfer(composite, mask)
        return self.head(torch.cat([fg, transferred], dim=1).to(composite.dtype))


class SqueezeExcitation(nn.Module):
    """Channel attention on the deepest features plus a scalar gain from the auxiliary colour features."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        """Create the block.

        Args:
            channels: channel count C of the deepest features.
            reduction: hidden width is ``C // reduction``.
        """
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def channel_gain(self, features: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """Per-channel multiplier ``s + k`` with ``forward(x, aux) == x * s + x * k``.

        Args:
            features: ``(B, C, h, w)`` deepest encoder features.
            aux: ``(B, 3, H, W)`` auxiliary colour features.

        Returns:
            ``(B, C, 1, 1)`` gain.
        """
        squeeze = self.fc(features.mean(dim=(2, 3)))  # s, (B, C)
        aux_gain = torch.sigmoid(aux.amax(dim=(2, 3)).mean(dim=1, keepdim=True))  # k, (B, 1)
        return (squeeze + aux_gain.to(squeeze.dtype))[:, :, None, None]

    def forward(self, features: torch.Tensor, aux: torch.Tensor) -> torch.Tensor:
        """``features * s + features * k``, shape ``(B, C, h, w)``."""
        return features * self.channel_gain(features, aux)


class SkipFusion(nn.Module):
    """``relu(conv3x3(concat(x, skip)))`` without bias, halving the channels."""

    def __init__(self, channels: int) -> None:
        """Create the block.

        Args:
            channels: channel count C of ``x`` and of ``skip`` (the conv maps 2C -> C).
        """
        super().__init__()
        self.rconv = nn.Conv2d(2 * channels, channels, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Fuse ``x`` and ``skip``, both ``(B, C, h, w)``; returns ``(B, C, h, w)``."""
        return F.relu(self.rconv(torch.cat([x, skip], dim=1)))

    def forward_gated_self(self, skip: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        """``forward(skip * gain, skip)`` as ONE convolution over C channels with the gain folded into the weights.

        ``conv(cat(skip * g, skip), [W_x, W_s]) == conv(skip, W_x * g + W_s)`` since ``g`` is per (sample, input
        channel); a batch uses a grouped convolution with one folded kernel per sample.

        Args:
            skip: ``(B, C, h, w)`` features.
            gain: ``(B, C, 1, 1)`` per-channel multiplier.

        Returns:
            ``(B, C, h, w)``.
        """
        batch, channels, height, width = skip.shape
        weight = self.rconv.weight  # (C_out, 2C, 3, 3)
        folded = weight[:, :channels] * gain.reshape(batch, 1, channels, 1, 1) + weight[:, channels:]
        if batch == 1:
            return F.relu(F.conv2d(skip, folded[0], padding=1))
        out = F.conv2d(skip.reshape(1, batch * channels, height, width), folded.flatten(0, 1), padding=1,
                       groups=batch)
        return F.relu(out.reshape(batch, -1, height, width))


def _conv_block(c_in: int, c_out: int, kernel_size: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=kernel_size, stride=stride, padding=1),
        nn.InstanceNorm2d(c_out, affine=False, track_running_stats=False),
        nn.ReLU(),
    )


def _deconv_block(stage: int, c_in: int, c_out: int) -> nn.Sequential:
    kernel_size, stride = (3, 1) if stage % 2 == 0 else (4, 2)
    layers: list[nn.Module] = [nn.ConvTranspose2d(c_in, c_out, kernel_size=kernel_size, stride=stride, padding=1)]
    if stage <= 2:
        layers.append(nn.BatchNorm2d(c_out))
    if stage <= 4:
        layers.append(nn.LeakyReLU(0.01))
    return nn.Sequential(*layers)


class PHNet(nn.Module):
    """PHNet with the original state-dict layout.

    Attributes:
        config: the :class:`PHNetConfig` it was built from.
    """

    def __init__(self, config: PHNetConfig = PHNET_IHARMONY) -> None:
        """Build the network (weights initialised by PyTorch defaults; load a checkpoint for real use).

        Args:
            config: architecture; :data:`PHNET_IHARMONY` or :data:`PHNET_FFHQH` for the published checkpoints.
        """
        super().__init__()
        self.config = config
        enc = config.enc
        # Registration order = the original state-dict order.
        self.feature_extractor = PatchColorTransfer(config.transfer_grid)
        self.encoder = nn.ModuleList(
            _conv_block(enc[i], enc[i + 1], kernel_size=4 if i % 2 == 0 else 3, stride=2 if i % 2 == 0 else 1)
            for i in range(_NUM_STAGES)
        )
        n_norm = len(config.grids)
        self.normalizers = nn.ModuleList(PatchNormalization(enc[n_norm - 1 - k], g) for k, g in enumerate(config.grids))
        self.decoder = nn.ModuleList(_deconv_block(i, enc[6 - i], enc[5 - i]) for i in range(_NUM_STAGES))
        self.skip = nn.ModuleList(SkipFusion(enc[6 - i]) for i in range(_NUM_STAGES + 1))  # skip.6 is unused
        self.SE_block = SqueezeExcitation(enc[6])

    @staticmethod
    def check_inputs(composite: torch.Tensor, mask: torch.Tensor) -> None:
        """Validate shapes.

        Raises:
            ValueError: for wrong ranks/channels/sizes, or H/W not multiples of 8.
        """
        check_shapes(composite=(composite, "B 3 H W"), mask=(mask, "B 1 H W"))
        height, width = composite.shape[2:]
        if height % _SIZE_MULTIPLE or width % _SIZE_MULTIPLE:
            pad_h, pad_w = -height % _SIZE_MULTIPLE, -width % _SIZE_MULTIPLE
            raise ValueError(
                f"PHNet needs H and W to be multiples of 8 (three stride-2 stages), got {height}x{width}. "
                f"Pad the composite and mask to {height + pad_h}x{width + pad_w} (for example "
                f"torch.nn.functional.pad(x, (0, {pad_w}, 0, {pad_h}), mode='replicate')) and crop the output."
            )

    @staticmethod
    def masks_per_scale(mask: torch.Tensor) -> list[torch.Tensor]:
        """Masks at the decoder's scales, deepest first: ``[m6, m5, ..., m1, m0]``.

        ``m_{i+1}`` is the nearest-neighbour half-size ``m_i`` after a stride-2 encoder stage (even ``i``) and
        ``m_i`` itself otherwise.
        """
        masks = [mask]
        for stage in range(_NUM_STAGES):
            previous = masks[-1]
            masks.append(F.interpolate(previous, scale_factor=0.5, mode="nearest") if stage % 2 == 0 else previous)
        return masks[::-1]

    def forward(self, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predict the harmonised image.

        Args:
            composite: ``(B, 3, H, W)`` RGB in [0, 1] (no mean/std normalisation); H, W multiples of 8.
            mask: ``(B, 1, H, W)`` foreground mask with values in {0, 1}.

        Returns:
            ``(B, 3, H, W)`` sigmoid prediction of the whole image, dtype of ``composite``. Blend it yourself:
            ``pred * mask + composite * (1 - mask)``.
        """
        self.check_inputs(composite, mask)
        mask = mask.to(composite.dtype)

        aux = self.feature_extractor(composite, mask)  # colour-transfer features, (B, 3, H, W)

        e1 = self.encoder[0](composite)  # H/2
        e2 = self.encoder[1](e1)  # H/2
        e3 = self.encoder[2](e2)  # H/4
        e4 = self.encoder[3](e3)  # H/4
        e5 = self.encoder[4](e4)  # H/8
        e6 = self.encoder[5](e5)  # H/8
        skips = [e6, e5, e4, e3, e2, e1]
        masks = self.masks_per_scale(mask)

        # Stage 0: x = SE(e6) = e6 * (s + k); skip.0 fuses concat(x, e6) in a single folded convolution.
        se_gain = self.SE_block.channel_gain(e6, aux)
        x = self.skip[0].forward_gated_self(e6, se_gain)
        x = self.decoder[0](x)

        first_pn = self.config.first_pn_stage
        for stage in range(1, _NUM_STAGES):
            skip = skips[stage]
            if stage >= first_pn:
                skip = self.normalizers[stage - first_pn](skip, masks[stage])
            x = self.skip[stage](x, skip)
            x = self.decoder[stage](x)
        return torch.sigmoid(x)


_REQUIRED_KEYS = (
    "feature_extractor.patch_harmonizer.grid_weights",
    "feature_extractor.head.0.weight",
    "SE_block.fc.0.weight",
    "normalizers.0.grid_weights",
    *(f"encoder.{i}.0.weight" for i in range(_NUM_STAGES)),
)


def _unwrap(state_dict: Mapping[str, object]) -> Mapping[str, object]:
    inner = state_dict.get("state_dict") if isinstance(state_dict, Mapping) else None
    return inner if isinstance(inner, Mapping) else state_dict


def config_from_state_dict(state_dict: Mapping[str, torch.Tensor], resolution: int | None = None) -> PHNetConfig:
    """Tell the PHNet configuration of a state dict from its tensor shapes.

    Args:
        state_dict: a PHNet state dict (``module.``/``_orig_mod.`` prefixes and a ``{"state_dict": ...}`` wrapper
            are accepted).
        resolution: training resolution to record in the config (the tensors cannot tell 256/512/1024 apart);
            defaults to the preset's (512) or 512.

    Returns:
        :data:`PHNET_IHARMONY` or :data:`PHNET_FFHQH` (with ``resolution`` replaced if given) when the layout is a
        published one, else a ``"custom"`` config read from the shapes.

    Raises:
        ValueError: if the dict is not a PHNet state dict (keys listed).
    """
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"Expected a PHNet state dict (a mapping of name -> tensor), got {type(state_dict).__name__}.")
    sd = clean_state_dict(_unwrap(state_dict))
    missing = [k for k in _REQUIRED_KEYS if k not in sd or not isinstance(sd[k], torch.Tensor)]
    if missing:
        found = ", ".join(list(sd)[:6]) + (", ..." if len(sd) > 6 else "")
        raise ValueError(
            f"This is not a PHNet state dict: missing {', '.join(missing)} (found {len(sd)} keys: {found or 'none'}). "
            "Expected a PHNet checkpoint such as best_iharmony.pth or best_ffhqh512.pth."
        )
    enc = [int(sd["encoder.0.0.weight"].shape[1])]
    enc += [int(sd[f"encoder.{i}.0.weight"].shape[0]) for i in range(_NUM_STAGES)]
    grids = []
    while f"normalizers.{len(grids)}.grid_weights" in sd:
        shape = tuple(sd[f"normalizers.{len(grids)}.grid_weights"].shape)
        if len(shape) != 4 or shape[2] != shape[3]:
            raise ValueError(f"normalizers.{len(grids)}.grid_weights has shape {shape}; expected (1, C, g, g).")
        grids.append(int(shape[-1]))
    for preset in (PHNET_IHARMONY, PHNET_FFHQH):
        if preset.enc == tuple(enc) and preset.grids == tuple(grids):
            return preset if resolution is None else dataclasses.replace(preset, resolution=resolution)
    try:
        return PHNetConfig("custom", tuple(enc), tuple(grids), 512 if resolution is None else resolution)
    except ValueError as exc:
        raise ValueError(
            f"The state dict has PHNet keys but an unsupported layout (enc={enc}, grids={grids}): {exc}"
        ) from exc


def build_from_state_dict(
    state_dict: Mapping[str, torch.Tensor], *, resolution: int | None = None, what: str = "PHNet checkpoint"
) -> PHNet:
    """Build a PHNet whose configuration fits ``state_dict`` and load it strictly.

    Args:
        state_dict: original PHNet weights (prefixes / wrapper as in :func:`config_from_state_dict`).
        resolution: training resolution to record in ``model.config`` (see :func:`config_from_state_dict`).
        what: name of the source used in error messages (for example the file name).

    Returns:
        The network in eval mode: a fresh float32 CPU module with the weights copied in (move it with ``.to``).

    Raises:
        ValueError: if the dict is not a PHNet state dict; ``StateDictMismatchError`` (a ValueError) if keys or
            shapes do not match exactly.
    """
    config = config_from_state_dict(state_dict, resolution)
    model = PHNet(config)
    load_strict(model, clean_state_dict(_unwrap(state_dict)), what=what)
    return model.eval()


# ----------------------------------------------------------------------------------------------------- checkpoints
_URL_BASE = "https://n-ws-620xz-pd11.s3pd11.sbercloud.ru/b-ws-620xz-pd11-jux/harmonization/models/"
_PUBLISHED_LICENSE = "not stated by the authors (PHNet, arXiv 2402.17561); download at run time"
_OURS_LICENSE = "MIT (our weights); trained on photos under CC0/CC-BY(-SA)/GPL/LGPL licences, see the model card"

#: The checkpoints of this family, as plain data (``harmonization.hub.catalog`` registers them; a source is
#: ``{"kind": "local" | "hub" | "url" | ..., **fields}``, see :mod:`harmonization.hub.sources`). Published first.
PRETRAINED: tuple[dict, ...] = (
    dict(name="phnet-portrait-1024", config="iharmony", resolution=1024, format="phnet-original",
         sources=(dict(kind="local", filename="best_pure.pth"),
                  dict(kind="hub", repo_id="befozg/PortraitTransfer", filename="checkpoints/best_pure.pth",
                       repo_type="space")),
         description="PHNet (iharmony configuration) from the PortraitTransfer demo Space, run at 1024 px; portraits",
         license=_PUBLISHED_LICENSE),
    *(dict(name=name, config=config, resolution=resolution, format="phnet-original",
           sources=(dict(kind="local", filename=file), dict(kind="url", url=_URL_BASE + file, filename=file)),
           description=f"PHNet original release ({config} configuration, {resolution} px), {what}",
           license=_PUBLISHED_LICENSE)
      for name, file, config, resolution, what in (
          ("phnet-iharmony-512", "best_iharmony.pth", "iharmony", 512, "trained on iHarmony4"),
          ("phnet-ffhqh-256", "best_ffhqh256.pth", "ffhqh", 256, "trained on FFHQH portraits"),
          ("phnet-ffhqh-512", "best_ffhqh512.pth", "ffhqh", 512, "trained on FFHQH portraits"),
          ("phnet-ffhqh-1024", "best_ffhqh1024.pth", "ffhqh", 1024, "trained on FFHQH portraits"),
      )),
    dict(name="phnet-shared-photos", config="iharmony", resolution=320, format="phnet-safetensors",
         sources=(our_hub_source("phnet-shared-photos"),
                  dict(kind="local", filename="phnet_shared_photos.safetensors", shipped=True)),
         description="PHNet (iharmony configuration) trained by us on CPU on synthetic composites of 114 shared "
                     "photos, then of the 231-photo corpus (v2); runs at 320 px, strength 0.6; see "
                     "checkpoints/MODEL_CARD_phnet-shared-photos.md",
         license=_OURS_LICENSE, redistributable=True),
)
