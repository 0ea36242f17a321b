#!/usr/bin/env bash
# Regenerates docs/example-report from the default study, from the repository's root:
#
#     bash docs/example-report/make.sh [STUDIES_DIR]
#
# The default 50-trial study (resumed if it exists), `sweep confirm` with its defaults,
# then the report; beside the report, the study's trials as CSV (every column of
# `sweep trials`) and confirm's summary as JSON, so that every number on the page can be
# recomputed. About an hour and a half on 2 cores, most of it the re-runs of confirm.
set -euo pipefail
studies=${1:-studies}
out=docs/example-report
python -m sweep run --trials 50 --studies-dir "$studies" --no-report
python -m sweep confirm --studies-dir "$studies"
python -m sweep report --studies-dir "$studies"
rm -rf "$out/figures" "$out/index.html" "$out/report.md"
cp -r "$studies/mnist-mlp/report/." "$out/"
python -m sweep trials --studies-dir "$studies" -f csv --out "$out/trials.csv"
cp "$studies/mnist-mlp/confirm/confirm.json" "$out/confirm.json"
