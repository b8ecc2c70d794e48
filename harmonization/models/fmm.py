"""FMM: the attention-based deep feature modulation network (Hao, Iizuka, Fukui, BMVC 2020).

Re-implemented from the published facts with exactly the state-dict layout of the released ``network.pth``
(keys ``Down1..Down9``, ``FB_FMM.*``, ``Up1..Up3``, ``output.*``, 100 tensors, 11,590,789 parameters), so the
original weights load strictly and the output equals the original within float32 rounding.

Cost. Both attentions at 1/8 resolution (the SAGAN self-attention and the foreground -> background attention)
run through :func:`harmonization.ops.attention.fused_attention` (``scaled_dot_product_attention``, scale 1), so
no ``N x N`` score matrix is stored: a 1024x1024 image (N = 16,384 positions, 268 M scores per map in the
original) runs on a CPU within a few GB. In eval mode the network also folds every batch norm into its
convolution, runs channels-last, computes the foreground -> background attention on its distinct rows only and
reorders each decoder step (:class:`UpBlock`) to mix channels before upsampling; all of these are exact
rewrites (equal up to float rounding, checked against a literal reference in the tests).

Only torch and :mod:`harmonization.ops` are imported; reading files is the job of ``harmonization.hub``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from harmonization.models._loading import clean_state_dict, load_strict
from harmonization.models._pretrained import our_hub_source
from harmonization.ops.attention import fused_attention, spatial_std
from harmonization.ops.checks import check_shapes

__all__ = [
    "FMMConfig",
    "FMM",
    "FMMAttention",
    "FMMSelfAttention",
    "ConvBlock",
    "UpBlock",
    "normalize_original_checkpoint",
    "build_from_state_dict",
    "PRETRAINED",
]

@dataclass(frozen=True)
class FMMConfig:
    """Widths of the FMM network.

    Attributes:
        enc_channels: widths ``(e1, e2, e3, e4)``: Down1 4->e1 (stride 2), Down2 e1->e2, Down3 e2->e3 (stride 2),
            Down4 e3->e3, Down5 e3->e4 (stride 2), Down6..Down8 e4->e4.
        bottleneck_channels: Down9 e4->this; the width the attention block works on.
        attention_channels: query/key width of both attentions (SAGAN: bottleneck / 8).
        dec_channels: outputs of Up1, Up2, Up3.
        input_offset: scalar subtracted from every image channel before the network.
        std_eps: added to the (unbiased) variances of the std modulation.
    """

    enc_channels: tuple[int, int, int, int] = (64, 128, 256, 512)
    bottleneck_channels: int = 256
    attention_channels: int = 32
    dec_channels: tuple[int, int, int] = (128, 32, 16)
    input_offset: float = 0.4462414
    std_eps: float = 1e-5

    def __post_init__(self) -> None:
        widths = (*self.enc_channels, self.bottleneck_channels, self.attention_channels, *self.dec_channels)
        if len(self.enc_channels) != 4 or len(self.dec_channels) != 3:
            raise ValueError(
                f"FMMConfig needs 4 encoder and 3 decoder widths; received enc_channels={self.enc_channels}, "
                f"dec_channels={self.dec_channels}."
            )
        if any(not isinstance(c, int) or c <= 0 for c in widths):
            raise ValueError(f"FMMConfig widths must be positive integers; received {widths}.")

    @classmethod
    def released(cls) -> FMMConfig:
        """The configuration of the released iHarmony4 checkpoint (about 11.6 M parameters)."""
        return cls()

    @classmethod
    def tiny(cls) -> FMMConfig:
        """A ~50 k-parameter preset with the same structure (same depth, narrower), for fast tests."""
        return cls(enc_channels=(8, 16, 16, 32), bottleneck_channels=16, attention_channels=4, dec_channels=(8, 4, 4))

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor]) -> FMMConfig:
        """Infer the widths from a (prefix-free) state dict; the released preset when keys are missing.

        Falling back to the released widths lets :func:`load_strict` report exactly which keys are wrong.
        """
        def out_ch(key: str) -> int | None:
            t = state_dict.get(key)
            return int(t.shape[0]) if isinstance(t, torch.Tensor) and t.dim() == 4 else None

        keys = ("Down1", "Down2", "Down3", "Down5", "Down9", "FB_FMM.query_conv", "Up1", "Up2", "Up3")
        found = [out_ch(f"{k}.conv2d.weight" if not k.startswith("FB_") else f"{k}.weight") for k in keys]
        if any(c is None for c in found):
            return cls.released()
        e1, e2, e3, e4, bott, att, d1, d2, d3 = (int(c) for c in found)  # type: ignore[arg-type]
        return cls(enc_channels=(e1, e2, e3, e4), bottleneck_channels=bott, attention_channels=att,
                   dec_channels=(d1, d2, d3))


def _tensor_key(tensors: tuple[torch.Tensor, ...]) -> tuple[Any, ...] | None:
    """Identity + in-place version of ``tensors`` (and the inference mode, since tensors made under it cannot
    join autograd later), or None when they cannot be tracked (inference tensors have no version)."""
    try:
        versions = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)
    except RuntimeError:
        return None
    return (*versions, torch.is_inference_mode_enabled())


class ConvBlock(nn.Module):
    """Conv2d(3x3, padding 1, bias) -> BatchNorm2d -> ReLU, state-dict keys ``conv2d.*`` and ``bn.*``.

    In eval mode :meth:`forward_folded` runs the same block as one convolution whose weights have the batch-norm
    statistics folded in (equal up to float rounding).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(out_channels)
        self._folded_cache: tuple[Any, tuple[torch.Tensor, torch.Tensor]] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Literal block: ``(B, Cin, H, W) -> (B, Cout, H/stride, W/stride)``."""
        return F.relu(self.bn(self.conv2d(x)))

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Eval-mode weight ``(Cout, Cin, 3, 3)`` and bias ``(Cout,)`` with the batch norm folded in.

        Cached while the tensors are unchanged (same storage and in-place version); recomputed, differentiably,
        whenever autograd needs gradients of the parameters.
        """
        tensors = (self.conv2d.weight, self.conv2d.bias, self.bn.weight, self.bn.bias, self.bn.running_mean,
                   self.bn.running_var)
        differentiable = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
        key = None if differentiable else _tensor_key(tensors)
        if key is not None and self._folded_cache is not None and self._folded_cache[0] == key:
            return self._folded_cache[1]
        weight, bias, gamma, beta, mean, var = tensors
        scale = gamma * torch.rsqrt(var + self.bn.eps)
        folded = (weight * scale[:, None, None, None], (bias - mean) * scale + beta)
        self._folded_cache = (key, folded) if key is not None else None
        return folded

    def forward_folded(self, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode block as a single convolution with the batch norm folded in, then an in-place ReLU."""
        weight, bias = self.folded()
        return F.conv2d(x, weight, bias, stride=self.conv2d.stride, padding=1).relu_()


class UpBlock(ConvBlock):
    """Decoder step: ``concat(a, skip) -> bilinear x2 (align_corners=True) -> ConvBlock``.

    :meth:`forward_folded` computes exactly the same function in a cheaper order: a 3x3 convolution applied
    after a linear upsampling equals, per tap, the channel mixing done first at low resolution and the
    upsampling done afterwards (both are linear and act on different axes). So the 9 taps' channel mixing runs
    as one matrix product at 1/4 of the pixels, followed by separable upsampling of the ``9 * Cout`` mixed maps
    and a sum of shifted copies. That is 4x fewer multiply-adds and no upsampled ``Cin``-channel tensor.
    """

    def forward(self, a: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Literal step: ``(B, Ca, h, w), (B, Cs, h, w) -> (B, Cout, 2h, 2w)``."""
        x = torch.cat([a, skip], dim=1)
        x = F.interpolate(x, size=(2 * x.shape[-2], 2 * x.shape[-1]), mode="bilinear", align_corners=True)
        return super().forward(x)

    def forward_folded(self, a: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Eval-mode step, equal to :meth:`forward` up to float rounding; returns a channels-last tensor."""
        weight, bias = self.folded()
        b, _, h, w = a.shape
        out_ch, in_ch = weight.shape[:2]
        x = torch.cat([a, skip], dim=1).contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1)
        # (Cin, ky, kx, Cout): column ky*3*Cout + kx*Cout + o mixes the input for output o at tap (ky, kx).
        taps = weight.permute(1, 2, 3, 0).reshape(in_ch, 9 * out_ch)
        z = torch.mm(x.reshape(-1, in_ch), taps).view(b, h, w, 3, 3, out_ch)  # (B, h, w, ky, kx, O)
        z = _upsample2x_linear(z, dim=2)  # width: (B, h, 2w, ky, kx, O)
        # conv along width: out[X] = sum_kx up(z_kx)[X + kx - 1], zero outside.
        v = z[:, :, :, :, 1].clone()
        v[:, :, 1:] += z[:, :, :-1, :, 0]
        v[:, :, :-1] += z[:, :, 1:, :, 2]
        del z
        v = _upsample2x_linear(v, dim=1)  # height: (B, 2h, 2w, ky, O)
        y = v[:, :, :, 1] + bias
        y[:, 1:] += v[:, :-1, :, 0]
        y[:, :-1] += v[:, 1:, :, 2]
        return y.relu_().permute(0, 3, 1, 2)


def _upsample2x_linear(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Linear x2 upsampling along ``dim`` with ``align_corners=True`` (``n -> 2n`` samples).

    Output ``X`` samples the input at ``X (n - 1) / (2n - 1)``: even ``X = 2k`` lies between inputs ``k - 1``
    and ``k`` with weight ``k / (2n - 1)`` on ``k - 1``; odd ``X = 2k + 1`` between ``k`` and ``k + 1`` with
    weight ``1/2 - (k + 1/2) / (2n - 1)`` on ``k + 1``. The weights are computed in float64, and the two
    interleaved halves are written straight into the output (one pass, no index gather).

    Args:
        x: any floating tensor with ``x.shape[dim] = n >= 2``.
        dim: the (non-negative) axis to upsample.

    Returns:
        Same dtype and layout order, ``2n`` along ``dim``.
    """
    n = x.shape[dim]
    pos = torch.arange(n - 1, dtype=torch.float64)
    shape = [1] * x.dim()
    shape[dim] = n - 1
    w_even = ((pos + 1) / (2 * n - 1)).to(device=x.device, dtype=x.dtype).view(shape)
    w_odd = (0.5 - (pos + 0.5) / (2 * n - 1)).to(device=x.device, dtype=x.dtype).view(shape)
    if torch.is_grad_enabled() and x.requires_grad:  # autograd cannot write through out=; same values
        even = torch.cat([x.narrow(dim, 0, 1), torch.lerp(x.narrow(dim, 1, n - 1), x.narrow(dim, 0, n - 1), w_even)],
                         dim)
        odd = torch.cat([torch.lerp(x.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1), w_odd), x.narrow(dim, n - 1, 1)],
                        dim)
        return torch.stack([even, odd], dim + 1).flatten(dim, dim + 1)
    out_shape = list(x.shape)
    out_shape[dim] = 2 * n
    out = x.new_empty(out_shape)
    pairs = out.unflatten(dim, (n, 2))
    even, odd = pairs.select(dim + 1, 0), pairs.select(dim + 1, 1)
    even.narrow(dim, 0, 1).copy_(x.narrow(dim, 0, 1))
    torch.lerp(x.narrow(dim, 1, n - 1), x.narrow(dim, 0, n - 1), w_even, out=even.narrow(dim, 1, n - 1))
    torch.lerp(x.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1), w_odd, out=odd.narrow(dim, 0, n - 1))
    odd.narrow(dim, n - 1, 1).copy_(x.narrow(dim, n - 1, 1))
    return out


