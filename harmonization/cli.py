"""The command line: ``harmonization <subcommand>`` (= ``python -m harmonization <subcommand>``).

Subcommands: ``harmonize``, ``compose``, ``methods``, ``download`` (here) and ``train``, ``evaluate``,
``calibrate``, ``publish``, ``bench`` (each with its own ``--help``). Errors a user can fix are printed as one line
on stderr with exit status 2; nothing is computed before the output path has been checked.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import USER_ERRORS

__all__ = ["build_parser", "main"]

#: Subcommands whose arguments are parsed by their own module: name -> (module, help).
DELEGATED: dict[str, tuple[str, str]] = {
    "train": ("harmonization.training.cli", "train PHNet or FMM (synthetic pairs, iHarmony4, FFHQH)"),
    "evaluate": ("harmonization.evaluation.evaluate", "evaluate methods on a dataset (per bucket and kind)"),
    "calibrate": ("harmonization.evaluation.calibrate", "calibrate a checkpoint's default strength on folds"),
    "publish": ("harmonization.hub.publish", "upload our checkpoints to a Hub model repository (--dry-run)"),
}
#: ``harmonization bench <name>``: name -> (module, help).
BENCHMARKS: dict[str, tuple[str, str]] = {
    "networks": ("harmonization.benchmarks.networks", "latency of PHNet / FMM (ms per pass, images/s)"),
    "transfer": ("harmonization.benchmarks.transfer", "ways back to full resolution (oracle and checkpoints)"),
    "painterly": ("harmonization.benchmarks.painterly", "painterly fusion: colour, texture, structure, time"),
    "matting": ("harmonization.benchmarks.matting", "edge decontamination when pasting: band error, time"),
    "masks": ("harmonization.benchmarks.masks", "subject masks from a box or scribbles: IoU, time"),
}
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


class _UserError(ValueError):
    """A problem with the command line itself (printed like the library's input errors)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``harmonization`` (delegated subcommands are listed; their modules parse them)."""
    from .pipelines.registry import list_methods

    parser = argparse.ArgumentParser(prog="harmonization", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="<subcommand>")

    p = sub.add_parser("harmonize", help="harmonize the masked region of a composite")
    p.add_argument("--composite", required=True, help="composite image file")
    p.add_argument("--mask", required=True, help="mask file (white = region to harmonize; soft values allowed)")
    p.add_argument("--method", default="local", help=f"one of: {', '.join(list_methods())} (default: local)")
    p.add_argument("--out", required=True, help=f"output image file ({', '.join(OUTPUT_SUFFIXES)}; PNG is exact)")
    p.add_argument("--feather", type=float, default=0.0, help="feather the mask edge by this many pixels")
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="method option, e.g. -o strength=0.8 (repeatable)")

    c = sub.add_parser("compose", help="cut a masked object and paste it onto a background")
    c.add_argument("--foreground", required=True, help="image holding the object")
    c.add_argument("--foreground-mask", required=True, help="mask of the object in the foreground image")
    c.add_argument("--background", required=True, help="background image")
    c.add_argument("--scale", type=float, default=1.0, help="object height / background height (default 1.0)")
    c.add_argument("--center", type=float, nargs=2, default=(0.5, 0.5), metavar=("X", "Y"),
                   help="relative position of the object's centre (default 0.5 0.5)")
    c.add_argument("--flip", action="store_true", help="mirror the object left-right")
    c.add_argument("--no-decontaminate", action="store_true",
                   help="plain cut: no soft edge, the photo's own colours at the edge (default: clean the edge)")
    c.add_argument("--out", required=True, help="output composite file")
    c.add_argument("--mask-out", required=True, help="output mask file")

    sub.add_parser("methods", help="list the harmonization methods and whether they can run here")

    d = sub.add_parser("download", help="fetch registered checkpoints into the local caches")
    d.add_argument("names", nargs="*", help="checkpoint names (default: list them)")

    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=f"{text} (see harmonization {name} --help)", add_help=False)
    b = sub.add_parser("bench", help="benchmarks that print tables: " + ", ".join(BENCHMARKS))
    b.add_argument("benchmark", choices=list(BENCHMARKS), help="; ".join(f"{k}: {v[1]}" for k, v in
                                                                       BENCHMARKS.items()))
    return parser


