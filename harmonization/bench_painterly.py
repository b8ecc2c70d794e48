"""Alias of ``python -m harmonization.benchmarks.painterly`` (the painterly benchmark moved there)."""
from harmonization.benchmarks.painterly import main

if __name__ == "__main__":
    raise SystemExit(main())
