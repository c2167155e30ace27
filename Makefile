# erlang-reactor: build · run (demo) · test · bench
#
#   make            build the NIF, the Node addon, the port bundle and the Erlang app
#   make run        demo server on 127.0.0.1 (echo, HTTP/1.1, line protocol, chat)
#   make test       install what is missing, build, run every suite
#   make bench      benchmarks side by side with peers; writes docs/performance.md,
#                   stamped with the commit measured
#   make bench COMPARE=<git ref or built dir>
#                   this tree's reactor (B) against that build's (A), run by run:
#                   medians, B/A and the per-run spread, in _build/bench/compare-*.md
#                   (a ref is checked out and built in _build/compare/<sha>)
#   make bench-compare [COMPARE=main]   the same; make bench-compare-smoke: a few
#                   seconds of it against HEAD. BENCH_ARGS adds run.mjs flags:
#                   --runs N --seconds N --systems RE --scenarios RE (bench/run.mjs)
#   make bench-scale
#                   N idle connections (1k, 5k, up to the fd limit) through the
#                   reactor, plain Node and gen_tcp: memory per connection, accept
#                   rate, probe latency, idle CPU, close time; writes its table into
#                   docs/performance.md. SCALE_ARGS adds flags: --steps 1000,max
#                   --runs N --systems RE (bench/scale.mjs)

NODE      ?= node
NODE_INC  ?= $(shell $(NODE) -p "require('path').resolve(process.execPath, '../../include/node')")
ERL_INC   ?= $(shell erl -noshell -eval 'io:format("~s/usr/include", [code:root_dir()]), halt().' 2>/dev/null)
CFLAGS    ?= -O2 -g -Wall -Wextra
CXXFLAGS  ?= -O2 -g -Wall -Wextra