class FMMSelfAttention(nn.Module):
    """SAGAN self-attention ``x + gamma * (v A^T)``, ``A = softmax(q^T k)``; keys ``gamma``, ``*_conv``."""

    def __init__(self, channels: int, attention_channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))
        self.query_conv = nn.Conv2d(channels, attention_channels, kernel_size=1)
        self.key_conv = nn.Conv2d(channels, attention_channels, kernel_size=1)
        self.value_conv = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w) -> (B, C, h, w)``."""
        b, c, h, w = x.shape
        return self.forward_tokens(_to_tokens(x)).view(b, h, w, c).permute(0, 3, 1, 2)

    def forward_tokens(self, t: torch.Tensor) -> torch.Tensor:
        """Same on row-major tokens: ``(B, N, C) -> (B, N, C)``; one fused attention, no N x N matrix."""
        d = self.query_conv.out_channels
        weight = torch.cat([self.query_conv.weight, self.key_conv.weight, self.value_conv.weight]).flatten(1)
        bias = torch.cat([self.query_conv.bias, self.key_conv.bias, self.value_conv.bias])
        qkv = F.linear(t, weight, bias)
        out = fused_attention(qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:])
        return self.gamma * out + t


def _to_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w) -> (B, h*w, C)`` row-major positions (a view for channels-last maps)."""
    return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, x.shape[1])


