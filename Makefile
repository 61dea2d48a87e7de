# passthru — build, test, fuzz, bench, install.
#
# The BPF object is compiled by clang, turned into a skeleton by bpftool and
# embedded in the binary (libbpf-bootstrap style).  `make V=1` shows commands.

OUTPUT    ?= build
CC        ?= cc
CLANG     ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL   ?= bpftool
PKG_CONFIG ?= pkg-config
PREFIX    ?= /usr/local
DESTDIR   ?=
VERSION   := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
ARCH      := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/;s/ppc64le/powerpc/;s/mips.*/mips/;s/riscv64/riscv/')

# SAN=1 builds everything (binary, unit tests) with ASan + UBSan.
SAN       ?=
SAN_ON    := -fsanitize=address -fsanitize=undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
             -DPT_CHECKS
# TSAN=1 builds them with ThreadSanitizer instead (the two do not mix).
TSAN      ?=
TSAN_ON   := -fsanitize=thread -fno-omit-frame-pointer -DPT_CHECKS
SAN_FLAGS := $(if $(SAN),$(SAN_ON),$(if $(TSAN),$(TSAN_ON)))

# libcrypto: the QUIC Initial decryption (user/proto/quic.c).
LIBS_CFLAGS := $(shell $(PKG_CONFIG) --cflags libbpf libcjson libcrypto 2>/dev/null)
LIBS_LDLIBS := $(shell $(PKG_CONFIG) --libs libbpf libcjson libcrypto 2>/dev/null || echo -lbpf -lcjson -lcrypto) -lelf -lz -lpthread

# user/ in layers, each calling only those before it (tests/static/layers.py):
#   base -> proto | datapath -> config -> conn -> ops -> main.c
USER_DIRS := base proto datapath config conn ops
USER_INC  := -Iuser

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 \
             -D_GNU_SOURCE -DPASSTHRU_VERSION='"$(VERSION)"' \
             -I$(OUTPUT) -Iinclude $(USER_INC) $(LIBS_CFLAGS) $(SAN_FLAGS)
LDFLAGS   += $(SAN_FLAGS)

# Let clang find asm/types.h and friends the way the system compiler does.
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)| -idirafter \1|p }')
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux -Iinclude $(CLANG_BPF_SYS_INCLUDES)

