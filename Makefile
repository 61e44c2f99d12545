# The two commands of README.md, and the steps they are made of.
#   make demo   install what is missing, build, fetch Fashion-MNIST, train the seed network
#   make test   install what is missing, build, fetch the data, run the whole test suite
#   make bench  ours against PyTorch on convnet1 (docs/PERFORMANCE.md)
.PHONY: all deps bench-deps build data demo test bench clean

BUILD_DIR ?= build
DATA_DIR  ?= data
THREADS   ?= $(shell nproc)
DEMO_EPOCHS ?= 10

# Debian packages the build, the tests and the benchmarks use. Node.js and npm (for `make data`)
# are only installed when no `npm` command exists: a machine may have them from elsewhere, and
# Debian's nodejs conflicts with those.
PACKAGES := g++ cmake make pkg-config libdnnl-dev libgtest-dev libgmock-dev libbenchmark-dev \
            zlib1g-dev libpng-dev python3 python3-torch python3-numpy
NODE_PACKAGES := nodejs npm
# The benchmark's PyTorch peer as a Debian user gets it: python3-torch recommends OpenBLAS.
BENCH_PACKAGES := libopenblas0-pthread
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

all: build

deps:
	@missing=$$(for p in $(PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done; \
	  command -v npm >/dev/null || echo $(NODE_PACKAGES)); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

bench-deps: deps
	@dpkg-query -W -f='$${Status}' $(BENCH_PACKAGES) 2>/dev/null | grep -q 'install ok installed' || \
	  { $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $(BENCH_PACKAGES); }

build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) -j $(THREADS)

data:
	scripts/fetch_data.sh $(DATA_DIR)

demo: build data
	$(BUILD_DIR)/convnet train --model models/convnet1.model --data $(DATA_DIR)/fashion-mnist \
	  --epochs $(DEMO_EPOCHS) --schedule cosine:$(DEMO_EPOCHS) --batch 100 --lr 0.001 --seed 1 --threads $(THREADS) \
	  --save $(BUILD_DIR)/convnet1.weights --metrics $(BUILD_DIR)/convnet1.metrics.jsonl
	$(BUILD_DIR)/convnet eval --model models/convnet1.model --weights $(BUILD_DIR)/convnet1.weights \
	  --data $(DATA_DIR)/fashion-mnist --threads $(THREADS)

test: build data
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(THREADS)

# Ours against PyTorch in one run (docs/PERFORMANCE.md); about 4 minutes on a quiet machine.
bench: bench-deps data
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DCONVNET_BUILD_BENCH=ON
	cmake --build $(BUILD_DIR) -j $(THREADS)
	/usr/bin/python3 bench/run_bench.py --build-dir $(BUILD_DIR) --data $(DATA_DIR)/fashion-mnist \
	  --threads $(THREADS) --markdown $(BUILD_DIR)/bench.md --json $(BUILD_DIR)/bench.json

clean:
	rm -rf $(BUILD_DIR)
