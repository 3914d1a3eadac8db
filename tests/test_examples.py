"""The documented examples run and print what their docstrings say."""

from __future__ import annotations

import doctest

import pytest

import qtgjax.api
import qtgjax.market.auction


@pytest.mark.parametrize("module", [qtgjax.market.auction, qtgjax.api], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
