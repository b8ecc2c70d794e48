"""Command-line interface: ``python -m harmonization {harmonize,compose,methods} ...``."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .api import compose, harmonize
from .image_io import ImageReadError
from .pipelines.registry import MethodUnavailableError, get_method, list_methods


def _parse_option(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"Options look like key=value (e.g. strength=0.8); got {text!r}.")
    key, raw = text.split("=", 1)
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def _save(image: Any, path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``python -m harmonization``."""
    parser = argparse.ArgumentParser(prog="python -m harmonization", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("harmonize", help="harmonize the masked region of a composite")
    p.add_argument("--composite", required=True, help="composite image file")
    p.add_argument("--mask", required=True, help="mask file (white = region to harmonize; soft values allowed)")
    p.add_argument("--method", default="local", help=f"one of: {', '.join(list_methods())} (default: local)")
    p.add_argument("--out", required=True, help="output image file (PNG keeps every pixel exact)")
    p.add_argument("--feather", type=float, default=0.0, help="feather the mask edge by this many pixels")
    p.add_argument("--option", "-o", action="append", type=_parse_option, default=[], metavar="KEY=VALUE",
                   help="method option, e.g. -o strength=0.8 (repeatable)")

    c = sub.add_parser("compose", help="cut a masked object and paste it onto a background")
    c.add_argument("--foreground", required=True, help="image holding the object")
    c.add_argument("--foreground-mask", required=True, help="mask of the object in the foreground image")
    c.add_argument("--background", required=True, help="background image")
    c.add_argument("--scale", type=float, default=1.0, help="object height / background height (default 1.0)")
    c.add_argument("--center", type=float, nargs=2, default=(0.5, 0.5), metavar=("X", "Y"),
                   help="relative position of the object's centre (default 0.5 0.5)")
    c.add_argument("--flip", action="store_true", help="mirror the object left-right")
    c.add_argument("--out", required=True, help="output composite file")
    c.add_argument("--mask-out", required=True, help="output mask file")

    sub.add_parser("methods", help="list the harmonization methods and whether they can run here")

    d = sub.add_parser("download", help="fetch registered checkpoints into the local caches")
    d.add_argument("names", nargs="*", help="checkpoint names (default: list them)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 ok, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "harmonize":
            start = time.perf_counter()
            result = harmonize(args.composite, args.mask, method=args.method, feather_radius=args.feather,
                               **dict(args.option))
            _save(result, args.out)
            print(f"{args.method}: wrote {args.out} ({result.size[0]}x{result.size[1]}) "
                  f"in {time.perf_counter() - start:.2f} s")
        elif args.command == "compose":
            composite, mask = compose(args.foreground, args.foreground_mask, args.background, scale=args.scale,
                                      center=tuple(args.center), flip=args.flip)
            _save(composite, args.out)
            _save(mask, args.mask_out)
            print(f"wrote {args.out} and {args.mask_out} ({composite.size[0]}x{composite.size[1]})")
        elif args.command == "methods":
            for name in list_methods():
                method = get_method(name)
                reason = method.unavailable_reason() if method.unavailable_reason else None
                status = "available" if reason is None else f"unavailable: {reason}"
                print(f"{name:18s} {method.family:9s} {status}\n{'':18s} {method.description}")
        elif args.command == "download":
            from .checkpoints import get_checkpoint_spec, list_checkpoints, resolve_checkpoint

            if not args.names:
                for name in list_checkpoints():
                    spec = get_checkpoint_spec(name)
                    print(f"{name:22s} {spec.arch:6s} {spec.description}")
            for name in args.names:
                resolved = resolve_checkpoint(name)
                print(f"{name}: {resolved.path} ({resolved.origin})")
    except (ValueError, ImageReadError, MethodUnavailableError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
