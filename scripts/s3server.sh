# An S3-compatible server for the tests: s3s-fs (crates.io), which speaks the S3 protocol
# (SigV4, multipart uploads, ListObjectsV2, conditional requests) and keeps each object as a
# plain file. Sourced (by scripts/services.sh); needs bash and curl.
#
#   start_s3   installs s3s-fs into target/tools once, starts it on a free loopback port with a
#              temporary data folder and fixed test credentials, creates the bucket `etl-test`
#              and exports ETL_TEST_S3_ENDPOINT, ETL_TEST_S3_BUCKET, ETL_TEST_S3_ACCESS_KEY_ID
#              ETL_TEST_S3_SECRET_ACCESS_KEY and ETL_TEST_S3_DATA_DIR. Returns non-zero (and says why) if it cannot.
#   stop_s3    stops it and removes its data folder.

S3S_FS_VERSION=0.14.1 # 0.17 needs a newer rustc than the project's toolchain.
s3_pid=
s3_dir=

# The s3s-fs binary, installed into target/tools (built once, about 3 minutes).
s3_install() {
  local root tools
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  tools="$root/target/tools"
  s3_bin="$tools/bin/s3s-fs"
  if [ -x "$s3_bin" ] && "$s3_bin" --version 2>/dev/null | grep -qF " $S3S_FS_VERSION"; then
    return 0
  fi
  echo "Installing s3s-fs $S3S_FS_VERSION into $tools (once)..." >&2
  cargo install --locked --quiet --root "$tools" "s3s-fs@$S3S_FS_VERSION" --features binary >&2 ||
    { echo "start_s3: cannot install s3s-fs $S3S_FS_VERSION (cargo install failed)" >&2; return 1; }
}

start_s3() {
  local access_key=etl-test-key secret_key=etl-test-secret-0123456789 bucket=etl-test
  s3_install || return 1
  s3_dir=$(mktemp -d "${TMPDIR:-/tmp}/etl-s3.XXXXXX") || return 1
  mkdir "$s3_dir/data"
  # Port 0: the system picks a free port; s3s-fs logs the address it listens on.
  RUST_LOG=s3s_fs=info,s3s=warn NO_COLOR=1 "$s3_bin" --host 127.0.0.1 --port 0 \
    --access-key "$access_key" --secret-key "$secret_key" "$s3_dir/data" >"$s3_dir/log" 2>&1 &
  s3_pid=$!
  local endpoint=
  for _ in $(seq 1 300); do
    endpoint=$(grep -so 'http://127\.0\.0\.1:[0-9]*' "$s3_dir/log" | head -n 1 || true)
    [ -n "$endpoint" ] && break
    kill -0 "$s3_pid" 2>/dev/null ||
      { echo "start_s3: s3s-fs exited before listening:" >&2; cat "$s3_dir/log" >&2; stop_s3; return 1; }
    sleep 0.1
  done
  [ -n "$endpoint" ] || { echo "start_s3: s3s-fs did not start within 30 s" >&2; stop_s3; return 1; }
  # A signed CreateBucket, which also proves the server answers and checks signatures.
  local empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 status
  status=$(curl -sS -o "$s3_dir/create-bucket" -w '%{http_code}' -X PUT \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access_key:$secret_key" \
    -H "x-amz-content-sha256: $empty_sha256" "$endpoint/$bucket") || status=000
  if [ "$status" != 200 ]; then
    echo "start_s3: cannot create bucket $bucket at $endpoint (HTTP $status):" >&2
    cat "$s3_dir/create-bucket" "$s3_dir/log" >&2 2>/dev/null
    stop_s3
    return 1
  fi
  export ETL_TEST_S3_ENDPOINT=$endpoint
  export ETL_TEST_S3_BUCKET=$bucket
  export ETL_TEST_S3_ACCESS_KEY_ID=$access_key
  export ETL_TEST_S3_SECRET_ACCESS_KEY=$secret_key
  # Where the server keeps each object as a file: tests read objects back from there too.
  export ETL_TEST_S3_DATA_DIR=$s3_dir/data
}

stop_s3() {
  if [ -n "$s3_pid" ]; then
    kill "$s3_pid" 2>/dev/null || true
    wait "$s3_pid" 2>/dev/null || true
    s3_pid=
  fi
  if [ -n "$s3_dir" ]; then
    rm -rf "$s3_dir"
    s3_dir=
  fi
  unset ETL_TEST_S3_ENDPOINT ETL_TEST_S3_BUCKET ETL_TEST_S3_ACCESS_KEY_ID ETL_TEST_S3_SECRET_ACCESS_KEY \
    ETL_TEST_S3_DATA_DIR
}
