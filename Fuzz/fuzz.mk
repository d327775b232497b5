# Fuzzers and sanitizer builds; included by the Makefile. Every sanitizer build has its own SwiftPM
# scratch path, so none of them invalidates the normal build in .build:
#   .build-asan  AddressSanitizer (Swift and C) + UBSan (C targets) + libFuzzer coverage instrumentation;
#                debug for `make test`, release for `make fuzz`
#   .build-tsan  ThreadSanitizer, with the tests
#
#   make fuzz              each fuzzer FUZZ_SECONDS (default 60) on the release ASan build; corpora kept
#                          in build/fuzz/work/corpus, findings in build/fuzz/work/findings
#   make fuzz-smoke        mutator self-test, each fuzzer FUZZ_SMOKE_SECONDS, the regressions (debug build)
#   make fuzz-regress      replays Tests/Fuzz/regressions through the harnesses
#   make test-asan         Tests/C/abi_test.c against the ASan+UBSan library
#   make test-tsan         the concurrency tests (Swift and C) under ThreadSanitizer
#   make test-sanitizers   test-asan + fuzz-smoke + test-tsan (part of `make test`)

TOOLCHAIN_BIN := $(dir $(realpath $(shell command -v $(SWIFT) 2>/dev/null)))
CLANG   ?= $(TOOLCHAIN_BIN)clang
SWIFTC  ?= $(TOOLCHAIN_BIN)swiftc
# The toolchain's TSan runtime intercepts libdispatch, so a C program linked with it needs libdispatch.
SWIFT_RUNTIME := $(realpath $(TOOLCHAIN_BIN)../lib/swift/linux)

FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 8
FUZZ_CONFIG        ?= release
FUZZ_TARGETS       := model state checkpoint image
FUZZ_SEEDS         := $(BUILD)/fuzz/seeds

COVERAGE  := -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp
ASAN_SPM  := $(SWIFT) build --scratch-path .build-asan --sanitize address -Xcc -fsanitize=undefined \
             -Xcc -fno-sanitize-recover=undefined -Xswiftc $(COVERAGE) \
             -Xcc -fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp
TSAN_SPM  := $(SWIFT) build --scratch-path .build-tsan --sanitize thread
SAN_CC    := $(CLANG) -fuse-ld=lld -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror \
             -fsanitize=address,undefined -fno-sanitize-recover=undefined
LIB_FLAGS  = -L$(@D)/lib -lswiftlet -Wl,-rpath,'$$ORIGIN/lib'
TSAN_FILTER := Busy|busy|Concurrent|concurrent|ExecutionContextTests

.PRECIOUS: $(BUILD)/fuzz/%/lib/libswiftlet.so.0
.PHONY: fuzz fuzz-smoke fuzz-regress fuzz-seeds test-asan test-tsan test-sanitizers FORCE

# ---- the instrumented library and the harnesses, per configuration: build/fuzz/{debug,release}/ ----
# The library is rebuilt incrementally every time and copied only when it changed (cp -p keeps its
# time), so the harnesses relink only then.
$(BUILD)/fuzz/%/lib/libswiftlet.so.0: FORCE
	$(ASAN_SPM) -c $* --product SwiftletShared
	@mkdir -p $(@D)
	@src=$$($(ASAN_SPM) -c $* --show-bin-path)/libSwiftletShared.so; \
	  cmp -s $$src $@ || cp -p $$src $@
	@ln -sf libswiftlet.so.0 $(@D)/libswiftlet.so

FUZZ_C_DEPS := Fuzz/swl_fuzz.h Fuzz/swl_hash.c Fuzz/fuzz_common.h Include/swiftlet.h Fuzz/fuzz.mk
$(BUILD)/fuzz/%/fuzz_model: Fuzz/fuzz_model.c Fuzz/swl_mutator.c $(FUZZ_C_DEPS) $(BUILD)/fuzz/%/lib/libswiftlet.so.0
	$(SAN_CC) -fsanitize=fuzzer -IInclude -IFuzz Fuzz/fuzz_model.c Fuzz/swl_mutator.c Fuzz/swl_hash.c \
	    $(LIB_FLAGS) -lzstd -lm -o $@
