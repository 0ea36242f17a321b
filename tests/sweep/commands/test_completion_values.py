"""Hostile tests: shell completion of option values. The options whose values are a
fixed set complete to that set, not to the file names of the current folder."""

from __future__ import annotations

import pytest

from tests.sweep.commands.test_completion import complete

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("line", "wanted"), [
    ("sweep confirm --rule ", {"cheapest", "cheapest-in-set", "best"}),
    ("sweep confirm --cost ", {"param-steps", "seconds"}),
    ("sweep run --sampler ", {"tpe", "random", "cmaes", "gp", "qmc", "grid"}),
    ("sweep run --pruner ", {"hyperband", "asha", "median", "none"}),
])
def test_an_option_of_fixed_values_completes_to_them(line, wanted, tmp_path):
    """Before: `sweep confirm --rule <TAB>` offered the folder's files ("completions"
    here, every file of the working directory in a shell): the values are checked by a
    converter, not argparse's choices, so argcomplete never sees them."""
    (tmp_path / "somefile.txt").write_text("")
    got = {c.strip() for c in complete(line, tmp_path)}
    assert wanted <= got and "somefile.txt" not in got, got
