# dissim: the two commands of the quick start, and a few helpers.
#   make book   set up (once), run the quick profile on the embedded data set, render the book
#   make test   set up (once), run the test suite
#   make findings   rewrite the "What we found" block of README.md and book/intro.md from the
#                   committed result snapshots (after recomputing them; a test checks the blocks)
PYTHON  ?= python3
VENV    ?= .venv
PROFILE ?= quick
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.dissim-installed

.PHONY: setup test book book-html check-html lab lint clean-book findings

$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

setup: $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

# The main job: every notebook of the book on the embedded default data, then the HTML book.
book: setup
	$(BIN)/dissim book run --profile $(PROFILE)
	$(MAKE) findings
	$(MAKE) book-html

# The summary table that opens README.md and the book (dissim.report.findings); it changes only
# when results_snapshots/ does.
findings: setup
	$(BIN)/python -m dissim.report.findings

book-html: setup
	$(BIN)/jupyter-book build . -W -n --keep-going

# The built book travels: no external script/style/font URL, no build path, no kernel warning,
# no citation of files outside the repository (tests/test_built_book.py; fails if not built).
# And it reads well in a real browser at 1280 and 1400 px: no table wider than the text column,
# no code input on result pages, no empty header row, no shrunken figure
# (tests/test_browser_book.py: Debian's chromium + chromium-driver; skips where they are absent).
check-html: setup
	DISSIM_BUILT_BOOK=_build/html $(BIN)/python -m pytest -q tests/test_built_book.py \
	    tests/test_browser_book.py

# JupyterLab on the notebooks, with the project's kernel (installed into .venv by setup).
lab: setup
	$(BIN)/jupyter lab notebooks/

clean-book:
	rm -rf _build book/results/*/