$(BUILD)/fuzz/%/fuzz_state: Fuzz/fuzz_state.c $(FUZZ_C_DEPS) $(BUILD)/fuzz/%/lib/libswiftlet.so.0
	$(SAN_CC) -fsanitize=fuzzer -IInclude -IFuzz Fuzz/fuzz_state.c Fuzz/swl_hash.c $(LIB_FLAGS) -lm -o $@
$(BUILD)/fuzz/%/fuzz_state_seeds: Fuzz/fuzz_state_seeds.c Include/swiftlet.h $(BUILD)/fuzz/%/lib/libswiftlet.so.0
	$(SAN_CC) -IInclude Fuzz/fuzz_state_seeds.c $(LIB_FLAGS) -o $@
$(BUILD)/fuzz/%/swl_edit: Fuzz/swl_edit.c Fuzz/swl_mutator.c $(FUZZ_C_DEPS)
	@mkdir -p $(@D)
	$(CLANG) -fuse-ld=lld -g -O1 -Wall -Wextra -Werror -IFuzz Fuzz/swl_edit.c Fuzz/swl_mutator.c Fuzz/swl_hash.c -lzstd -lm -o $@
$(BUILD)/fuzz/%/swl_selftest: Fuzz/swl_selftest.c Fuzz/swl_mutator.c $(FUZZ_C_DEPS)
	@mkdir -p $(@D)
	$(SAN_CC) -IFuzz Fuzz/swl_selftest.c Fuzz/swl_mutator.c Fuzz/swl_hash.c -lzstd -lm -o $@
# The tool's image decoder, with the system libpng and libjpeg (not instrumented; their calls into our
# buffers are checked by ASan's interceptors and our own code around them).
$(BUILD)/fuzz/%/fuzz_image: Fuzz/fuzz_image.c Sources/CSwiftletImageIO/image_decode.c \
    Sources/CSwiftletImageIO/include/swiftlet_image_io.h Fuzz/fuzz.mk
	@mkdir -p $(@D)
	$(SAN_CC) -fsanitize=fuzzer -DSWI_MAX_PIXELS=4000000 -ISources/CSwiftletImageIO/include Fuzz/fuzz_image.c \
	    Sources/CSwiftletImageIO/image_decode.c $$(pkg-config --cflags --libs libpng libjpeg) -o $@