PRIV      := priv
NIF       := $(PRIV)/reactor_nif.so
ADDON     := $(PRIV)/reactor_addon.node
BUNDLE    := $(PRIV)/reactor_port.js
# Beside the bundle, so priv/ runs with nothing but `node' on the host.
SHIPPED   := $(BUNDLE) $(PRIV)/esbuild-api.js $(PRIV)/erlpack.node $(PRIV)/esbuild
TS_SRC    := $(wildcard ts/*.ts)
NIF_SRC   := $(wildcard native/nif/*.c)
NIF_HDR   := $(wildcard native/nif/*.h) native/reactor_shared.h
ADDON_SRC := $(wildcard native/addon/*.cc)
ADDON_HDR := $(wildcard native/addon/*.h) native/reactor_shared.h

.PHONY: all native bundle erlang deps run test test-ts test-erl soak fuzz bench bench-smoke bench-scale bench-compare bench-compare-smoke package clean distclean

all: native bundle erlang

native: $(NIF) $(ADDON)

# Hidden visibility: the files' shared functions and atoms are reached
# directly, not through the GOT; only nif_init is exported. Both libraries
# are built beside their target and renamed over it: a running BEAM or Node
# has the old one mapped, and writing it in place would crash it.
$(NIF): $(NIF_SRC) $(NIF_HDR)
	@mkdir -p $(PRIV)
	$(CC) $(CFLAGS) -std=gnu11 -fPIC -shared -fvisibility=hidden -I$(ERL_INC) -o $@.tmp $(NIF_SRC)
	mv -f $@.tmp $@

$(ADDON): $(ADDON_SRC) $(ADDON_HDR) node_modules/.package-lock.json
	@mkdir -p $(PRIV)
	$(CXX) $(CXXFLAGS) -std=c++17 -fPIC -shared -fexceptions -DNAPI_CPP_EXCEPTIONS \
	  -DNAPI_VERSION=8 -DBUILDING_NODE_EXTENSION \
	  -I$(NODE_INC) -Inode_modules/node-addon-api -o $@.tmp $(ADDON_SRC)
	mv -f $@.tmp $@

bundle: $(SHIPPED)

$(SHIPPED) &: $(TS_SRC) build.mjs node_modules/.package-lock.json
	$(NODE) build.mjs

# The build needs only the production packages (erlpack, esbuild and
# node-addon-api): a dependency's build never installs typescript or jest.
# The test and bench targets add the dev packages (.ci/install-deps).
node_modules/.package-lock.json: package.json package-lock.json
	@# A tree that has the dev packages (make test, a developer's) keeps them.
	if [ -d node_modules/jest ]; then npm ci --no-audit --no-fund; \
	else npm ci --omit=dev --no-audit --no-fund; fi
	@touch $@

erlang: native
	rebar3 compile

# Installs what a fresh machine lacks: Debian's Erlang and rebar3, the npm packages.
deps:
	@bash .ci/install-deps

# The demo is an example, not part of the shipped application.
run: deps all
	@mkdir -p _build/demo
	erlc -o _build/demo examples/reactor_demo.erl examples/reactor_chat.erl
	erl -noshell -pa _build/default/lib/reactor/ebin -pa _build/demo -eval 'reactor_demo:main()'

# The Elixir suite builds a mix release: Debian's elixir comes with the tests,
# as do Chromium and mosquitto's clients (the ws and MQTT examples' suites).
test: deps all
	@command -v mix >/dev/null || bash .ci/install-deps elixir
	@bash .ci/install-deps chromium mosquitto_sub=mosquitto-clients
	bash scripts/test-all.sh

test-ts:
	npx tsc --noEmit -p .
	npx jest --ci

test-erl:
	rebar3 eunit
	rebar3 ct --dir test/erlang

# The npm package for protocol authors: _build/npm/erlang-reactor-<vsn>.tgz
package: deps
	node scripts/pack.mjs

# Longer runs of what CI runs briefly.
SOAK_SECONDS ?= 600
FUZZ_CASES   ?= 1000000

soak: deps all
	SOAK_SECONDS=$(SOAK_SECONDS) rebar3 ct --dir test/erlang --suite reactor_soak_SUITE

fuzz: deps all
	FUZZ_CASES=$(FUZZ_CASES) npx jest --ci test/ts/codec.test.ts test/ts/batch.test.ts test/ts/term.test.ts
	FUZZ_CASES=$(FUZZ_CASES) rebar3 eunit --module reactor_wire_tests,reactor_poller_tests,reactor_term_prop_tests

BENCH_BIN := bench/build/loadgen bench/build/scale_client bench/build/c_server bench/build/node_server.js \
             bench/build/bench_servers.beam bench/build/bench_bridge.beam bench/build/bench_json_port.beam

bench/build/loadgen: bench/loadgen.c
	@mkdir -p bench/build
	$(CC) -O2 -Wall -o $@ $<

bench/build/scale_client: bench/scale_client.c
	@mkdir -p bench/build
	$(CC) -O2 -Wall -o $@ $<

bench/build/c_server: bench/c_server.c
	@mkdir -p bench/build
	$(CC) -O2 -Wall -pthread -o $@ $<

bench/build/node_server.js: bench/node_server.ts bench/http_stream.ts $(TS_SRC) examples/echo.ts examples/http.ts examples/resp.ts
	@mkdir -p bench/build
	npx esbuild --bundle --platform=node --target=node18 --log-level=warning \
	  --external:erlpack --external:esbuild \
	  --alias:erlang-reactor=./ts/index.ts --outfile=$@ bench/node_server.ts

bench/build/%.beam: bench/%.erl
	@mkdir -p bench/build
	erlc -o bench/build $<

# Every system side by side, figures as ratios to plain Node; writes docs/performance.md.
# With COMPARE, this tree against another build instead (docs/performance.md untouched).
bench: deps all $(BENCH_BIN)
	@bash .ci/install-deps wrk redis-benchmark=redis-tools
	node bench/run.mjs $(if $(COMPARE),--compare $(COMPARE)) $(BENCH_ARGS)

# A few seconds of the same, so the benchmark cannot rot (CI runs it).
bench-smoke: deps all $(BENCH_BIN)
	@bash .ci/install-deps wrk redis-benchmark=redis-tools
	node --test test/bench/
	node bench/run.mjs --smoke $(BENCH_ARGS)
	node bench/scale.mjs --smoke

# Many idle connections, up to the fd limit (docs/performance.md, "Many connections").
bench-scale: deps all $(BENCH_BIN)
	node bench/scale.mjs $(SCALE_ARGS)

bench-compare: COMPARE ?= main
bench-compare: deps all $(BENCH_BIN)
	@bash .ci/install-deps wrk redis-benchmark=redis-tools
	node bench/run.mjs --compare $(COMPARE) $(BENCH_ARGS)

# Over a minute (two builds, two runs each), so not part of bench-smoke.
bench-compare-smoke: COMPARE ?= HEAD
bench-compare-smoke: deps all $(BENCH_BIN)
	@bash .ci/install-deps wrk redis-benchmark=redis-tools
	node bench/run.mjs --smoke --compare $(COMPARE) $(BENCH_ARGS)

clean:
	rm -f $(NIF) $(ADDON) $(SHIPPED) $(BUNDLE).map
	rm -rf _build/default/lib/reactor/ebin bench/build

# _build/compare holds git worktrees (make bench COMPARE=ref): forget them too.
distclean: clean
	rm -rf _build node_modules
	-git worktree prune
