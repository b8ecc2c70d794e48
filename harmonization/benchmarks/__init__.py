"""Benchmarks: scripts that time and measure the package and print Markdown tables (never timed assertions).

Each module is runnable, e.g. ``python -m harmonization.benchmarks.painterly`` or ``harmonization bench ...``.
"""
