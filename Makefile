# Swiftlet — build, test, demo, install.
#   make          release build: build/lib/libswiftlet.so, build/bin/swiftlet, build/include/swiftlet.h
#   make test     the whole suite: formatting (scripts/check-format.sh), Swift tests, C ABI tests (gcc -std=c99 -pedantic), Python bindings,
#                 sanitizer builds (ASan+UBSan, TSan), a short run of every fuzzer, and the C kernels here and on
#                 AArch64 under qemu (make test-arm64)
#   make fuzz     each fuzzer for FUZZ_SECONDS (default 60) — see Fuzz/fuzz.mk
#   make demo     the trained models (make models) on speech, text and images, then every family
#                 on the reference checkpoints under a few budgets
#   make models   converts the trained models shipped under Models/ into build/models/
#   make install PREFIX=/usr/local

SWIFT     ?= swift
PREFIX    ?= /usr/local
VERSION   := 0.1.0
SONAME    := libswiftlet.so.0
BUILD     := build
CFLAGS_C  := -std=c99 -Wall -Wextra -Werror -pedantic -O1
# Every run of SwiftPM uses this scratch path; the release and debug builds live side by side in it.
SPM       := $(SWIFT) build
DEBUG_BIN  = $(shell $(SPM) --show-bin-path 2>/dev/null)
# The tool carries the Swift runtime and Foundation inside, as the library carries the runtime, so an
# installed `swiftlet` runs on a machine without the toolchain. A debug link needs Foundation's own
# static libraries named; a release link finds them either way.
STATIC_TOOL := --static-swift-stdlib $(addprefix -Xlinker -l,CoreFoundation _FoundationICU _FoundationCShims _FoundationCollections)
RELEASE_BIN = $(shell $(SPM) -c release --show-bin-path 2>/dev/null)

.PHONY: all build deps test test-format test-swift test-c test-python test-arm64 stage demo models install clean

all: build

deps:
	@scripts/deps.sh

# ---- release build ---------------------------------------------------------------------------
build: deps
	$(SPM) -c release --product SwiftletShared
	$(SPM) -c release --product swiftlet $(STATIC_TOOL)
	@mkdir -p $(BUILD)/lib $(BUILD)/bin $(BUILD)/include
	cp $(RELEASE_BIN)/libSwiftletShared.so $(BUILD)/lib/libswiftlet.so.$(VERSION)
	ln -sf libswiftlet.so.$(VERSION) $(BUILD)/lib/$(SONAME)
	ln -sf $(SONAME) $(BUILD)/lib/libswiftlet.so
	cp $(RELEASE_BIN)/swiftlet $(BUILD)/bin/swiftlet
	cp Include/swiftlet.h $(BUILD)/include/swiftlet.h
	@echo "built $(BUILD)/lib/libswiftlet.so ($$(du -h $(BUILD)/lib/libswiftlet.so.$(VERSION) | cut -f1)) and $(BUILD)/bin/swiftlet"

# ---- tests -------------------------------------------------------------------------------------
test: deps test-format test-swift test-c test-python test-sanitizers test-arm64
	@echo "make test: all suites passed"

# Swift and C files as the committed .swift-format and .clang-format make them (fix: scripts/check-format.sh --fix).
test-format:
	scripts/check-format.sh

test-swift:
	$(SPM) --build-tests
	$(SWIFT) test --skip-build

