"""How to bring a low-resolution network prediction back to full resolution: colour transfer vs plain upsampling.

``harmonization bench transfer --photos DIR --masks DIR [--resolution 160] [--checkpoint NAME_OR_PATH]``

Synthetic composites (FFHQH colour jitter of each photo's object) are harmonized by a network running with its long
side at ``--resolution`` (4x below the photos' 640 px by default), and the prediction is brought back to the photo's
full resolution either by the local affine colour model (``transfer="affine"``) or by bilinear upsampling
(``transfer="upsample"``). Networks:

- ``oracle``: returns the real photo resized to the working resolution, i.e. a perfect low-resolution prediction. It
  isolates what the way back to full resolution costs.
- a real checkpoint of PHNet or FMM when ``--checkpoint`` is given (``--arch`` picks the network).

Prints fMSE / fPSNR at full resolution (peak = max of the target) and fPSNR in the "idih" convention (256x256).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.folders import PhotoMaskFolder
from ..data.splits import load_split
from ..hub import LoadedNetwork, load_network
from ..metrics import evaluate, fmse, psnr_from_mse
from ..ops.mask import binarize, blend
from ..pipelines.neural import run_loaded
from .runner import markdown_table

__all__ = ["OracleNetwork", "main"]


class OracleNetwork(nn.Module):
    """A stand-in network whose prediction is the real image at the working resolution (reflection-padded like
    the pipeline pads its input). Set :attr:`target` before each call."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)  # gives the pipeline a device and dtype
        self.target: torch.Tensor | None = None
        self.size: tuple[int, int] = (0, 0)  # the working size (before padding) of the current call

    def forward(self, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.target is None:
            raise RuntimeError("Set OracleNetwork.target and .size before calling it.")
        del mask
        height, width = composite.shape[-2:]
        # The pipeline resized the composite to `size` and padded to (height, width); do the same to the target.
        size = self.size
        antialias = size[0] < self.target.shape[-2]
        low = F.interpolate(self.target, size=size, mode="bilinear", align_corners=False, antialias=antialias)
        low = low.clamp(0.0, 1.0)
        pad = (0, width - size[1], 0, height - size[0])
        return F.pad(low, pad, mode="reflect") if any(pad) else low


def _full_res_scores(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    err = fmse(pred * 255.0, target * 255.0, mask)
    peak = (target * 255.0).amax(dim=(1, 2, 3))
    idih = evaluate(pred, target, mask, "idih")
    return {"fmse_full": float(err), "fpsnr_full": float(psnr_from_mse(err, peak)), "fpsnr_idih": idih["fpsnr"]}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print a Markdown table."""
    parser = argparse.ArgumentParser(prog="harmonization bench transfer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", required=True)
    parser.add_argument("--masks", required=True)
    parser.add_argument("--split", help="file with one photo stem per line")
    parser.add_argument("--resolution", type=int, default=160, help="long side the network runs at")
    parser.add_argument("--checkpoint", help="also evaluate this checkpoint (registry name or file)")
    parser.add_argument("--arch", default="phnet", choices=["phnet", "fmm"])
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)

    names = load_split(args.split) if args.split else None
    dataset = PhotoMaskFolder(args.photos, args.masks, names=names)
    oracle = OracleNetwork().eval()
    networks: dict[str, LoadedNetwork] = {"oracle": LoadedNetwork(oracle, args.resolution, "oracle")}
    if args.checkpoint:
        loaded = load_network(args.checkpoint, "cpu", arch=args.arch)
        networks[args.arch] = LoadedNetwork(loaded.model, args.resolution, loaded.description)
    sums: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
    samples = itertools.islice(dataset, args.limit) if args.limit else dataset
    count = 0
    for sample in samples:
        count += 1
        hard = binarize(sample.mask)
        sums[("composite", "-")].append(_full_res_scores(sample.composite, sample.target, sample.mask))
        height, width = sample.target.shape[-2:]
        scale = args.resolution / max(height, width)
        oracle.target = sample.target
        oracle.size = (max(8, round(height * scale)), max(8, round(width * scale)))
        for name, network in networks.items():
            for transfer in ("upsample", "affine"):
                with torch.inference_mode():
                    pred = run_loaded(sample.composite, hard, network, transfer=transfer)
                out = blend(pred, sample.composite, sample.mask)
                sums[(name, transfer)].append(_full_res_scores(out, sample.target, sample.mask))
    if not count:
        print("no images", file=sys.stderr)
        return 2
    print(f"{count} synthetic composites, network at {args.resolution} px long side, photos at full resolution\n")
    table = []
    for (name, transfer), rows in sums.items():
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        table.append((name, transfer, f"{mean['fmse_full']:.2f}", f"{mean['fpsnr_full']:.2f}",
                      f"{mean['fpsnr_idih']:.2f}"))
    print(markdown_table(("network", "way back to full resolution", "fMSE (full res)", "fPSNR (full res)",
                          "fPSNR (idih, 256)"), table))
    return 0