class FMMAttention(nn.Module):
    """The FB_FMM block: self-attention, then foreground->background attention and std modulation.

    State-dict keys: ``gamma``, ``SA.*`` (:class:`FMMSelfAttention`), ``query_conv``, ``key_conv``,
    ``value_conv`` (1x1 convolutions with bias). Both attentions go through
    :func:`harmonization.ops.attention.fused_attention` (``scaled_dot_product_attention``, scale 1).
    """

    def __init__(self, channels: int, attention_channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))
        self.SA = FMMSelfAttention(channels, attention_channels)
        self.query_conv = nn.Conv2d(channels, attention_channels, kernel_size=1)
        self.key_conv = nn.Conv2d(channels, attention_channels, kernel_size=1)
        self.value_conv = nn.Conv2d(channels, channels, kernel_size=1)
        self.eps = eps

    @staticmethod
    def mask_at(mask: torch.Tensor, height: int) -> torch.Tensor:
        """The mask at feature height ``height``: ``round(avg_pool2d(mask, 2, stride=H_mask // height))``.

        Args:
            mask: ``(B, 1, H, W)`` in {0, 1}.
            height: feature-map height.

        Returns:
            ``mask`` itself when its height already equals ``height``, else the pooled and rounded mask
            (``(B, 1, H / s, W / s)`` for ``H`` a multiple of ``s = H // height``; 0.5 rounds to 0).
        """
        if mask.shape[-2] == height:
            return mask
        stride = mask.shape[-2] // height
        return torch.round(F.avg_pool2d(mask, kernel_size=2, stride=stride))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Modulate the foreground features by attention-weighted background statistics.

        Args:
            x: ``(B, C, h, w)`` bottleneck features.
            mask: ``(B, 1, H, W)`` in {0, 1}, ``H`` a multiple of ``h`` (pooled to ``h x w`` when larger).

        Returns:
            ``(B, C, h, w)`` (channels-last memory): ``x' + gamma * f * std(bg_att) / std(f)`` with
            ``x' = SA(x)``, ``f = m x'``, ``bg_att`` the foreground->background attention output.
        """
        b, c, h, w = x.shape
        m = self.mask_at(mask, h).to(x.dtype)
        if m.shape[-2:] != x.shape[-2:]:
            raise ValueError(
                f"The mask pooled to {tuple(m.shape[-2:])} does not match the features {tuple(x.shape[-2:])}; "
                "pass a mask of the image's size (height and width multiples of 8)."
            )
        t = self.SA.forward_tokens(_to_tokens(x))  # (B, N, C)
        m = m.reshape(b, h * w, 1)
        fg = m * t
        bg = (1.0 - m) * t
        bg_att = self.foreground_attention(fg, bg, m)
        ratio = spatial_std(bg_att, self.eps, dims=(1,)) / spatial_std(fg, self.eps, dims=(1,))
        out = t + self.gamma * (fg * ratio.to(fg.dtype))
        return out.view(b, h, w, c).permute(0, 3, 1, 2)

    def foreground_attention(self, fg: torch.Tensor, bg: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Attention from every position of ``fg`` to the positions of ``bg`` (the "similarity-weighted background").

        ``q = query_conv(fg)``, ``k = key_conv(bg)``, ``v = value_conv(bg)``, ``out = softmax(q k^T) v``. With a
        binary mask the result is computed on fewer rows, exactly: ``bg`` is 0 at every foreground position, so
        all those keys equal ``key_conv``'s bias (and values ``value_conv``'s bias): they count as ONE key with a
        logit bias ``log(n_fg)``; likewise ``fg`` is 0 at every background position, so all background queries
        equal the query bias and share one output row. The fused attention then has ``(n_fg + 1) x (n_bg + 1)``
        scores instead of ``N x N`` (at most a quarter). Non-binary masks take the plain fused attention.

        Args:
            fg: ``(B, N, C)`` foreground tokens ``m * x``.
            bg: ``(B, N, C)`` background tokens ``(1 - m) * x``.
            m: ``(B, N, 1)`` mask at this scale.

        Returns:
            ``(B, N, C)`` attended background values, in ``fg``'s dtype.
        """
        d = self.query_conv.out_channels
        wq, bq = self.query_conv.weight.flatten(1), self.query_conv.bias
        wkv = torch.cat([self.key_conv.weight, self.value_conv.weight]).flatten(1)
        bkv = torch.cat([self.key_conv.bias, self.value_conv.bias])
        if not bool(((m == 0) | (m == 1)).all()):
            kv = F.linear(bg, wkv, bkv)
            return fused_attention(F.linear(fg, wq, bq), kv[..., :d], kv[..., d:])
        out = torch.empty_like(fg)
        for i in range(fg.shape[0]):
            is_fg = m[i, :, 0] > 0.5
            fg_idx, bg_idx = is_fg.nonzero().squeeze(1), (~is_fg).nonzero().squeeze(1)
            n_fg, n_bg = fg_idx.numel(), bg_idx.numel()
            q = F.linear(fg[i, fg_idx], wq, bq)
            if n_bg:  # one shared query for all background positions
                q = torch.cat([q, bq[None]])
            kv = F.linear(bg[i, bg_idx], wkv, bkv)
            key_bias = kv.new_zeros(n_bg)
            if n_fg:  # one key standing for the n_fg identical foreground keys
                kv = torch.cat([kv, bkv[None]])
                key_bias = torch.cat([key_bias, key_bias.new_full((1,), math.log(n_fg))])
            att = fused_attention(q[None], kv[None, :, :d], kv[None, :, d:], key_bias[None])[0]
            out[i, fg_idx] = att[:n_fg]
            if n_bg:
                out[i, bg_idx] = att[n_fg]
        return out


