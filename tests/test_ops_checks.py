"""``ops.checks.check_shapes``: the one shape check behind every tensor contract."""

from __future__ import annotations

import pytest
import torch

from harmonization.ops.checks import check_shapes


def test_binds_letters_across_tensors_and_returns_them() -> None:
    sizes = check_shapes(image=(torch.zeros(2, 3, 4, 5), "B 3 H W"), mask=(torch.zeros(2, 1, 4, 5), "B 1 H W"),
                         anything=(torch.zeros(7), "*"))
    assert sizes == {"B": 2, "H": 4, "W": 5}


@pytest.mark.parametrize(("named", "error", "message"), [
    ({"x": ([1, 2], "B C")}, TypeError, r"x must be a torch.Tensor of shape \(B, C\); got list"),
    ({"x": (torch.zeros(3, 4), "B C H W")}, ValueError, r"x must have shape \(B, C, H, W\); got \(3, 4\) \(2 dim"),
    ({"x": (torch.zeros(1, 4, 2, 2), "B 3 H W")}, ValueError, r"x must have shape \(B, 3, H, W\); got \(1, 4, 2, 2\)"),
    ({"a": (torch.zeros(1, 3, 2, 2), "B 3 H W"), "b": (torch.zeros(1, 1, 2, 3), "B 1 H W")}, ValueError,
     r"b has W=3 but a has W=2"),
    ({"x": (torch.zeros(1, 3, dtype=torch.int64), "B C")}, ValueError, "must be a floating-point tensor"),
])
def test_errors_name_the_tensor_the_pattern_and_what_was_received(named: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        check_shapes(**named)


def test_integer_tensors_pass_when_floating_is_not_required() -> None:
    assert check_shapes(floating=False, x=(torch.zeros(2, 3, dtype=torch.uint8), "N 3")) == {"N": 2}