USER_SRCS := $(sort $(wildcard user/*.c $(addsuffix /*.c,$(addprefix user/,$(USER_DIRS)))))
USER_HDRS := $(wildcard user/*/*.h include/*.h)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/obj/%.o,$(USER_SRCS))
LIB_OBJS  := $(filter-out $(OUTPUT)/obj/main.o,$(USER_OBJS))
SKEL      := $(OUTPUT)/passthru.skel.h

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
TLIB_SRCS := $(sort $(wildcard tests/lib/*.c))
TLIB_OBJS := $(patsubst tests/lib/%.c,$(OUTPUT)/tests/lib/%.o,$(TLIB_SRCS))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS := $(patsubst tests/tools/%.c,$(OUTPUT)/tests/%,$(TOOL_SRCS))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))

ifeq ($(V),1)
	Q =
	msg =
else
	Q = @
	msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all clean test check-build unit fuzz fuzz-build bench deps install uninstall run
.DELETE_ON_ERROR:
.SECONDARY:

all: $(OUTPUT)/passthru

$(OUTPUT) $(OUTPUT)/obj $(OUTPUT)/tests $(OUTPUT)/tests/lib $(OUTPUT)/fuzz $(OUTPUT)/fuzz/obj:
	$(Q)mkdir -p $@

# BPF: .bpf.c -> .tmp.bpf.o -> (static link) .bpf.o -> .skel.h
$(OUTPUT)/%.tmp.bpf.o: bpf/%.bpf.c include/passthru.h include/udpk_map.h include/steer_map.h vmlinux/vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.bpf.o: $(OUTPUT)/%.tmp.bpf.o
	$(Q)$(BPFTOOL) gen object $@ $<

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name passthru_bpf > $@

# The UDP kernel path: its own object (bpf/udpfwd.bpf.c), its own skeleton.
$(OUTPUT)/udpfwd.skel.h: $(OUTPUT)/udpfwd.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name udpfwd_bpf > $@

# Accept steering among the workers (bpf/steer.bpf.c): its own skeleton.
$(OUTPUT)/steer.skel.h: $(OUTPUT)/steer.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name steer_bpf > $@

$(OUTPUT)/obj/%.o: user/%.c $(USER_HDRS) | $(OUTPUT)/obj
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# Only the kernel path includes the skeleton.
$(filter $(OUTPUT)/obj/datapath/%,$(USER_OBJS)): $(SKEL) $(OUTPUT)/udpfwd.skel.h $(OUTPUT)/steer.skel.h

$(OUTPUT)/passthru: $(USER_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LIBS_LDLIBS) -o $@

# Tests: unit binaries link every userspace object but main.o.
$(OUTPUT)/tests/lib/%.o: tests/lib/%.c $(wildcard tests/lib/*.h) | $(OUTPUT)/tests/lib
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/lib -c $< -o $@

$(OUTPUT)/tests/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h tests/lib/*.h) $(LIB_OBJS) $(TLIB_OBJS) | $(OUTPUT)/tests
	$(call msg,UNIT,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/lib -Itests/unit $(LDFLAGS) $< $(LIB_OBJS) $(TLIB_OBJS) $(LIBS_LDLIBS) -o $@

$(OUTPUT)/tests/%: tests/tools/%.c $(TLIB_OBJS) | $(OUTPUT)/tests
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) $< $(TLIB_OBJS) -lpthread -o $@

# quicsend seals client Initials: quic.c's keys and libcrypto.
$(OUTPUT)/tests/quicsend: tests/tools/quicsend.c $(TLIB_OBJS) $(OUTPUT)/obj/proto/quic.o | $(OUTPUT)/tests
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/lib $(LDFLAGS) $< $(TLIB_OBJS) $(OUTPUT)/obj/proto/quic.o $(LIBS_LDLIBS) -o $@

check-build: $(OUTPUT)/passthru $(UNIT_BINS) $(TOOL_BINS)

unit: $(UNIT_BINS)
	$(Q)for t in $(UNIT_BINS); do $$t; done

# The README's test command ends here: every suite, one summary line.
test: check-build
	$(Q)OUTPUT=$(OUTPUT) SAN=$(SAN) TSAN=$(TSAN) tests/run.sh $(TESTS)

# libFuzzer harnesses: the userspace objects are built once with coverage
# and sanitizers (fuzzer-no-link), each harness links them.
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -DPASSTHRU_VERSION='"$(VERSION)"' \
               -fsanitize=address,undefined \
               -I$(OUTPUT) -Iinclude $(USER_INC) -Itests/lib $(LIBS_CFLAGS)
FUZZ_OBJS := $(patsubst user/%.c,$(OUTPUT)/fuzz/obj/%.o,$(filter-out user/main.c,$(USER_SRCS)))
FUZZ_TIME ?= 60
$(OUTPUT)/fuzz/obj/%.o: user/%.c $(USER_HDRS) | $(OUTPUT)/fuzz/obj
	$(call msg,FUZZCC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(filter $(OUTPUT)/fuzz/obj/datapath/%,$(FUZZ_OBJS)): $(SKEL)

$(OUTPUT)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS) $(wildcard tests/fuzz/*.h tests/lib/*.h) | $(OUTPUT)/fuzz
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJS) $(LIBS_LDLIBS) -o $@

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	$(Q)FUZZ_TIME=$(FUZZ_TIME) OUTPUT=$(OUTPUT) tests/fuzz/run.sh

# Start passthru on config/example.json with demo upstreams (config/demo.sh).
run: $(OUTPUT)/passthru $(OUTPUT)/tests/xfer
	$(Q)OUTPUT=$(abspath $(OUTPUT)) config/demo.sh $(RUN_ARGS)

bench: $(OUTPUT)/passthru $(TOOL_BINS)
	$(Q)OUTPUT=$(OUTPUT) tests/bench/run.sh $(BENCH_ARGS)

# Everything a fresh Debian 12 machine needs to build, test and benchmark.
DEPS := clang llvm libbpf-dev bpftool libcjson-dev libssl-dev libelf-dev zlib1g-dev pkg-config make gcc \
        libclang-rt-14-dev openssl curl openssh-client openssh-server iproute2 procps psmisc \
        gnutls-bin socat netcat-openbsd nginx libnginx-mod-stream haproxy openvpn \
        postgresql postgresql-client util-linux jq python3 man-db groff-base gdb strace \
        caddy chromium
deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEPS) || \
	{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(DEPS); }

MANDIR    ?= $(PREFIX)/share/man
UNITDIR   ?= /lib/systemd/system
install: $(OUTPUT)/passthru
	install -D -m 0755 $(OUTPUT)/passthru $(DESTDIR)$(PREFIX)/sbin/passthru
	install -D -m 0644 man/passthru.8 $(DESTDIR)$(MANDIR)/man8/passthru.8
	install -D -m 0644 man/passthru.json.5 $(DESTDIR)$(MANDIR)/man5/passthru.json.5
	install -D -m 0644 config/example.json $(DESTDIR)$(PREFIX)/share/doc/passthru/example.json
	sed 's|/usr/local/sbin/passthru|$(PREFIX)/sbin/passthru|g' config/passthru.service \
		| install -D -m 0644 /dev/stdin $(DESTDIR)$(UNITDIR)/passthru.service

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/passthru $(DESTDIR)$(MANDIR)/man8/passthru.8 \
	      $(DESTDIR)$(MANDIR)/man5/passthru.json.5 $(DESTDIR)$(UNITDIR)/passthru.service
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/passthru

clean:
	rm -rf $(OUTPUT)
