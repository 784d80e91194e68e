# Build: make (library, build/siglip, build/tests) | make test | make run | make CUDA=0 | make test SANITIZE=1
#        make examples (build/examples/*) | make print-flags (the flags of a program of your own)
#        make fuzz (build-fuzz/fuzz_*: libFuzzer targets of the file readers, clang, ASan + UBSan; docs/fuzzing.md)
# ARCH=native by default (AVX2/AVX-512 where the CPU has them); ARCH=x86-64-v2 gives a portable build.
ARCH ?= native
CXX ?= g++
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
CUDA ?= $(if $(NVCC),1,0)
# MPI=1 (the default where mpicxx exists) links Open MPI: `mpirun -np N build/siglip train ...` trains data-parallel.
# The program initialises MPI only when mpirun started it; alone it runs as world size 1 (docs: README).
MPICXX ?= $(shell command -v mpicxx 2>/dev/null)
MPI ?= $(if $(MPICXX),1,0)
SANITIZE ?= 0

ifeq ($(SANITIZE),1)
  BUILD := build-san
  # -g1: line tables, enough for the sanitizers' stack traces, and a third less compile time than -g
  OPT := -O1 -g1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
  TEST_OPT := -O0
  CUDA := 0
else
  BUILD ?= build
  OPT := -O3 -march=$(ARCH) -g1
  TEST_OPT := -O1
endif
# The test cases' own code (tests/*.cpp: doctest's checks, small reference loops) is compiled at TEST_OPT: what the
# tests measure runs in the library, compiled with OPT. Most of the build's time goes to optimising the long
# test-case functions (at -O1 under the sanitizers, 80% of a test file's compile time); TEST_OPT halves it.

# -fno-trapping-math: no code here reads floating-point exception flags, and the flag allows no reassociation (a
# loop it lets vectorise sums its `omp simd reduction` in vector lanes, as AVX-512 builds already did). Without it
# GCC keeps a loop scalar when it would have to execute a float compare or multiply that the source reaches only
# through a branch: on AVX2 (no AVX-512 masks) that left the GELU, softmax and exp loops of cpu/ unvectorised
# (docs/design-notes.md).
CXXFLAGS += -std=c++20 $(OPT) -fno-trapping-math -fopenmp -Wall -Wextra -Wshadow -Wno-unknown-pragmas \
  -Wno-stringop-overflow -I. -MMD -MP
LDLIBS := -ldnnl -lopenblas -lfmt -lstb -lturbojpeg -larchive -lz -lsentencepiece -lpthread
SAN_LD := -fsanitize=address,undefined
LDFLAGS += -fopenmp $(if $(filter 1,$(SANITIZE)),$(SAN_LD))

