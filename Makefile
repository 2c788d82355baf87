# The commands users type. Everything real happens in CMake (CMakePresets.json).
#   make            release build: build/release/hone, its tests and benchmarks
#                   (installs what the tests need)
#   make run        install what the build and demo need, build hone, run `hone demo`
#   make test       install what the tests also need, build, run every test (CTest)
#   make sanitize   the tests under ASan+UBSan and under TSan
#   make bench      install what the benchmarks need, build and run every benchmark
#   make install PREFIX=/usr/local
PREFIX ?= /usr/local
ifeq ($(CI),true)
WERROR ?= ON
else
WERROR ?= OFF
endif
CMAKE_ARGS ?=
CONFIGURE = cmake --preset $(1) -DHONE_WERROR=$(WERROR) $(2) $(CMAKE_ARGS) >/dev/null
# Tests and benchmarks are part of the release build except for `make run`,
# `make bench` and `make install`, which build only what they need (no
# cmocka without tests, no benchmark programs without benchmarks).
ALL_TARGETS = -DHONE_BUILD_TESTS=ON -DHONE_BUILD_BENCH=ON

.PHONY: all build deps deps-test deps-bench run test sanitize asan tsan clang bench install clean

all: build

deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

deps-bench:
	@scripts/deps.sh bench

build: deps-test
	@$(call CONFIGURE,release,$(ALL_TARGETS))
	@cmake --build --preset release

run: deps
	@$(call CONFIGURE,release,-DHONE_BUILD_TESTS=OFF -DHONE_BUILD_BENCH=OFF)
	@cmake --build --preset release
	./build/release/hone demo

test: build
	ctest --preset release

asan: deps-test
	@$(call CONFIGURE,asan)
	@cmake --build --preset asan
	ctest --preset asan

tsan: deps-test
	@$(call CONFIGURE,tsan)
	@cmake --build --preset tsan
	ctest --preset tsan

sanitize: asan tsan

# Builds with clang, to keep both compilers warning-free.
clang: deps-test
	@$(call CONFIGURE,clang)
	@cmake --build --preset clang

bench: deps-bench
	@$(call CONFIGURE,release,-DHONE_BUILD_TESTS=OFF -DHONE_BUILD_BENCH=ON)
	@cmake --build --preset release
	@set -e; for b in build/release/bench/*; do echo "# $$b"; "$$b"; done

install: deps
	@$(call CONFIGURE,release,-DHONE_BUILD_TESTS=OFF -DHONE_BUILD_BENCH=OFF)
	@cmake --build --preset release
	cmake --install build/release --prefix $(PREFIX)

clean:
	rm -rf build
