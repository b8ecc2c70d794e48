"""A literal, slow reference of the FMM forward pass, written from the spec (shared/specs/FMM.md), for tests only.

Works on a plain state dict (no nn.Module), materialises both N x N attention matrices as softmax(q^T k) and
uses the SAGAN formulation ``out = v A^T`` word for word, so it shares no code with the fused model.
Run it in float64 to get a near-exact target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

OFFSET = 0.4462414
EPS_BN = 1e-5
EPS_STD = 1e-5


def _block(sd: dict[str, torch.Tensor], name: str, x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    x = F.conv2d(x, sd[f"{name}.conv2d.weight"], sd[f"{name}.conv2d.bias"], stride=stride, padding=1)
    mean = sd[f"{name}.bn.running_mean"][None, :, None, None]
    var = sd[f"{name}.bn.running_var"][None, :, None, None]
    x = (x - mean) / torch.sqrt(var + EPS_BN) * sd[f"{name}.bn.weight"][None, :, None, None] \
        + sd[f"{name}.bn.bias"][None, :, None, None]
    return torch.clamp(x, min=0)


def _conv1x1(sd: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
    w = sd[f"{name}.weight"]
    return torch.einsum("oi,bihw->bohw", w[:, :, 0, 0], x) + sd[f"{name}.bias"][None, :, None, None]


def _attention_literal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """q, k: (B, c, h, w); v: (B, C, h, w). A = softmax_j(q_n . k_j); out = v A^T."""
    b, c, h, w = v.shape
    pq = q.reshape(b, -1, h * w).permute(0, 2, 1)  # B x N x c
    pk = k.reshape(b, -1, h * w)  # B x c x N
    energy = torch.bmm(pq, pk)  # B x N x N
    attention = torch.softmax(energy, dim=-1)
    pv = v.reshape(b, -1, h * w)  # B x C x N
    out = torch.bmm(pv, attention.permute(0, 2, 1))
    return out.reshape(b, c, h, w)


def _std(t: torch.Tensor) -> torch.Tensor:
    b, c = t.shape[:2]
    var = t.reshape(b, c, -1).var(dim=2, unbiased=True) + EPS_STD
    return var.sqrt().reshape(b, c, 1, 1)


def fb_fmm_reference(sd: dict[str, torch.Tensor], x: torch.Tensor, mask: torch.Tensor,
                     prefix: str = "FB_FMM") -> torch.Tensor:
    """The FB_FMM block alone: x (B,C,h,w), mask (B,1,H,W)."""
    p = prefix
    sa = _attention_literal(_conv1x1(sd, f"{p}.SA.query_conv", x), _conv1x1(sd, f"{p}.SA.key_conv", x),
                            _conv1x1(sd, f"{p}.SA.value_conv", x))
    x = sd[f"{p}.SA.gamma"] * sa + x
    if mask.shape[2] != x.shape[2]:
        mask = torch.round(F.avg_pool2d(mask, 2, stride=mask.shape[2] // x.shape[2]))
    f = mask * x
    bgr = (1 - mask) * x
    bg_att = _attention_literal(_conv1x1(sd, f"{p}.query_conv", f), _conv1x1(sd, f"{p}.key_conv", bgr),
                                _conv1x1(sd, f"{p}.value_conv", bgr))
    fmm = f * _std(bg_att) / _std(f)
    return x + sd[f"{p}.gamma"] * fmm


def fmm_reference(sd: dict[str, torch.Tensor], image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Whole network: image (B,3,H,W) in [0,1], mask (B,1,H,W) -> (B,3,H,W). Computed in image's dtype."""
    sd = {k: v.to(image.dtype) if v.is_floating_point() else v for k, v in sd.items()}
    mask = mask.to(image.dtype)
    x = torch.cat([image - OFFSET, mask], dim=1)
    x = _block(sd, "Down1", x, stride=2)
    s1 = _block(sd, "Down2", x)
    x = _block(sd, "Down3", s1, stride=2)
    s2 = _block(sd, "Down4", x)
    x = _block(sd, "Down5", s2, stride=2)
    x = _block(sd, "Down6", x)
    x = _block(sd, "Down7", x)
    s3 = _block(sd, "Down8", x)
    x = _block(sd, "Down9", s3)
    x = fb_fmm_reference(sd, x, mask)
    for name, skip in (("Up1", s3), ("Up2", s2), ("Up3", s1)):
        x = torch.cat([x, skip], dim=1)
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        x = _block(sd, name, x)
    head = F.conv2d(x, sd["output.weight"], sd["output.bias"], padding=1)
    return torch.clamp(image + torch.tanh(head), 0, 1)
