"""``harmonization train``: the command line of :func:`harmonization.training.train`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import loop
from .config import ARCHES, OPTIMIZERS, TrainConfig

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``harmonization train``."""
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="harmonization train", description=loop.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=ARCHES, required=True)
    p.add_argument("--model-config", default="", help="phnet: iharmony|ffhqh|tiny; fmm: released|tiny")
    data = p.add_argument_group("data (one of)")
    data.add_argument("--corpus", help="a built corpus (python -m harmonization.data.corpus build): train on its "
                      "training split's (photo, region) pairs (minus --exclude); with --photos/--masks as well, those "
                      "photos are a second source, except near-duplicates of corpus photos")
    data.add_argument("--photos", help="folder of photos (synthetic pairs)")
    data.add_argument("--masks", help="folder of object masks <stem>.png")
    data.add_argument("--iharmony4", help="iHarmony4 root (train on *_train.txt, validate on *_test.txt)")
    data.add_argument("--ffhqh", help="FFHQH root (comp/, alpha/, ground truth)")
    p.add_argument("--heldout", help="held-out list to exclude from training (file or 'heldout'); default: a "
                   "fresh 20%% split (--split-seed)")
    p.add_argument("--exclude", help="a further list of photos kept out of training (file or a split name; with "
                   "--corpus comma-separated corpus splits, e.g. calibration-a,calibration-b), e.g. to calibrate a "
                   "checkpoint's strength on photos its network never saw")
    p.add_argument("--val-split", help="--corpus: validate on these corpus splits (default: the calibration folds "
                   "in --exclude; 'none' = no validation; the held-out split is refused)")
    p.add_argument("--max-regions", type=int, default=d.max_regions,
                   help="--corpus validation: at most this many regions per photo, each as a jitter and a colour-"
                   "transfer composite")
    p.add_argument("--split-seed", type=int, default=d.split_seed)
    p.add_argument("--split-out", help="write the held-out photo names here")
    p.add_argument("--size", type=int, default=d.size, help="training crop side (multiple of 8)")
    p.add_argument("--batch", type=int, default=d.batch, help="batch per process")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="", help="default: lion (phnet), adam (fmm)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--transfer-p", type=float, default=d.transfer_p, help="share of colour-transfer composites")
    p.add_argument("--crop-min", type=float, default=d.crop_min, help="smallest crop area fraction")
    p.add_argument("--no-zero-init-head", dest="zero_init_head", action="store_false",
                   help="FMM: keep the default init of the output convolution")
    p.add_argument("--loss-region", choices=("full", "blend"), default=d.loss_region,
                   help="loss on the whole predicted image (papers) or on pred*mask + composite*(1-mask)")
    p.add_argument("--loss", choices=("", "phnet", "mse", "fg-mse"), default=d.loss,
                   help="default: phnet (PHNet's loss) for phnet, mse for fmm; fg-mse: foreground-normalised MSE "
                   "(each image's object counts alike, as in per-image fPSNR)")
    p.add_argument("--anchor", action="store_true",
                   help="fit the output's background onto the composite's with one affine colour map before the "
                        "loss (for PHNet, whose instance-normalised input loses the global colour level); the "
                        "checkpoint records it and the pipeline does the same at inference")
    p.add_argument("--transfer", choices=("affine", "global"), default=d.transfer,
                   help="'global': train through the pipeline's one-colour-map way back (composite -> prediction "
                        "over the object), recorded in the checkpoint so the pipeline uses it")
    p.add_argument("--scene-color", type=float, default=d.scene_color,
                   help="random exposure/colour-cast change of the whole training photo before compositing "
                        "(e.g. 0.3), against memorising a small photo set's colours")
    p.add_argument("--init", default=None, help="start from these weights (safetensors/.pth), fresh optimiser")
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--val-limit", type=int, default=d.val_limit)
    p.add_argument("--val-resolution", type=int, default=d.val_resolution, help="default: --size")
    p.add_argument("--val-transfer", choices=("", "affine", "global"), default=d.val_transfer,
                   help="the pipeline's way back to full resolution in validation (default: --transfer)")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0 = default)")
    p.add_argument("--max-minutes", type=float, default=d.max_minutes, help="stop and save after this long")
    p.add_argument("--stop-after", type=int, default=d.stop_after,
                   help="stop and save after this many steps of this invocation (resume later)")
    p.add_argument("--bn-recalibrate", type=int, default=d.bn_recalibrate, metavar="BATCHES",
                   help="at the end, re-estimate BatchNorm statistics as a plain average over this many batches")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default=d.amp,
                   help="autocast of the forward pass: auto = bf16 on CPUs with native bf16 (AMX / AVX512-BF16) and "
                   "on CUDA (fp16 where bf16 is missing); the loss, BatchNorm statistics and weights stay float32")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--compile", action="store_true", help="torch.compile the network")
    p.add_argument("--workers", type=int, default=d.workers,
                   help="build training items in this many DataLoader worker processes (0 = in the loop)")
    p.add_argument("--out", default=d.out, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.safetensors")
    p.add_argument("--export", help="write an fp16 safetensors copy here at the end")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    fields = set(TrainConfig.__dataclass_fields__)
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    loop.train(config, resume=args.resume, split_out=args.split_out, export=args.export)
    return 0

