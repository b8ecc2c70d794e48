"""One shape check for every tensor contract: named dimensions that must agree across the tensors of a call.

``check_shapes(image=(image, "B 3 H W"), mask=(mask, "B 1 H W"))`` checks that both are tensors of rank 4, that
``image`` has 3 channels and ``mask`` 1, and that B, H and W agree between them; it returns the sizes it bound
(``{"B": 1, "H": 48, "W": 64}``). A dimension is a letter (bound on first use, then checked), an integer (exact) or
``*`` (anything).
"""

from __future__ import annotations

import torch

__all__ = ["check_shapes"]


def check_shapes(*, floating: bool = True, **named: tuple[torch.Tensor, str]) -> dict[str, int]:
    """Check tensors against dimension patterns; dimension letters must agree across all of them.

    Args:
        floating: require floating-point tensors.
        **named: ``name=(tensor, "B 3 H W")`` pairs; names appear in the error messages.

    Returns:
        The sizes bound to each letter.

    Raises:
        TypeError: a value is not a tensor.
        ValueError: wrong rank, a wrong size, sizes that disagree between tensors, or an integer tensor.

    Example:
        >>> check_shapes(image=(torch.zeros(1, 3, 4, 5), "B 3 H W"), mask=(torch.zeros(1, 1, 4, 5), "B 1 H W"))
        {'B': 1, 'H': 4, 'W': 5}
    """
    bound: dict[str, int] = {}
    first: dict[str, str] = {}
    for name, (tensor, pattern) in named.items():
        dims = pattern.split()
        wanted = "(" + ", ".join(dims) + ")"
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape {wanted}; got {type(tensor).__name__}.")
        shape = tuple(tensor.shape)
        if len(shape) != len(dims):
            raise ValueError(f"{name} must have shape {wanted}; got {shape} ({len(shape)} dimensions).")
        for dim, size in zip(dims, shape, strict=True):
            if dim == "*":
                continue
            if dim.isdigit():
                if size != int(dim):
                    raise ValueError(f"{name} must have shape {wanted}; got {shape}.")
                continue
            if dim not in bound:
                bound[dim], first[dim] = size, name
            elif bound[dim] != size:
                raise ValueError(f"{name} has {dim}={size} but {first[dim]} has {dim}={bound[dim]}; the shapes "
                                 f"{wanted} must agree (got {shape}).")
        if floating and not tensor.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor of shape {wanted}; got {tensor.dtype}.")
    return bound
