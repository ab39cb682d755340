# Shared by demo.sh and bench.sh (sourced). Needs `$bin` (the folder of etl-mockapi) and
# `$work` (a scratch folder); call `stop_mocks` on exit.
mocks=()

# start_mock NAME ARGS...: starts etl-mockapi on a free loopback port with ARGS, waits until it
# listens (up to 60 s: large fixture sets take a while to load), and sets `$url`.
start_mock() {
  local name=$1
  shift
  "$bin/etl-mockapi" --port 0 --addr-file "$work/$name.addr" "$@" >/dev/null &
  mocks+=($!)
  for _ in $(seq 1 1200); do
    [ -s "$work/$name.addr" ] && break
    kill -0 "${mocks[-1]}" 2>/dev/null || { echo "etl-mockapi ($name) exited before listening" >&2; exit 1; }
    sleep 0.05
  done
  [ -s "$work/$name.addr" ] || { echo "etl-mockapi ($name) did not start within 60 s" >&2; exit 1; }
  url=$(cat "$work/$name.addr")
}

# stop_mocks: stops every mock started, and waits for them.
stop_mocks() {
  for p in "${mocks[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${mocks[@]}"; do wait "$p" 2>/dev/null || true; done
}