LIB_SRC := $(wildcard tensor/*.cpp tensor/ops/*.cpp autograd/*.cpp cpu/*.cpp nn/*.cpp dist/*.cpp siglip/*.cpp)
# NCCL=1 (the default with CUDA=1 and MPI=1; NCCL ships in the CUDA toolkit here): dist/nccl_communicator.cpp.
NCCL ?= $(if $(and $(filter 1,$(CUDA)),$(filter 1,$(MPI))),1,0)
LIB_SRC := $(filter-out siglip/main.cpp $(if $(filter 1,$(MPI)),,dist/mpi_communicator.cpp) \
  $(if $(filter 1,$(NCCL)),,dist/nccl_communicator.cpp),$(LIB_SRC))
TEST_SRC := $(wildcard tests/*.cpp)
CU_SRC := $(if $(filter 1,$(CUDA)),$(wildcard cuda/*.cu),)

ifeq ($(CUDA),1)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
  CXXFLAGS += -DSG_CUDA -isystem $(CUDA_HOME)/include
  NVCCFLAGS := -std=c++20 -O3 -gencode=arch=compute_90,code=sm_90 -I. -DSG_CUDA --expt-relaxed-constexpr \
    -Xcompiler -fopenmp,-Wall -MMD -MP
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart
endif

# Only dist/ sees MPI's headers (its own stamp: switching MPI=0/1 rebuilds dist/ alone).
ifeq ($(MPI),1)
  MPI_CXXFLAGS := -DSG_MPI -DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX $(patsubst -I%,-isystem %,$(shell $(MPICXX) --showme:compile))
  LDLIBS += $(filter-out -lmpi_cxx,$(shell $(MPICXX) --showme:link))
endif
ifeq ($(NCCL),1)
  MPI_CXXFLAGS += -DSG_NCCL
  LDLIBS += -lnccl
endif

# Objects depend on the flags they were built with: switching CUDA=0/1, SANITIZE or ARCH rebuilds them. Programs
# also depend on the libraries they link: a new library relinks them without recompiling anything.
FLAGS_STAMP := $(BUILD)/flags.stamp
FLAGS_NOW := $(CXX) $(CXXFLAGS) | $(NVCC) $(NVCCFLAGS)
$(shell mkdir -p $(BUILD); echo '$(FLAGS_NOW)' | cmp -s - $(FLAGS_STAMP) || echo '$(FLAGS_NOW)' > $(FLAGS_STAMP))
TEST_STAMP := $(BUILD)/test-flags.stamp
$(shell echo '$(TEST_OPT)' | cmp -s - $(TEST_STAMP) || echo '$(TEST_OPT)' > $(TEST_STAMP))
MPI_STAMP := $(BUILD)/mpi.stamp
$(shell echo '$(MPI_CXXFLAGS)' | cmp -s - $(MPI_STAMP) || echo '$(MPI_CXXFLAGS)' > $(MPI_STAMP))
LINK_STAMP := $(BUILD)/link.stamp
LINK_NOW := $(LDFLAGS) | $(LDLIBS)
$(shell echo '$(LINK_NOW)' | cmp -s - $(LINK_STAMP) || echo '$(LINK_NOW)' > $(LINK_STAMP))

LIB_OBJ := $(LIB_SRC:%.cpp=$(BUILD)/obj/%.o) $(CU_SRC:%.cu=$(BUILD)/obj/%.cu.o)
TEST_OBJ := $(TEST_SRC:%.cpp=$(BUILD)/obj/%.o)

all: $(BUILD)/siglip $(BUILD)/tests

# The program the MPI tests start under mpirun (tests/mpi/*.cpp): the distributed losses against one process.
$(BUILD)/dist_check: $(BUILD)/obj/tests/mpi/dist_check.o $(BUILD)/libsiglip.a $(LINK_STAMP)
	$(CXX) $(LDFLAGS) -o $@ $(filter-out $(LINK_STAMP),$^) $(LDLIBS)

$(BUILD)/libsiglip.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/siglip: $(BUILD)/obj/siglip/main.o $(BUILD)/libsiglip.a $(LINK_STAMP)
	$(CXX) $(LDFLAGS) -o $@ $(filter-out $(LINK_STAMP),$^) $(LDLIBS)

# The tests also train small SentencePiece models.
$(BUILD)/tests: $(TEST_OBJ) $(BUILD)/libsiglip.a $(LINK_STAMP) | $(BUILD)/dist_check
	$(CXX) $(LDFLAGS) -o $@ $(filter-out $(LINK_STAMP),$^) $(LDLIBS) -lsentencepiece_train

$(BUILD)/obj/%.o: %.cpp $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(BUILD)/obj/tests/%.o: tests/%.cpp $(FLAGS_STAMP) $(TEST_STAMP)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(TEST_OPT) -c $< -o $@

$(BUILD)/obj/dist/%.o: dist/%.cpp $(FLAGS_STAMP) $(MPI_STAMP)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(MPI_CXXFLAGS) -c $< -o $@

$(BUILD)/obj/%.cu.o: %.cu $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

# Programs of your own: examples/*.cpp (each includes sg.h) are built against the library like this.
EXAMPLES := $(patsubst examples/%.cpp,$(BUILD)/examples/%,$(wildcard examples/*.cpp))
examples: deps
	@$(MAKE) --no-print-directory $(EXAMPLES)
$(BUILD)/examples/%: examples/%.cpp $(BUILD)/libsiglip.a $(FLAGS_STAMP) $(LINK_STAMP)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsiglip.a $(LDLIBS)

# The compile and link flags of a program that uses the engine: g++ prog.cpp $(make -s print-flags) -o prog
print-flags:
	@echo "$(filter-out -MMD -MP,$(CXXFLAGS)) -I$(CURDIR) $(LDFLAGS) $(CURDIR)/$(BUILD)/libsiglip.a $(LDLIBS)"

deps:
	@scripts/install-deps.sh

# Tests of one op or family: make test ARGS='-tc=*layer_norm*'  (doctest filters; see README)
test: deps check-layers
	@$(MAKE) --no-print-directory $(BUILD)/tests $(BUILD)/siglip examples
	$(BUILD)/tests $(ARGS)

# The includes between folders point one way (scripts/check-layers.sh says which way).
check-layers:
	@scripts/check-layers.sh

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/siglip
	scripts/run-default.sh $(BUILD)/siglip

# Fuzz targets (fuzz/*.cpp): clang, libFuzzer, AddressSanitizer + UndefinedBehaviorSanitizer, with the readers and
# the tensor core they need compiled by clang into build-fuzz/ with the same warnings (their own objects: the g++
# builds are untouched). -O1 turns the vectorizer off, so the "omp simd loop not vectorized" notes (-Wpass-failed)
# are silenced. `make clang-check`: every library source through clang's front end with these warnings.
FUZZ_BUILD := build-fuzz
FUZZ_CXX ?= clang++
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CXXFLAGS := -std=c++20 -O1 -gline-tables-only -fno-omit-frame-pointer $(FUZZ_SAN) -fopenmp -Wall -Wextra -Wshadow \
  -Wno-unknown-pragmas -Wno-pass-failed -I. -MMD -MP
FUZZ_SRC := $(wildcard fuzz/*.cpp)
FUZZ_TARGETS := $(FUZZ_SRC:fuzz/%.cpp=$(FUZZ_BUILD)/%)
# The readers (model files, tokenizers, shards, images, caption files), and the tensor core with the CPU backend that
# load_safetensors needs (no model, no ops beyond .to()).
FUZZ_LIB_SRC := nn/safetensors.cpp nn/fileio.cpp siglip/hf_safetensors.cpp siglip/hf_config.cpp siglip/config.cpp \
  siglip/webdataset.cpp siglip/shard_index.cpp siglip/image_decode.cpp siglip/image_processor.cpp siglip/image_resample.cpp siglip/caption_file.cpp \
  siglip/augment.cpp siglip/tokenizer.cpp siglip/sentencepiece_tokenizer.cpp siglip/added_tokens.cpp \
  siglip/sentencepiece_proto.cpp siglip/unicode_text.cpp \
  $(filter-out tensor/op_registry.cpp,$(wildcard tensor/*.cpp)) tensor/ops/convert.cpp autograd/engine.cpp \
  $(wildcard cpu/*.cpp)
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.cpp=$(FUZZ_BUILD)/obj/%.o)
FUZZ_STAMP := $(FUZZ_BUILD)/flags.stamp
ifneq ($(filter fuzz $(FUZZ_BUILD)/%,$(MAKECMDGOALS)),)
  FUZZ_FLAGS_NOW := $(FUZZ_CXX) $(FUZZ_CXXFLAGS) | $(LDLIBS)
  $(shell mkdir -p $(FUZZ_BUILD); echo '$(FUZZ_FLAGS_NOW)' | cmp -s - $(FUZZ_STAMP) || echo '$(FUZZ_FLAGS_NOW)' > $(FUZZ_STAMP))
endif

fuzz: $(FUZZ_TARGETS)

$(FUZZ_BUILD)/libsiglip.a: $(FUZZ_LIB_OBJ) Makefile
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(FUZZ_LIB_OBJ)

$(FUZZ_BUILD)/obj/%.o: %.cpp $(FUZZ_STAMP)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/fuzz/fuzz_%.o $(FUZZ_BUILD)/libsiglip.a
	$(FUZZ_CXX) -fsanitize=fuzzer $(FUZZ_SAN) -fopenmp -o $@ $^ $(LDLIBS)

clang-check:
	@for f in $(LIB_SRC) siglip/main.cpp; do \
	  $(FUZZ_CXX) -std=c++20 -fsyntax-only -fopenmp -Wall -Wextra -Wshadow -Wno-unknown-pragmas -I. $(MPI_CXXFLAGS) $$f || exit 1; \
	done; echo "clang-check: $(words $(LIB_SRC) siglip/main.cpp) files, no errors"

clean:
	rm -rf build build-san

.PHONY: all deps test check-layers run clean examples print-flags fuzz clang-check
-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/obj/siglip/main.d $(BUILD)/obj/tests/mpi/dist_check.d
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_SRC:fuzz/%.cpp=$(FUZZ_BUILD)/obj/fuzz/%.d)
