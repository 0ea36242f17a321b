"""What the leave-one-out rule of `effects` (`_withdraw_if_fragile`) costs and buys, on the
reference truth of `statistics.simulate`: lr power and any false dropout/l2/batch_size
effect with the rule and without it, 200 simulated studies per cell, short MCMC chains.

    nice python benchmarks/bench_fragile.py > benchmarks/results/fragile.txt
"""
import sys

import numpy as np

sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent.parent))
from sweep.statistics import effects as E
from sweep.statistics import simulate as S
from sweep.statistics.design import from_arrays

FAST = {"chains": 4, "burn": 30, "steps": 20, "keep": 2}
orig = E._withdraw_if_fragile
for design in ("uniform",):
    for n in (20, 30):
        scen = S.Scenario("t", S.reference_truth, design)
        X, Y = S.simulate(scen, np.random.default_rng(11), 200, n)
        with_, without, false_w, false_wo = 0, 0, 0, 0
        for r in range(200):
            d = from_arrays(X[r], Y[r], S.DEFAULT_SETTINGS)
            E._withdraw_if_fragile = orig
            a = E.effects(d, mcmc=FAST, seed=r)
            E._withdraw_if_fragile = lambda *args, **kw: None
            b = E.effects(d, mcmc=FAST, seed=r)
            with_ += "lr" in a.stated
            without += "lr" in b.stated
            false_w += any(s not in ("lr", "hidden_size") for s in a.stated)
            false_wo += any(s not in ("lr", "hidden_size") for s in b.stated)
        print(design, n, "lr power with rule", with_/200, "without", without/200,
              "false (dropout/l2/batch) with", false_w/200, "without", false_wo/200, flush=True)
