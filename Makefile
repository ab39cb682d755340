# `make demo` and `make test` are the two commands that matter on a fresh machine; `make check`
# is what CI runs (.ci/run). Only the Rust toolchain is needed: cargo fetches the crates, and
# `make test` runs under scripts/services.sh, which installs and starts PostgreSQL (Debian's
# package, with apt-get when missing) and an S3-compatible server (s3s-fs, from crates.io)
# on loopback ports for the tests, and stops them on exit.

CARGO ?= cargo

.PHONY: demo build test check fmt fmt-check clippy doc unused-deps install bench clean

demo: build
	./scripts/demo.sh

build:
	$(CARGO) build --locked -p etl-runner -p etl-mockapi

test:
	./scripts/services.sh $(CARGO) test --locked --workspace

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --workspace --no-deps

# Dependencies declared but not used (cargo-machete, built once into target/tools).
MACHETE := target/tools/bin/cargo-machete
$(MACHETE):
	$(CARGO) install --locked --root target/tools cargo-machete@0.9.2

unused-deps: $(MACHETE)
	$(MACHETE)

check: fmt-check unused-deps clippy test doc

bench:
	./scripts/services.sh ./scripts/bench.sh

install:
	$(CARGO) install --locked --path crates/etl-runner

clean:
	$(CARGO) clean
