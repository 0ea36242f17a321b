"""Hostile tester 9: "the classic configuration" when the study's space excludes it."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_trial_0_is_not_called_the_classic_configuration_when_its_values_were_sampled(
        sweep_cli, data_args, tmp_path):
    """Found: with a space of hidden_size 16-32 (the classic 512 outside it), trial 0 is
    enqueued with only the classic values the space holds, and its hidden size is sampled
    (24 here); yet the report says of it "it uses hidden_size=24, ... That is the classic
    configuration." and "The classic configuration is the selected trial." (README: the
    classic configuration is one hidden layer of 512 units). A trial that is not the
    classic configuration must not be called it, or the report must say which classic
    values the space could not hold."""
    space = tmp_path / "space.toml"
    space.write_text("[params.hidden_size]\nlow = 16\nhigh = 32\n")
    got = sweep_cli("run", "--study", "narrow", "--trials", 1, "--epochs", 1, *data_args,
                    "--space", space, "--quiet", cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    root = tmp_path / "studies" / "narrow"
    trial0 = json.loads((root / "trials" / "0000" / "trial.json").read_text())
    assert trial0["params"]["hidden_size"] != 512
    md = (root / "report" / "report.md").read_text()
    claims = [line[:300] for line in md.splitlines()
              if "That is the classic configuration." in line
              or "The classic configuration is the selected trial." in line]
    qualified = any("classic" in line and "512" in line for line in md.splitlines())
    assert not claims or qualified, claims