# The C ABI test links the shared library of the debug build (same code, faster to build), checks the
# header as C99 and C++, the exported symbols and the library's dependencies.
TESTLIB := $(BUILD)/test/lib
test-c: test-swift
	@mkdir -p $(TESTLIB) $(BUILD)/test/bin
	cp $(DEBUG_BIN)/libSwiftletShared.so $(TESTLIB)/libswiftlet.so.$(VERSION)
	ln -sf libswiftlet.so.$(VERSION) $(TESTLIB)/$(SONAME)
	ln -sf $(SONAME) $(TESTLIB)/libswiftlet.so
	gcc $(CFLAGS_C) -fsyntax-only -x c Include/swiftlet.h
	g++ -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c++ Include/swiftlet.h
	gcc $(CFLAGS_C) -IInclude Tests/C/abi_test.c -o $(BUILD)/test/bin/abi_test \
	    -L$(TESTLIB) -lswiftlet -Wl,-rpath,'$$ORIGIN/../lib' -lpthread -lm
	$(DEBUG_BIN)/swiftlet create-test-model $(BUILD)/test/test-model.swl
	$(BUILD)/test/bin/abi_test $(BUILD)/test/test-model.swl
	scripts/check-library.sh $(TESTLIB)/libswiftlet.so.$(VERSION)
	# The install tree as `make install` lays it out, with the tool linked as `make` links it (static
	# Swift runtime): stripped library, pkg-config, CMake package, a tool that needs no toolchain.
	$(SPM) --product swiftlet $(STATIC_TOOL) >$(BUILD)/test/static-tool.log 2>&1 || { cat $(BUILD)/test/static-tool.log; exit 1; }
	$(MAKE) --no-print-directory stage PREFIX=$(CURDIR)/$(BUILD)/test/prefix LIBSRC=$(TESTLIB)/libswiftlet.so.$(VERSION) \
	    TOOLSRC=$(DEBUG_BIN)/swiftlet
	scripts/check-install.sh $(CURDIR)/$(BUILD)/test/prefix $(BUILD)/test/test-model.swl
	scripts/check-readme.sh $(CURDIR)/$(BUILD)/test/prefix $(BUILD)/test/test-model.swl $(DEBUG_BIN)/swiftlet-readme-example
	scripts/check-cli.sh $(DEBUG_BIN)/swiftlet $(BUILD)/test/test-model.swl
	scripts/check-help.sh $(DEBUG_BIN)/swiftlet
	scripts/check-images.sh $(DEBUG_BIN)/swiftlet $(BUILD)/test/images
	gcc $(CFLAGS_C) -IInclude Tests/C/fixture_test.c -o $(BUILD)/test/bin/fixture_test \
	    -L$(TESTLIB) -lswiftlet -Wl,-rpath,'$$ORIGIN/../lib' -lm
	scripts/check-fixtures-c.sh $(DEBUG_BIN)/swiftlet $(BUILD)/test/bin/fixture_test $(BUILD)/test/fixtures
	PKG_CONFIG_PATH=$(CURDIR)/$(BUILD)/test/prefix/lib/pkgconfig sh -c 'gcc $(CFLAGS_C) Bindings/c/stream_wav.c \
	    $$(pkg-config --cflags --libs swiftlet) -Wl,-rpath,$(CURDIR)/$(BUILD)/test/prefix/lib -o $(BUILD)/test/bin/stream_wav'
	$(DEBUG_BIN)/swiftlet convert --quiet --force --family lmuformer --config Tests/Fixtures/audio-demo/config.json \
	    --checkpoint Tests/Fixtures/audio-demo/checkpoint.safetensors --output $(BUILD)/test/audio-demo.swl
	$(BUILD)/test/bin/stream_wav $(BUILD)/test/audio-demo.swl Tests/Fixtures/fbank-test/clip1.wav Tests/Fixtures/audio-demo/labels.txt
	# Text: a language model converted with a tokenizer, checked from C against the tokenizers package's
	# goldens, and through the CLI (a round trip gives the input back byte for byte; generate --prompt).
	$(DEBUG_BIN)/swiftlet convert --quiet --force --family loopformer --config Tests/Fixtures/loopformer-test/config.json \
	    --checkpoint Tests/Fixtures/loopformer-test/checkpoint.safetensors --tokenizer Tests/Fixtures/tokenizer/tiny.json \
	    --output $(BUILD)/test/text-lm.swl 2>/dev/null
	python3 scripts/tokenizer-goldens-tsv.py $(BUILD)/test/tokenizer-goldens.tsv
	gcc $(CFLAGS_C) -IInclude Tests/C/text_test.c -o $(BUILD)/test/bin/text_test \
	    -L$(TESTLIB) -lswiftlet -Wl,-rpath,'$$ORIGIN/../lib'
	$(BUILD)/test/bin/text_test $(BUILD)/test/text-lm.swl $(BUILD)/test/test-model.swl $(BUILD)/test/tokenizer-goldens.tsv
	scripts/check-text-cli.sh $(DEBUG_BIN)/swiftlet $(BUILD)/test/text-lm.swl
	# swiftlet quantize on the fixtures: official logits within tolerance, metadata kept, refusals.
	scripts/check-quantize.sh $(DEBUG_BIN)/swiftlet $(BUILD)/test/quantize
	# Spoken words in, words out: the keyword fixture through `swiftlet stream --detect` and the C example.
	scripts/check-detect.sh $(DEBUG_BIN)/swiftlet $(BUILD)/test/bin/stream_wav $(BUILD)/test/detect
	# The trained text models shipped in Models/text convert with their tokenizer, which round-trips.
	$(DEBUG_BIN)/swiftlet convert --quiet --force --family loopformer --config Models/text/loopformer-config.json \
	    --checkpoint Models/text/loopformer-ckpt.pt --tokenizer Models/text/tokenizer.json --output $(BUILD)/test/text-loopformer.swl
	scripts/check-text-cli.sh $(DEBUG_BIN)/swiftlet $(BUILD)/test/text-loopformer.swl
	$(DEBUG_BIN)/swiftlet convert --quiet --force --family memoryformer --config Models/text/memoryformer-config.json \
	    --checkpoint Models/text/memoryformer.safetensors --tokenizer Models/text/tokenizer.json --output $(BUILD)/test/text-memoryformer.swl
	scripts/check-text-cli.sh $(DEBUG_BIN)/swiftlet $(BUILD)/test/text-memoryformer.swl
	# The trained image model shipped in Models/image names each sample letter (the file's name).
	$(DEBUG_BIN)/swiftlet convert --quiet --force --family vit --config Models/image/letters/config.json \
	    --checkpoint Models/image/letters/checkpoint.safetensors --preprocess Models/image/letters/pretrained_cfg.json \
	    --labels Models/image/letters/labels.txt --output $(BUILD)/test/image.swl
	for f in Models/image/samples/*.png; do \
	    $(DEBUG_BIN)/swiftlet run $(BUILD)/test/image.swl --image $$f --top 1 2>/dev/null | awk '{ print $$3 }' | \
	        grep -qx "$$(basename $$f .png)" || { echo "$$f: not labelled $$(basename $$f .png)"; exit 1; }; \
	done
	# A quality profile through the CLI: measured, stored, read back by a minimum-quality budget.
	$(DEBUG_BIN)/swiftlet convert --quiet --force --family vit --config Tests/Fixtures/vit-tiny-test/config.json \
	    --checkpoint Tests/Fixtures/vit-tiny-test/checkpoint.safetensors --output $(BUILD)/test/vit.swl
	$(DEBUG_BIN)/swiftlet profile $(BUILD)/test/vit.swl --data Tests/Fixtures/vit-tiny-test/input.npy \
	    --settings "r=0;r=8;r=8,-1" --output $(BUILD)/test/vit-profiled.swl
	$(DEBUG_BIN)/swiftlet bench $(BUILD)/test/vit-profiled.swl --input Tests/Fixtures/vit-tiny-test/input.npy \
	    --runs 2 --warmup 0 --budget quality=1 | grep -q quality
	# Pictures as profile data (uint8 [N, H, W, 3], preprocessed as --image): the decoded test PNG
	# scores 1 against timm's top class for it.
	$(DEBUG_BIN)/swiftlet convert --quiet --force --family vit --config Tests/Fixtures/vit-tiny-test/config.json \
	    --checkpoint Tests/Fixtures/vit-tiny-test/checkpoint.safetensors --output $(BUILD)/test/vit-image.swl \
	    --preprocess Tests/Fixtures/image-preprocess/pretrained_cfg.json --labels Tests/Fixtures/image-preprocess/labels.txt
	$(DEBUG_BIN)/swiftlet profile $(BUILD)/test/vit-image.swl --settings "r=0" \
	    --data Tests/Fixtures/image-preprocess/e2e_photo.png_pixels_batch.npy \
	    --labels Tests/Fixtures/image-preprocess/e2e_photo.png_top1.npy --output $(BUILD)/test/vit-image.swl 2>&1 | \
	    grep -q "r=0: top-1 1.0000"

# Lays out an install tree from LIBSRC (and TOOLSRC, when given) without building: the stripped
# library with its soname links, the header, swiftlet.pc for pkg-config and a CMake package
# (find_package(swiftlet CONFIG) → swiftlet::swiftlet).
LIBSRC ?= $(BUILD)/lib/libswiftlet.so.$(VERSION)
TOOLSRC ?=
PKGDIR := $(DESTDIR)$(PREFIX)/lib
SUBST := sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' -e 's|@SONAME@|$(SONAME)|g'
stage:
	install -d $(PKGDIR)/pkgconfig $(PKGDIR)/cmake/swiftlet $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(LIBSRC) $(PKGDIR)/libswiftlet.so.$(VERSION)
	strip --strip-unneeded $(PKGDIR)/libswiftlet.so.$(VERSION)
	ln -sf libswiftlet.so.$(VERSION) $(PKGDIR)/$(SONAME)
	ln -sf $(SONAME) $(PKGDIR)/libswiftlet.so
	install -m 0644 Include/swiftlet.h $(DESTDIR)$(PREFIX)/include/
	$(SUBST) Packaging/swiftlet.pc.in > $(PKGDIR)/pkgconfig/swiftlet.pc
	$(SUBST) Packaging/swiftletConfig.cmake.in > $(PKGDIR)/cmake/swiftlet/swiftletConfig.cmake
	$(SUBST) Packaging/swiftletConfigVersion.cmake.in > $(PKGDIR)/cmake/swiftlet/swiftletConfigVersion.cmake
	$(if $(TOOLSRC),install -d $(DESTDIR)$(PREFIX)/bin && install -m 0755 -s $(TOOLSRC) $(DESTDIR)$(PREFIX)/bin/swiftlet)

test-python:
	SWIFTLET_CLI=$(DEBUG_BIN)/swiftlet scripts/test-python.sh

# The C kernels at every instruction-set level against float64 references (Tests/KernelsC): natively
# (portable, AVX2, AVX-512 on an x86-64 machine), then built for AArch64 — by gcc, and by clang as
# SwiftPM builds them — and run under qemu-user twice: `-cpu max` has the dot product (portable, NEON,
# NEON with SDOT), `-cpu cortex-a57` has not (the plain NEON fallback). Everything is built for
# baseline Armv8.0-A; the SDOT functions carry their own target (arch=armv8.2-a+dotprod) and run only
# where the CPU has it. On an AArch64 machine the native run is the ARM test.
KERNEL_SRC    := $(wildcard Sources/CSwiftletKernels/*.c)
KERNEL_TEST   := Tests/KernelsC/kernels_test.c
# gcc ignores `#pragma STDC FP_CONTRACT` (and in ISO C mode contracts nothing anyway).
KERNEL_CFLAGS := -std=c11 -Wall -Wextra -Werror -Wno-unknown-pragmas -O2 -ISources/CSwiftletKernels/include
ARM64_GCC     ?= aarch64-linux-gnu-gcc
ARM64_CLANG   ?= clang
QEMU_ARM64    ?= qemu-aarch64
ARM64_TEST    := $(BUILD)/test/arm64
test-arm64:
ifneq ($(shell uname -m),aarch64)
	@if ! command -v $(ARM64_GCC) >/dev/null || ! command -v $(QEMU_ARM64) >/dev/null || \
	    [ ! -e /usr/aarch64-linux-gnu/lib/libc.a ]; then \
	    echo "make test-arm64 needs the AArch64 cross compiler, its C library and qemu-user. Install them with:" >&2; \
	    echo "  sudo apt-get update && sudo apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" >&2; \
	    exit 1; fi
	@command -v $(ARM64_CLANG) >/dev/null || { echo "make test-arm64: $(ARM64_CLANG) is missing (the Swift toolchain has it)" >&2; exit 1; }
endif
	@mkdir -p $(ARM64_TEST)
	gcc $(KERNEL_CFLAGS) $(KERNEL_TEST) $(KERNEL_SRC) -o $(ARM64_TEST)/kernels_test-native -lm -pthread
	$(ARM64_TEST)/kernels_test-native
ifeq ($(shell uname -m),aarch64)
	@echo "make test-arm64: on this AArch64 machine the native run above is the ARM test (no emulation)"
else
	$(ARM64_GCC) $(KERNEL_CFLAGS) -march=armv8-a -static $(KERNEL_TEST) $(KERNEL_SRC) -o $(ARM64_TEST)/kernels_test-gcc -lm -pthread
	$(ARM64_CLANG) --target=aarch64-linux-gnu $(KERNEL_CFLAGS) -march=armv8-a -static $(KERNEL_TEST) $(KERNEL_SRC) \
	    -o $(ARM64_TEST)/kernels_test-clang -lm -pthread
	for t in gcc clang; do \
	    $(QEMU_ARM64) -cpu max $(ARM64_TEST)/kernels_test-$$t --expect neon-dotprod && \
	    $(QEMU_ARM64) -cpu cortex-a57 $(ARM64_TEST)/kernels_test-$$t --expect neon || exit 1; \
	done
endif

# ---- trained models: make models → build/models/*.swl --------------------------------------------
# The checkpoints trained here (Models/README.md), converted with their labels or tokenizer and, where
# a budget has a quality axis, profiled on the committed held-out set (accuracy against early
# decision for the keyword models, perplexity per loop count for the LoopFormer, accuracy per merge
# rate for the image model).
# MODELS_SWIFTLET=path uses that tool instead of building the release one.
MODELS := $(BUILD)/models
MODELS_SWIFTLET ?= $(BUILD)/bin/swiftlet
MODELS_DEPS := $(if $(filter $(BUILD)/bin/swiftlet,$(MODELS_SWIFTLET)),build)
TEXT := Models/text
KWS_SETTINGS := early_fraction=0.25;early_fraction=0.375;early_fraction=0.5;early_fraction=0.625;early_fraction=0.75;early_fraction=0.875
IMAGE := Models/image
.PHONY: kws-models text-models image-models
models: kws-models text-models image-models
	@ls -l $(MODELS)

kws-models: $(MODELS_DEPS)
	@mkdir -p $(MODELS)
	for m in kws kws-spiking; do \
	    $(MODELS_SWIFTLET) convert --quiet --force --family lmuformer --config Models/kws/$$m/config.json \
	        --checkpoint Models/kws/$$m/checkpoint.safetensors --labels Models/kws/$$m/labels.txt \
	        --name "LMUFormer $$m, spoken commands (espeak-ng)" --output $(MODELS)/$$m.swl && \
	    $(MODELS_SWIFTLET) profile $(MODELS)/$$m.swl --data Models/kws/eval/clips.npy \
	        --labels Models/kws/eval/labels.npy --settings "$(KWS_SETTINGS)" \
	        --describe "30 held-out espeak-ng clips (Models/kws/eval)" --output $(MODELS)/$$m.swl || exit 1; \
	done

text-models: $(MODELS_DEPS)
	@mkdir -p $(MODELS)
	$(MODELS_SWIFTLET) convert --quiet --force --family loopformer --config $(TEXT)/loopformer-config.json \
	    --checkpoint $(TEXT)/loopformer-ckpt.pt --tokenizer $(TEXT)/tokenizer.json \
	    --name "LoopFormer, Python standard library" --output $(MODELS)/text-loopformer.swl
	$(MODELS_SWIFTLET) profile $(MODELS)/text-loopformer.swl --data $(TEXT)/heldout-ids.npy \
	    --describe "64 x 256 tokens of held-out Python standard-library files" --output $(MODELS)/text-loopformer.swl
	$(MODELS_SWIFTLET) convert --quiet --force --family memoryformer --config $(TEXT)/memoryformer-config.json \
	    --checkpoint $(TEXT)/memoryformer.safetensors --tokenizer $(TEXT)/tokenizer.json \
	    --name "MemoryFormer, Python standard library" --output $(MODELS)/text-memoryformer.swl

image-models: $(MODELS_DEPS)
	@mkdir -p $(MODELS)
	$(MODELS_SWIFTLET) convert --quiet --force --family vit --config $(IMAGE)/letters/config.json \
	    --checkpoint $(IMAGE)/letters/checkpoint.safetensors --preprocess $(IMAGE)/letters/pretrained_cfg.json \
	    --labels $(IMAGE)/letters/labels.txt --name "ViT with ToMe, letters in Debian fonts" --output $(MODELS)/image.swl
	$(MODELS_SWIFTLET) profile $(MODELS)/image.swl --data $(IMAGE)/eval/images.npy --labels $(IMAGE)/eval/labels.npy \
	    --describe "780 letters in 26 held-out fonts (Models/image/eval)" --output $(MODELS)/image.swl

# ---- demo --------------------------------------------------------------------------------------
demo: models
	@scripts/demo.sh

# ---- install -----------------------------------------------------------------------------------
# Into a system prefix as root, the loader's cache is refreshed (ldconfig); a prefix the loader does
# not search gets a note on how programs find the library.
install: build
	$(MAKE) --no-print-directory stage TOOLSRC=$(BUILD)/bin/swiftlet
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig; fi
	@echo "installed into $(DESTDIR)$(PREFIX)"
	@if [ -z "$(DESTDIR)" ] && ! /sbin/ldconfig -p | grep -q " => $(PREFIX)/lib/$(SONAME)$$"; then \
	    echo "note: the loader does not search $(PREFIX)/lib. Link programs with"; \
	    echo "  -Wl,-rpath,$(PREFIX)/lib   (e.g. \$$(pkg-config --libs swiftlet) -Wl,-rpath,\$$(pkg-config --variable=libdir swiftlet))"; \
	    echo "or run them with LD_LIBRARY_PATH=$(PREFIX)/lib; CMake's find_package(swiftlet) sets the rpath itself."; \
	fi

clean:
	rm -rf $(BUILD) .build .build-asan .build-tsan

include Fuzz/fuzz.mk
