# The front door: `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

SDK_TS := sdks/typescript
AGENTS := tests/agents
AGENTS_STAMP := $(AGENTS)/node_modules/.installed-stamp

.PHONY: run test lint bench install clean qt-deps qt-deps-x11 screenshots sdk-ts agents lb-deps package

run: $(STAMP)
	$(BIN)/modelproxy serve

test: $(STAMP) qt-deps-x11 sdk-ts agents lb-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The TypeScript SDK, built for its tests (tests/sdks/test_typescript.py): the locked
# dev dependencies, then tsc into sdks/typescript/dist (the package's `prepare` script).
sdk-ts:
	cd $(SDK_TS) && npm ci --no-audit --no-fund --loglevel=error

# The real coding agents (Claude Code, Codex) at the versions package-lock.json pins, for
# tests/agents: hundreds of MB in an ignored node_modules, reinstalled only when the lock
# changes (a warm npm cache makes that fast too). They run in a loopback-only network
# namespace: `ip netns` (iproute2), installed where apt-get can, else those tests skip.
agents: $(AGENTS_STAMP)
	@command -v ip >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2; } || \
	  echo "tests/agents need iproute2 (ip netns) and root; without them they are skipped" >&2

# HAProxy (the Debian package `haproxy`) for tests/scale/test_load_balancer.py, which runs
# docs/scale.md's load-balancer configuration as printed in front of two instances:
# installed where apt-get can (root), else that test is skipped. (On a machine with
# systemd the package also enables its service, on its default configuration, which
# listens on no port.)
lb-deps:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { [ "$$(id -u)" = 0 ] && \
	  command -v apt-get >/dev/null && echo "installing haproxy for tests/scale (docs/scale.md)" && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy; } || \
	  echo "tests/scale/test_load_balancer.py needs haproxy (apt-get install haproxy); without it, it is skipped" >&2

$(AGENTS_STAMP): $(AGENTS)/package-lock.json
	npm ci --prefix $(AGENTS) --no-audit --no-fund --loglevel=error
	touch $(AGENTS_STAMP)

qt-deps:
	bash .ci/qt-deps

# Also Xvfb, xdotool and the libraries Qt's X11 plug-in needs: the window on a real X
# server (tests/gui/test_x11.py; the package's smoke test, with screenshots).
qt-deps-x11:
	bash .ci/qt-deps x11 $(if $(filter package,$(MAKECMDGOALS)),screenshots)

lint: $(STAMP)
	$(BIN)/ruff check app server gui tests sdks/python packaging

install: $(STAMP)

# Reinstall whenever pyproject.toml (or the Python SDK's) changes.
$(STAMP): pyproject.toml sdks/python/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[gui,dev]'
	$(BIN)/python -m pip install --quiet -e sdks/python
	touch $(STAMP)

bench: $(STAMP)
	$(BIN)/python tests/bench/run.py

# One PNG per page of the window (and the new-token dialog), in build/screenshots (not
# tracked); `make screenshots OUT=docs/screenshots` refreshes the ones the docs show.
OUT ?= build/screenshots
screenshots: $(STAMP) qt-deps
	QT_QPA_PLATFORM=offscreen $(BIN)/python tests/screenshots.py $(OUT)

# The one-file binary in dist/modelproxy, then a smoke test of it as a user would run it.
package: $(STAMP) qt-deps-x11
	$(BIN)/python -m pip install --quiet -e '.[package]'
	$(BIN)/python packaging/build.py
	$(BIN)/python packaging/smoke.py dist/modelproxy

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache $(AGENTS)/node_modules
