#!/usr/bin/env bash
# Starts etl-mockapi on a free loopback port, runs pipelines/engagement.yaml against it and
# stops the mock when done, also on failure. Run from anywhere: `make demo` builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ETL_BIN_DIR:-target/debug}
work=$(mktemp -d "${TMPDIR:-/tmp}/etl-demo.XXXXXX")
. scripts/lib.sh
cleanup() {
  stop_mocks
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
start_mock demo --fixtures fixtures/jsonplaceholder
echo "demo: etl-mockapi serves fixtures/jsonplaceholder at $url"
echo "demo: API_BASE_URL=$url etl run pipelines/engagement.yaml"
echo
API_BASE_URL="$url" "$bin/etl" run pipelines/engagement.yaml
echo
echo "demo: the report as a page, charts included, to open in any browser:"
echo "  file://$PWD/reports/engagement.html"
