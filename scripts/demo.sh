#!/usr/bin/env bash
# Starts etl-mockapi on a free loopback port, runs pipelines/engagement.yaml against it and
# stops the mock when done, also on failure. Run from anywhere: `make demo` builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ETL_BIN_DIR:-target/debug}
addr_file=$(mktemp -u "${TMPDIR:-/tmp}/etl-mockapi-addr.XXXXXX")
"$bin/etl-mockapi" --fixtures fixtures/jsonplaceholder --port 0 --addr-file "$addr_file" >/dev/null &
mock=$!
cleanup() {
  kill "$mock" 2>/dev/null || true
  wait "$mock" 2>/dev/null || true
  rm -f "$addr_file"
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 200); do
  [ -s "$addr_file" ] && break
  kill -0 "$mock" 2>/dev/null || { echo "demo: etl-mockapi exited before listening" >&2; exit 1; }
  sleep 0.05
done
[ -s "$addr_file" ] || { echo "demo: etl-mockapi did not start within 10s" >&2; exit 1; }
url=$(cat "$addr_file")
echo "demo: etl-mockapi serves fixtures/jsonplaceholder at $url"
echo "demo: API_BASE_URL=$url etl run pipelines/engagement.yaml"
echo
API_BASE_URL="$url" "$bin/etl" run pipelines/engagement.yaml
