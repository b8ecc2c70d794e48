"""``python -m harmonization.data.corpus``: runs :func:`harmonization.data.corpus.cli.main`."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
