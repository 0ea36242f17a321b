"""A setting fixed by the space file and given otherwise by an option is refused before
anything is made: hostile tester 6 found `--epochs 1` silently overruling a space file's
`[fixed] epochs = 2` (session.py, `_check_fixed`)."""

from __future__ import annotations

import pytest

import sweep


def test_an_option_against_a_fixed_setting_is_refused(tmp_path, tiny_idx_dir):
    space = tmp_path / "space.toml"
    space.write_text("[params.hidden_size]\nlow = 16\nhigh = 32\n[fixed]\nepochs = 2\n")
    studies = tmp_path / "studies"
    kw = dict(trials=1, jobs=1, dataset="idx", data_dir=tiny_idx_dir, studies_dir=studies,
              space=space, report=False, quiet=True)
    with pytest.raises(sweep.UsageError, match=r"^epochs=1: .*fixes epochs = 2 \(\[fixed\]\)"):
        sweep.run("fx", epochs=1, **kw)
    assert not studies.exists()  # nothing made


def test_an_option_for_a_sampled_setting_is_refused(tmp_path, tiny_idx_dir):
    # hostile tester 7: `--epochs 1` beside a space sampling epochs ran every trial 2-3
    space = tmp_path / "space.toml"
    space.write_text("[params.hidden_size]\nlow = 16\nhigh = 32\n"
                     "[params.epochs]\ntype = 'int'\nlow = 2\nhigh = 3\n")
    studies = tmp_path / "studies"
    with pytest.raises(sweep.UsageError, match=r"^epochs=1: .*samples epochs \(\[params\]\)"):
        sweep.run("ep", trials=1, jobs=1, epochs=1, dataset="idx", data_dir=tiny_idx_dir,
                  studies_dir=studies, space=space, report=False, quiet=True)
    assert not studies.exists()