def _module_main(module: str) -> Callable[[Sequence[str]], int | None]:
    return importlib.import_module(module).main


def check_output_path(path: str, inputs: Sequence[str] = ()) -> Path:
    """Refuse an output file before any work: unknown image suffix, a folder, an unwritable folder, or an input.

    Raises:
        ValueError: saying what is wrong with the path and how to fix it.
    """
    out = Path(path)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise _UserError(f"--out {path!r}: the file name must end in one of {', '.join(OUTPUT_SUFFIXES)} "
                         "(PNG keeps every pixel exact).")
    if out.is_dir():
        raise _UserError(f"--out {path!r} is a folder; give a file name such as {out / 'result.png'}.")
    for source in inputs:
        if Path(source).exists() and out.exists() and os.path.samefile(source, out):
            raise _UserError(f"--out {path!r} is one of the inputs; writing it would destroy the input. Choose "
                             "another file name.")
    parent = out.parent if str(out.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise _UserError(f"--out {path!r}: cannot write into {existing}; choose a folder you can write to.")
    return out


def _save(image: object, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)  # type: ignore[attr-defined]


def _run(args: argparse.Namespace) -> None:
    from .api import compose, harmonize
    from .pipelines.options import parse_option
    from .pipelines.registry import get_method, list_methods

    if args.command == "harmonize":
        out = check_output_path(args.out, (args.composite, args.mask))
        options = dict(parse_option(text) for text in args.option)
        start = time.perf_counter()
        result = harmonize(args.composite, args.mask, method=args.method, feather_radius=args.feather, **options)
        _save(result, out)
        print(f"{args.method}: wrote {out} ({result.size[0]}x{result.size[1]}) in {time.perf_counter() - start:.2f} s")
    elif args.command == "compose":
        inputs = (args.foreground, args.foreground_mask, args.background)
        out, mask_out = check_output_path(args.out, inputs), check_output_path(args.mask_out, inputs)
        if out.resolve() == mask_out.resolve():
            raise _UserError("--out and --mask-out name the same file; give two different files.")
        composite, mask = compose(args.foreground, args.foreground_mask, args.background, scale=args.scale,
                                  center=tuple(args.center), flip=args.flip, decontaminate=not args.no_decontaminate)
        _save(composite, out)
        _save(mask, mask_out)
        print(f"wrote {out} and {mask_out} ({composite.size[0]}x{composite.size[1]})")
    elif args.command == "methods":
        for name in list_methods():
            method = get_method(name)
            reason = method.unavailable_reason() if method.unavailable_reason else None
            status = "available" if reason is None else f"unavailable: {reason}"
            print(f"{name:18s} {method.family:9s} {status}\n{'':18s} {method.description}")
    elif args.command == "download":
        from .hub import get_checkpoint_spec, list_checkpoints, resolve_checkpoint

        if not args.names:
            for name in list_checkpoints():
                spec = get_checkpoint_spec(name)
                print(f"{name:22s} {spec.arch:12s} {spec.description}")
        for name in args.names:
            resolved = resolve_checkpoint(name)
            print(f"{name}: {resolved.path} ({resolved.origin})")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return int(_module_main(DELEGATED[argv[0]][0])(argv[1:]) or 0)
    if len(argv) >= 2 and argv[0] == "bench" and argv[1] in BENCHMARKS:
        result = _module_main(BENCHMARKS[argv[1]][0])(argv[2:])
        return result if isinstance(result, int) else 0
    args = build_parser().parse_args(argv)
    try:
        _run(args)
    except (*USER_ERRORS, OSError) as exc:
        message = str(exc).strip() or type(exc).__name__
        if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
            message = f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": ")
        print(f"error: {message}", file=sys.stderr)
        return 2
    return 0
