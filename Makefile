# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# torch is installed first, pinned to the local CPU build: an unpinned torch
# with none installed would pull several GB of CUDA packages.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
RUN    ?= runs/demo
# the suite's tests are single-threaded: two workers use both cores (12 min -> 7 under load)
TEST_JOBS ?= 2

.PHONY: demo test bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
	$(VENV)/bin/textgan demo data/faq_en.csv --out $(RUN) --queries data/queries.txt --pairs data/faq_en_pairs.tsv

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist loadscope tests

bench: $(STAMP)
	$(PY) bench/similarity.py --threads 1 --json bench/results/similarity.json
	$(PY) bench/toy.py --preset-steps ring8=4000,grid25=7000 --sweep-steps 1000 --sweep-batch 256 --jobs 2 --json bench/results/toy.json
	$(PY) bench/generation.py --steps 1000 --threads 1 --extra meg,ogan,ebm-langevin --json bench/results/generation.json
	$(PY) bench/retrieval.py --sizes 10000,100000,1000000 --kinds real,clustered,uniform --json bench/results/retrieval.json
	$(PY) bench/ood.py --json bench/results/ood.json
	$(PY) bench/augment.py --json bench/results/augment.json
	$(PY) bench/ogan.py --json bench/results/ogan.json
	$(PY) bench/fewshot.py --episodes 10 --json bench/results/fewshot.json
	$(PY) bench/kplus1.py --json bench/results/kplus1.json
	$(PY) bench/generation.py --only-conditional --threads 1 --json bench/results/generation_conditional.json
	$(PY) bench/scale.py --json bench/results/scale.json

clean:
	rm -rf $(VENV) runs build *.egg-info
