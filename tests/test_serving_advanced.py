"""serving.advanced: the page's Advanced values and the API's options text become the same method options."""

from __future__ import annotations

import pytest

from harmonization.serving.advanced import advanced_options, parse_options_text
from harmonization.serving.jobs import painterly_options


def test_untouched_values_change_nothing() -> None:
    assert advanced_options() == {}
    assert parse_options_text("") == parse_options_text(None) == {}


def test_text_and_values_agree() -> None:
    text = "strength=0.5, feather_radius=3\nresolution=512 style_strength=4 quality=preview"
    expected = {"strength": 0.5, "feather_radius": 3.0, "resolution": 512, "style_strength": 4.0,
                **painterly_options("preview")}
    assert parse_options_text(text, quality_of=painterly_options) == expected
    assert advanced_options(0.5, 3, 512, 4, painterly_options("preview")) == expected
    assert parse_options_text("strength=none resolution=none") == {}  # none = the default


@pytest.mark.parametrize(("text", "message"), [
    ("strength=2.5", "strength must be in"), ("strength=abc", "strength must be a number"),
    ("feather_radius=-1", "feather_radius must be"), ("feather_radius=nan", "feather_radius must be"),
    ("resolution=4", "whole number in \\[8, 2048\\]"), ("resolution=512.5", "whole number"),
    ("style_strength=11", "style_strength must be"), ("radius=3", "Unknown option 'radius'"),
    ("strength", "key=value"), ("strength=1 strength=0", "given twice"), ("quality=preview", "not an option"),
])
def test_bad_text_is_refused_with_a_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_options_text(text)


def test_unknown_quality_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown painterly quality"):
        parse_options_text("quality=best", quality_of=painterly_options)