# The checkpoint readers are plain Swift with Foundation: compiled with the harness into one module.
$(BUILD)/fuzz/%/fuzz_checkpoint: Fuzz/fuzz_checkpoint.swift $(wildcard Sources/SwiftletConvert/Checkpoint/*.swift)
	@mkdir -p $(@D)
	$(SWIFTC) -parse-as-library -sanitize=fuzzer,address $(if $(filter release,$*),-O,-Onone) -g \
	    -use-ld=lld -module-name CheckpointFuzz $^ -o $@

fuzz_bins = $(addprefix $(BUILD)/fuzz/$(1)/,fuzz_model fuzz_state fuzz_state_seeds fuzz_checkpoint fuzz_image swl_edit swl_selftest)

# ---- seeds: generated into build/ from the fixtures (see Fuzz/make-seeds.sh) -------------------------
$(FUZZ_SEEDS)/.stamp: Fuzz/make-seeds.sh $(wildcard Fuzz/seeds/checkpoint/*) $(wildcard Tests/Fixtures/image-preprocess/decode/*)
	$(SPM) --product swiftlet
	Fuzz/make-seeds.sh $(DEBUG_BIN)/swiftlet $(FUZZ_SEEDS)
	@touch $@

# The stream-state seeds come from the library itself (a state format change must reseed).
fuzz-seeds-%: $(FUZZ_SEEDS)/.stamp $(BUILD)/fuzz/%/fuzz_state_seeds
	@rm -rf $(FUZZ_SEEDS)/state && mkdir -p $(FUZZ_SEEDS)/state
	$(BUILD)/fuzz/$*/fuzz_state_seeds $(FUZZ_SEEDS)/model $(FUZZ_SEEDS)/state

fuzz-seeds: fuzz-seeds-debug

# ---- runs --------------------------------------------------------------------------------------------
fuzz: $(call fuzz_bins,$(FUZZ_CONFIG)) fuzz-seeds-$(FUZZ_CONFIG)
	$(BUILD)/fuzz/$(FUZZ_CONFIG)/swl_selftest $(FUZZ_SEEDS)/model/test.swl $(FUZZ_SEEDS)/model/lmu-test.f16z.swl
	Fuzz/regress.sh $(BUILD)/fuzz/$(FUZZ_CONFIG) Tests/Fuzz/regressions $(FUZZ_SEEDS) $(BUILD)/fuzz/work
	@status=0; for t in $(FUZZ_TARGETS); do \
	  Fuzz/run.sh $(BUILD)/fuzz/$(FUZZ_CONFIG) $$t $(FUZZ_SECONDS) $(FUZZ_SEEDS) $(BUILD)/fuzz/work || status=1; \
	done; \
	if [ $$status -ne 0 ]; then echo "make fuzz: findings above; turn each into a regression under Tests/Fuzz (see README)"; fi; \
	exit $$status

# In `make test`: a fresh corpus each time, a few seconds per target on the debug ASan build.
fuzz-smoke: $(call fuzz_bins,debug) fuzz-seeds-debug
	$(BUILD)/fuzz/debug/swl_selftest $(FUZZ_SEEDS)/model/test.swl $(FUZZ_SEEDS)/model/lmu-test.f16z.swl
	Fuzz/regress.sh $(BUILD)/fuzz/debug Tests/Fuzz/regressions $(FUZZ_SEEDS) $(BUILD)/fuzz/smoke
	@rm -rf $(BUILD)/fuzz/smoke/corpus $(BUILD)/fuzz/smoke/findings
	@status=0; for t in $(FUZZ_TARGETS); do \
	  Fuzz/run.sh $(BUILD)/fuzz/debug $$t $(FUZZ_SMOKE_SECONDS) $(FUZZ_SEEDS) $(BUILD)/fuzz/smoke || status=1; \
	done; exit $$status

fuzz-regress: $(call fuzz_bins,debug) $(FUZZ_SEEDS)/.stamp
	Fuzz/regress.sh $(BUILD)/fuzz/debug Tests/Fuzz/regressions $(FUZZ_SEEDS) $(BUILD)/fuzz/smoke

# ---- sanitizers ----------------------------------------------------------------------------------------
# The C ABI test against the ASan+UBSan library (the same debug build the fuzz smoke uses).
test-asan: $(BUILD)/fuzz/debug/lib/libswiftlet.so.0 $(FUZZ_SEEDS)/.stamp
	$(SAN_CC) -std=c99 -IInclude Tests/C/abi_test.c -L$(BUILD)/fuzz/debug/lib -lswiftlet \
	    -Wl,-rpath,'$$ORIGIN/lib' -lpthread -lm -o $(BUILD)/fuzz/debug/abi_test
	$(BUILD)/fuzz/debug/abi_test $(FUZZ_SEEDS)/model/test.swl

# The concurrency tests under ThreadSanitizer: the Swift tests whose names say Busy, Concurrent or
# ExecutionContextTests, and the C ABI test (its busy tests hold a session/stream in one thread while
# another calls in). OpenBLAS is kept to one thread: its own (uninstrumented) threads are not ours.
test-tsan: $(FUZZ_SEEDS)/.stamp
	$(TSAN_SPM) --build-tests
	OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 \
	    $(SWIFT) test --scratch-path .build-tsan --sanitize thread --skip-build --filter '$(TSAN_FILTER)'
	@mkdir -p $(BUILD)/tsan/lib
	cp -p $$($(TSAN_SPM) --show-bin-path)/libSwiftletShared.so $(BUILD)/tsan/lib/libswiftlet.so.0
	$(CLANG) -fuse-ld=lld -std=c99 -g -O1 -fsanitize=thread -IInclude Tests/C/abi_test.c -L$(BUILD)/tsan/lib \
	    -l:libswiftlet.so.0 -Wl,-rpath,'$$ORIGIN/lib' -lpthread -lm \
	    -L$(SWIFT_RUNTIME) -ldispatch -lBlocksRuntime -Wl,-rpath,$(SWIFT_RUNTIME) -o $(BUILD)/tsan/abi_test
	OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 $(BUILD)/tsan/abi_test $(FUZZ_SEEDS)/model/test.swl

test-sanitizers: test-asan fuzz-smoke test-tsan

FORCE:
