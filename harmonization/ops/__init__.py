"""Pure tensor operations (no state, no I/O): masks, colour statistics, patch grids, style losses."""
