#!/usr/bin/env bash
# Benchmarks that print figures (never timed assertions):
# 1. the parent/child fan-out of comments over 100 posts against etl-mockapi adding 20 ms to
#    every request, sequential (concurrency 1) against concurrency 8;
# 2. a server limit of 20 requests a second and no `rate_limit` configured: over 300 requests,
#    how many 429s, and how close to requests / 20 s the run finishes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ETL_BIN_DIR:-target/debug}
work=$(mktemp -d "${TMPDIR:-/tmp}/etl-bench.XXXXXX")
addr_file="$work/addr"
"$bin/etl-mockapi" --fixtures fixtures/jsonplaceholder --port 0 --latency-ms 20 --addr-file "$addr_file" >/dev/null &
mock=$!
cleanup() {
  kill "$mock" 2>/dev/null || true
  wait "$mock" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 200); do [ -s "$addr_file" ] && break; sleep 0.05; done
url=$(cat "$addr_file")

fanout() {
  cat <<YAML
version: 1
name: fanout_c$1
http: { base_url: "$url" }
sources:
  posts:
    endpoint: /posts
    pagination: { type: offset, offset_param: _start, limit_param: _limit, page_size: 100, short_page: end }
  comments:
    endpoint: "/posts/{id}/comments"
    for_each: { source: posts, key: id }
    concurrency: $1
    pagination: { type: none }
sinks:
  out: { from: comments, format: csv, path: "out/{pipeline}_{run_id}.csv" }
YAML
}

seconds() { date +%s.%N; }
echo "fan-out: comments of 100 posts, one request each, 20 ms added per request"
printf '%-12s %10s %10s %12s\n' concurrency "wall (s)" "comments" "vs c=1"
base=""
for c in 1 8; do
  fanout "$c" > "$work/fanout_$c.yaml"
  start=$(seconds)
  out=$(cd "$work" && "$OLDPWD/$bin/etl" run "fanout_$c.yaml")
  end=$(seconds)
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  records=$(echo "$out" | awk '$1 == "comments" { print $3 }')
  [ -n "$base" ] || base=$wall
  printf '%-12s %10.2f %10s %11.2fx\n' "$c" "$wall" "$records" "$(awk -v a="$base" -v b="$wall" 'BEGIN { print a / b }')"
done

# 2. The server's quota, and nothing configured.
limited="$work/limited"
"$bin/etl-mockapi" --fixtures fixtures/jsonplaceholder --port 0 --rate-limit 20/1s --addr-file "$limited" >/dev/null &
limited_pid=$!
trap 'kill $limited_pid 2>/dev/null || true; cleanup' EXIT INT TERM
for _ in $(seq 1 200); do [ -s "$limited" ] && break; sleep 0.05; done
sed -e 's/page_size: 100/page_size: 2/' -e '/rate_limit:/d' pipelines/engagement.yaml > "$work/limited.yaml"
start=$(seconds)
out=$(cd "$work" && API_BASE_URL=$(cat "$limited") "$OLDPWD/$bin/etl" run limited.yaml)
end=$(seconds)
echo
echo "quota: server limit 20 requests/s (X-RateLimit-* headers), no rate_limit configured"
echo "$out" | awk -v a="$start" -v b="$end" '
  $1 == "users" || $1 == "posts" || $1 == "comments" { requests += $4; refused += $6 }
  END {
    wall = b - a; ideal = requests / 20
    printf "%-10s %6s %10s %10s %8s\n", "requests", "429s", "wall (s)", "ideal (s)", "ratio"
    printf "%-10d %6d %10.2f %10.2f %7.2fx\n", requests, refused, wall, ideal, wall / ideal
  }'
