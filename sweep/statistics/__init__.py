"""Numerical methods behind every interval, test and effect the harness prints.

Pure functions of arrays: no study, storage or figure is read here, so that a test can
run each method thousands of times on simulated data and measure its error rate and
coverage (tests/sweep/statistics/).
"""
