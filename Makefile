# The commands users type. Everything real happens in CMake (CMakePresets.json).
#   make            release build: build/release/hone, build/release/bench/<name>
#   make run        install missing packages, build, run `hone demo`
#   make test       install missing packages, build, run every test (CTest)
#   make sanitize   the tests under ASan+UBSan and under TSan
#   make bench      build and run every benchmark program
#   make install PREFIX=/usr/local
PREFIX ?= /usr/local
ifeq ($(CI),true)
WERROR ?= ON
else
WERROR ?= OFF
endif
CMAKE_ARGS ?=
CONFIGURE = cmake --preset $(1) -DHONE_WERROR=$(WERROR) $(CMAKE_ARGS) >/dev/null

.PHONY: all build deps run test sanitize asan tsan clang bench install clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@$(call CONFIGURE,release)
	@cmake --build --preset release

run: build
	./build/release/hone demo

test: build
	ctest --preset release

asan: deps
	@$(call CONFIGURE,asan)
	@cmake --build --preset asan
	ctest --preset asan

tsan: deps
	@$(call CONFIGURE,tsan)
	@cmake --build --preset tsan
	ctest --preset tsan

sanitize: asan tsan

# Builds with clang, to keep both compilers warning-free.
clang: deps
	@$(call CONFIGURE,clang)
	@cmake --build --preset clang

bench: build
	@set -e; for b in build/release/bench/*; do echo "# $$b"; "$$b"; done

install: build
	cmake --install build/release --prefix $(PREFIX)

clean:
	rm -rf build