class FMM(nn.Module):
    """The released FMM harmonization network.

    ``forward(image, mask)`` returns ``clamp(image + tanh(head), 0, 1)``: a residual prediction of the whole
    image (no blending with the background inside; the pipeline does that).

    In eval mode (and while ``fast`` is True) the convolution blocks run with their batch norms folded in,
    channels-last, and the decoder steps in the cheaper order of :meth:`UpBlock.forward_folded`; in training
    mode (or with ``fast = False``) every layer runs literally. Both orders give the same output up to float
    rounding; both attentions are fused in every mode.
    """

    def __init__(self, config: FMMConfig | None = None) -> None:
        super().__init__()
        self.config = config = config if config is not None else FMMConfig.released()
        self.fast = True
        e1, e2, e3, e4 = config.enc_channels
        d1, d2, d3 = config.dec_channels
        bott = config.bottleneck_channels
        # Attribute names are fixed by the released checkpoint's state-dict keys.
        self.Down1 = ConvBlock(4, e1, stride=2)
        self.Down2 = ConvBlock(e1, e2)
        self.Down3 = ConvBlock(e2, e3, stride=2)
        self.Down4 = ConvBlock(e3, e3)
        self.Down5 = ConvBlock(e3, e4, stride=2)
        self.Down6 = ConvBlock(e4, e4)
        self.Down7 = ConvBlock(e4, e4)
        self.Down8 = ConvBlock(e4, e4)
        self.Down9 = ConvBlock(e4, bott)
        self.FB_FMM = FMMAttention(bott, config.attention_channels, eps=config.std_eps)
        self.Up1 = UpBlock(bott + e4, d1)
        self.Up2 = UpBlock(d1 + e3, d2)
        self.Up3 = UpBlock(d2 + e2, d3)
        self.output = nn.Conv2d(d3, 3, kernel_size=3, padding=1, bias=True)

    @staticmethod
    def check_inputs(image: torch.Tensor, mask: torch.Tensor) -> None:
        """Validate shapes: ``image (B,3,H,W)``, ``mask (B,1,H,W)``, H and W multiples of 8.

        Raises:
            ValueError: with the received shapes and how to fix them.
            TypeError: for non-floating tensors.
        """
        check_shapes(image=(image, "B 3 H W"), mask=(mask, "B 1 H W"))
        h, w = image.shape[-2:]
        if h % 8 or w % 8 or h * w < 128:
            fix_h, fix_w = max(8, round(h / 8) * 8), max(16, round(w / 8) * 8)
            raise ValueError(
                f"FMM needs a height and width that are multiples of 8 (and at least 8x16); received {h}x{w}. "
                f"Resize or pad the image and the mask to e.g. {fix_h}x{fix_w} first."
            )

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Harmonize ``image`` inside ``mask``.

        Args:
            image: ``(B, 3, H, W)`` float RGB in [0, 1]; H, W multiples of 8.
            mask: ``(B, 1, H, W)`` float in {0, 1}, 1 = foreground to harmonize.

        Returns:
            ``(B, 3, H, W)`` in [0, 1], same dtype as ``image``.
        """
        self.check_inputs(image, mask)
        mask = mask.to(image.dtype)
        x = torch.cat([image - self.config.input_offset, mask], dim=1)
        fast = self.fast and not self.training
        if fast:
            x = x.contiguous(memory_format=torch.channels_last)
        down = [getattr(self, f"Down{i}") for i in range(1, 10)]
        skips = []
        for i, block in enumerate(down, start=1):
            x = block.forward_folded(x) if fast else block(x)
            if i in (2, 4, 8):
                skips.append(x)
        x = self.FB_FMM(x, mask)
        for block, skip in zip((self.Up1, self.Up2, self.Up3), reversed(skips), strict=True):
            x = block.forward_folded(x, skip) if fast else block(x, skip)
        head = self.output(x)
        return torch.clamp(image + torch.tanh(head), 0.0, 1.0).contiguous()


def normalize_original_checkpoint(obj: Any) -> dict[str, torch.Tensor]:
    """Turn what ``torch.load`` returned for an FMM file into a plain, prefix-free state dict.

    Args:
        obj: either the original file format ``{'epoch', 'state_dict', 'optimizer'}`` (keys of ``state_dict``
            possibly prefixed ``module.`` by DataParallel) or a plain state dict ``{name: tensor}``.

    Returns:
        A new ``{name: tensor}`` dict with ``module.`` / ``_orig_mod.`` prefixes stripped.

    Raises:
        TypeError: if ``obj`` is neither of the two accepted forms (the message names what was received).
    """
    if not isinstance(obj, Mapping):
        raise TypeError(
            f"Expected an FMM checkpoint dict ({{'epoch', 'state_dict', 'optimizer'}} or a plain state dict); "
            f"received {type(obj).__name__}. Load the file with torch.load(path, map_location='cpu')."
        )
    state = obj["state_dict"] if "state_dict" in obj else obj
    if not isinstance(state, Mapping):
        raise TypeError(f"The checkpoint's 'state_dict' entry is a {type(state).__name__}, expected a dict of tensors.")
    bad = [str(k) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad or not state:
        top = ", ".join(map(str, list(obj.keys())[:8]))
        raise TypeError(
            "Expected a dict of tensors (a state dict) or {'epoch', 'state_dict', 'optimizer'}; received a dict "
            f"with keys [{top}]" + (f" whose entries {bad[:5]} are not tensors." if bad else " that is empty.")
        )
    return clean_state_dict(state)


def build_from_state_dict(state_dict: Any, *, what: str = "FMM checkpoint") -> FMM:
    """Build an eval-mode :class:`FMM` whose widths fit ``state_dict`` and load it strictly.

    Args:
        state_dict: a plain state dict or the original file format (see :func:`normalize_original_checkpoint`).
        what: name of the checkpoint used in error messages.

    Returns:
        The network in eval mode, on CPU, float32 (the file's tensors are cast to the module's dtype).

    Raises:
        harmonization.models._loading.StateDictMismatchError: listing missing / unexpected / mis-shaped keys.
    """
    sd = normalize_original_checkpoint(state_dict)
    model = FMM(FMMConfig.from_state_dict(sd))
    load_strict(model, sd, what=what)
    return model.eval()


# ----------------------------------------------------------------------------------------------------- checkpoints

#: The checkpoints of this family, as plain data (registered by ``harmonization.hub.catalog``). Published first.
PRETRAINED: tuple[dict, ...] = (
    dict(name="fmm-iharmony-256", resolution=256, format="fmm-original",
         sources=(dict(kind="local", filename="fmm_network.pth"),
                  dict(kind="gdrive", file_id="1wwDMRnAUp_xrTisyzZ3XTgghp15u2Xsy", filename="network.pth")),
         description="FMM (Hao et al., BMVC 2020) original release, trained on iHarmony4 at 256 px",
         license="none given (the repository has no licence file); never redistribute, download at run time"),
    dict(name="fmm-shared-photos", resolution=256, format="fmm-safetensors",
         sources=(our_hub_source("fmm-shared-photos"),
                  dict(kind="local", filename="fmm_shared_photos.safetensors", shipped=True)),
         description="FMM trained by us on CPU on synthetic composites of 114 shared photos, then of the 231-photo "
                     "corpus (v2); runs at 256 px, strength 0.6; see checkpoints/MODEL_CARD_fmm-shared-photos.md",
         license="MIT (our weights); trained on photos under CC0/CC-BY(-SA)/GPL/LGPL licences, see the model card",
         redistributable=True),
)
