"""Fuzz-style bad input for every sub-command (issue 15).

Each probe runs the CLI in-process and asserts exit status 2, exactly one ``dissim: error:``
line, no traceback, that no network was trained and no kernel started, and that nothing new
appeared in the probe's folders or in the repository's ``book/results`` and ``_build``. The
sub-commands are read from the parser, so a new sub-command without a probe fails
:func:`test_every_sub_command_has_probes`. ``book/what_can_go_wrong.md``'s table of these
messages is checked against what the probes print (:func:`test_documented_messages`).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from bad_input import REPO, fails_once, make_bad_folders, snapshot

from dissim.cli import build_parser, main

SMOKE = ["--profile", "smoke", "--device", "cpu"]
FIT = [*SMOKE, "--topologies", "8", "--methods", "cross", "--spaces", "fully"]
NO_CUDA = not torch.cuda.is_available()

# (sub-command, argv template, expected fragment of the message)
PROBES: list[tuple[str, list[str], str]] = [
    ("data list", ["data", "list", "--bogus"], "unrecognized arguments: --bogus"),
    ("data info", ["data", "info", "inflarr"], "unknown data set 'inflarr'"),
    ("data info", ["data", "info"], "the following arguments are required: name"),
    ("data check", ["data", "check", "folder"], "needs --root DIR"),
    ("data check", ["data", "check", "folder", "--root", "{file}"], "is a file, not a folder"),
    ("data check", ["data", "check", "inflarr"], "unknown data set 'inflarr'"),
    ("data fetch", ["data", "fetch", "cat", "--dest", "{file}"], "is a file, not a folder"),
    ("data fetch", ["data", "fetch", "inflarr"], "unknown data set 'inflarr'"),
    ("run", ["run", "--seed", "-1", *SMOKE], "--seed must be an integer >= 0; got -1"),
    ("run", ["run", "--seed", "4294967296", *SMOKE], "--seed must be at most 4294967295 "
     "(2**32 - 1), the largest seed k-means and the fold splitters accept; got 4294967296"),
    ("run", ["run", "--fold", "-1", *SMOKE], "--fold must be an integer >= 0"),
    ("run", ["run", "--k", "0", *SMOKE], "--k must be an integer >= 1"),
    ("run", ["run", "--topology", "9"], "argument --topology: invalid choice: 9"),
    ("run", ["run", "--profile", "bogus"], "argument --profile: invalid choice: 'bogus'"),
    ("run", ["run", "--seed", "x"], "argument --seed: invalid int value: 'x'"),
    ("run", ["run", "--device", "gpu"], "unknown device 'gpu' (--device)"),
    ("run", ["run", "--results", "{file}", *SMOKE], "results store {file} (--results) is a file"),
    ("run", ["run", "--root", "{good}", *SMOKE], "would be ignored: data set 'textures' is "
     "embedded"),
    ("run", ["run", "--dataset", "folder", *SMOKE], "data set 'folder' needs --root DIR"),
    ("run", ["run", "--dataset", "inflarr", *SMOKE], "unknown data set 'inflarr'"),
    ("run", ["run", "--dataset", "folder", "--root", "{missing}", *SMOKE], "not found"),
    ("run", ["run", "--dataset", "folder", "--root", "{bomb}", *SMOKE, "--topology", "8",
             "--results", "{tmp}/results"], "(a possible decompression bomb)"),
    ("run", ["run", "--dataset", "folder", "--root", "{single}", *SMOKE, "--topology", "8",
             "--results", "{tmp}/results"], "can never be predicted"),
    ("run", ["run", "--dataset", "folder", "--root", "{good}", *SMOKE, "--topology", "8",
             "--fold", "9", "--results", "{tmp}/results"], "fold 9 does not exist"),
    ("results ls", ["results", "ls", "--results", "{file}"], "is a file, not a folder"),
    ("results ls", ["results"], "the following arguments are required: results_cmd"),
    ("results export", ["results", "export", "--out", "{file}"], "(--out) is a file"),
    ("results export", ["results", "export", "--out", "{tmp}/s", "--results", "{file}"],
     "is a file, not a folder"),
    ("results export", ["results", "export", "--out", "{tmp}/s", "--seed", "-1"],
     "--seed must be an integer >= 0"),
    ("results export", ["results", "export", "--out", "{tmp}/s", "--inputs", "png"],
     "--inputs: unknown 'png'"),
    ("results export", ["results", "export", "--out", "{tmp}/s", "--results", "{tmp}/empty"],
     "no entry of data set"),
    ("results export", ["results", "export"], "the following arguments are required: --out"),
    ("results import", ["results", "import", "{missing}"], "snapshot {missing} not found"),
    ("results import", ["results", "import", "{file}"], "is a file, not a folder"),
    ("results import", ["results", "import", "{good}"], "has no index.json"),
    ("results import", ["results", "import", "{good}", "--results", "{file}"],
     "is a file, not a folder"),
    ("book run", ["book", "run", "--dataset", "inflarr", "--profile", "smoke"],
     "unknown data set 'inflarr'"),
    ("book run", ["book", "run", "--profile", "bogus"], "invalid choice: 'bogus'"),
    ("book run", ["book", "run", "-p", "k", "4"], "no chosen notebook has a parameter 'k'"),
    ("book run", ["book", "run", "--notebooks", "table1", "-p", "topology", "one"],
     "parameter 'topology' of table1.ipynb must be int"),
    ("book run", ["book", "run", "--notebooks", "nope"], "unknown notebook 'nope'"),
    ("book run", ["book", "run", "--seed", "-1"], "--seed must be an integer >= 0"),
    ("book run", ["book", "run", "--results", "{file}"], "is a file, not a folder"),
    ("book run", ["book", "run", "--root", "{missing}"], "not found"),
    ("grid", ["grid", "--device", "gpu", "--dry-run"], "unknown device 'gpu'"),
    ("grid", ["grid", "--results", "{file}", "--dry-run"], "is a file, not a folder"),
    ("grid", ["grid", "--dataset", "inflarr", "--dry-run"], "unknown data set 'inflarr'"),
    ("grid", ["grid", "--root", "{good}", "--dry-run"], "would be ignored"),
    ("grid", ["grid", "--threads", "0", "--dry-run", "--results", "{tmp}/r"],
     "--threads must be >= 1"),
    ("fit", ["fit", "{good}", "--out", "{tmp}", *FIT], "(--out) is a folder; name a file"),
    ("fit", ["fit", "{good}", "--out", "{missing}/m.zip", *FIT], "of model file"),
    ("fit", ["fit", "{good}", "--out", "{file}/m.zip", *FIT], "is a file, not a folder"),
    ("fit", ["fit", "{good}", "--out", "{tmp}/m.zip", "--topologies", "9"],
     "argument --topologies: invalid choice: 9"),
    ("fit", ["fit", "{good}", "--out", "{tmp}/m.zip", *FIT, "--seed", "-1"], "--seed must be"),
    ("fit", ["fit", "{good}", "--out", "{tmp}/m.zip", *FIT, "--k", "0"], "--k must be"),
    ("fit", ["fit", "{good}", "--out", "{tmp}/m.zip", "--device", "gpu"], "unknown device"),
    ("fit", ["fit", "{missing}", "--out", "{tmp}/m.zip", *FIT], "image folder {missing} not "
     "found"),
    ("fit", ["fit", "{file}", "--out", "{tmp}/m.zip", *FIT], "is a file, not a folder"),
    ("fit", ["fit", "{good}"], "the following arguments are required: --out"),
    ("fit", ["fit", "{bomb}", "--out", "{tmp}/m.zip", *FIT], "(a possible decompression bomb)"),
    ("fit", ["fit", "{trunc}", "--out", "{tmp}/m.zip", *FIT], "cannot read image"),
    ("fit", ["fit", "{split}", "--out", "{tmp}/m.zip", *FIT], "looks like a train/test split"),
    ("fit", ["fit", "{macosx}", "--out", "{tmp}/m.zip", *FIT], "is not a class"),
    ("fit", ["fit", "{link}", "--out", "{tmp}/m.zip", *FIT], "is a broken link"),
    ("predict", ["predict", "{missing}", "{good}"], "model file {missing} not found"),
    ("predict", ["predict", "{good}", "{good}"], "is a folder; pass the file"),
    ("predict", ["predict", "{file}", "{good}"], "is not a dissim model file (not a zip"),
    ("predict", ["predict", "{file}", "{good}", "--device", "gpu"], "unknown device"),
    ("predict", ["predict", "{tampered}", "{good}"], "(entry manifest.json: the manifest is a "
     "list"),
    ("predict", ["predict", "{file}"], "the following arguments are required: IMAGES"),
    ("evaluate", ["evaluate", "{good}", "--folds", "1", *FIT], "--folds must be an integer >= 2"),
    ("evaluate", ["evaluate", "{good}", "--max-folds", "0", *FIT], "--max-folds must be"),
    ("evaluate", ["evaluate", "{good}", "--max-folds", "-1", *FIT], "--max-folds must be"),
    ("evaluate", ["evaluate", "{good}", "--min-images", "-1", *FIT], "--min-images must be"),
    ("evaluate", ["evaluate", "{good}", "--max-per-class", "-1", *FIT], "--max-per-class"),
    ("evaluate", ["evaluate", *FIT], "give an image folder or --dataset NAME"),
    ("evaluate", ["evaluate", "--dataset", "inflarr", *FIT], "unknown data set 'inflarr'"),
    ("evaluate", ["evaluate", "{good}", "--plot", "{missing}/cm.png", *FIT], "of plot"),
    ("evaluate", ["evaluate", "{bomb}", "--folds", "2", *FIT], "decompression bomb"),
    ("evaluate", ["evaluate", "{trunc}", "--folds", "2", *FIT], "cannot read image"),
    ("evaluate", ["evaluate", "{single}", "--folds", "2", *FIT], "can never be predicted"),
    ("evaluate", ["evaluate", "{split}", *FIT], "looks like a train/test split"),
]
if NO_CUDA:
    PROBES += [
        ("run", ["run", "--device", "cuda", *SMOKE[:2]], "CUDA is not available"),
        ("fit", ["fit", "{good}", "--out", "{tmp}/m.zip", "--device", "cuda:0"],
         "CUDA is not available"),
        ("evaluate", ["evaluate", "{good}", "--device", "cuda"], "CUDA is not available"),
        ("grid", ["grid", "--device", "cuda", "--dry-run"], "CUDA is not available"),
    ]


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    return make_bad_folders(tmp_path_factory.mktemp("bad"))


def _fill(template: list[str] | str, ctx: dict[str, Path]):
    if isinstance(template, str):
        return template.format(**{k: str(v) for k, v in ctx.items()})
    return [_fill(t, ctx) for t in template]


def _context(folders: dict[str, Path], tmp: Path) -> dict[str, Path]:
    (tmp / "a_file.txt").write_text("not a folder, not a model")
    return {**folders, "tmp": tmp, "file": tmp / "a_file.txt", "missing": tmp / "missing"}


def probe(argv: list[str], ctx: dict[str, Path], capsys) -> str:
    before = snapshot(ctx["tmp"], ctx["good"].parent)
    message = fails_once(main(argv), capsys.readouterr().err)
    assert snapshot(ctx["tmp"], ctx["good"].parent) == before, "a probe left files behind"
    return message


@pytest.mark.parametrize("command, argv, expect", PROBES,
                         ids=[f"{c}:{' '.join(a[1:4])}" for c, a, _ in PROBES])
def test_bad_input_is_one_line(command, argv, expect, folders, tmp_path, capsys, no_work):
    ctx = _context(folders, tmp_path)
    message = probe(_fill(argv, ctx), ctx, capsys)
    assert _fill(expect, ctx) in message


def _leaves(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [prefix.strip()]
    return [leaf for name, p in subs[0].choices.items() for leaf in _leaves(p, f"{prefix} {name}")]


def test_every_sub_command_has_probes():
    leaves = set(_leaves(build_parser()))
    probed = {c for c, _, _ in PROBES}
    assert leaves <= probed, f"sub-commands without a bad-input probe: {leaves - probed}"
    assert len(leaves) >= 10


def test_argparse_errors_are_one_line_with_the_help_hint(capsys):
    assert main(["evaluate", "--folds", "x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage:" not in err
    assert err.rstrip().endswith("(see dissim evaluate --help)")


def test_data_check_decodes_every_image_and_reports_the_protocol(folders, capsys):
    cases = {"trunc": "cannot read image", "bomb": "decompression bomb",
             "single": "class 'c' has 1 image: with 5 folds", "split": "train/test split",
             "macosx": "__MACOSX is not a class", "link": "is a broken link"}
    for name, want in cases.items():
        assert main(["data", "check", "folder", "--root", str(folders[name])]) == 2, name
        out, err = capsys.readouterr()
        assert want in out, (name, out)  # the list on stdout, one error line on stderr
        assert err.startswith("dissim: error: ") and " found in " in err, err
        assert err.count("\n") == 1, err
    assert main(["data", "check", "folder", "--root", str(folders["good"])]) == 0
    assert "OK: 24 images in 3 classes" in capsys.readouterr().out


def test_few_images_per_fold_is_a_warning_not_an_error(folders, tmp_path):
    from dissim import data
    from dissim.errors import DissimWarning

    ds = data.load_folder(folders["good"])
    ds = ds.subset((ds.labels != 2) | (np.arange(len(ds)) % 8 < 3))  # class c: 3 images
    with pytest.warns(DissimWarning, match="'c' has 3 images, fewer than the 5 folds"):
        assert len(data.folds(ds, n_splits=5)) == 5


def test_internal_errors_say_so_and_where_to_report(monkeypatch, capsys):
    import dissim.cli.run

    def boom(args):
        raise KeyError("unexpected")

    monkeypatch.setattr(dissim.cli.run, "_cmd_results_ls", boom)
    assert main(["results", "ls"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dissim: error: internal error: KeyError")
    assert "rerun with --debug or DISSIM_DEBUG=1" in err and "/issues" in err
    assert main(["results", "ls", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("dissim: error:")


def test_third_party_exceptions_become_one_line():
    import errno
    import json
    import zipfile
    import zlib

    from PIL import Image

    from dissim.errors import describe

    cases = [
        (Image.DecompressionBombError("Image size (900000000 pixels) exceeds limit"),
         "too large to decode"),
        (zipfile.BadZipFile("File is not a zip file"), "zip archive is damaged"),
        (zlib.error("Error -3 while decompressing"), "zip archive is damaged"),
        (json.JSONDecodeError("Expecting value", "x", 0), "JSON file is damaged"),
        (RuntimeError("Expected one of cpu, cuda, ... device type at start of device string: "
                      "gpu"), "device problem"),
        (OSError(errno.ENOSPC, "No space left on device", "/r/x.tmp"), "free some space"),
        (PermissionError(errno.EACCES, "Permission denied", "/r"), "you can write to"),
    ]
    for exc, want in cases:
        message, status = describe(exc)
        assert status == 2 and want in message and "\n" not in message, message


@pytest.mark.parametrize("argv, want", [
    (["run", "--device", "gpu"], "unknown device 'gpu'"),
    (["fit", "{good}", "--out", "{tmp}", *FIT], "is a folder; name a file"),
])
def test_real_entry_point(argv, want, folders, tmp_path):
    ctx = _context(folders, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", "import sys; from dissim.cli import main; "
                           "sys.exit(main())", *_fill(argv, ctx)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert want in fails_once(proc.returncode, proc.stderr)


def _documented() -> list[str]:
    page = (REPO / "book" / "what_can_go_wrong.md").read_text()
    section = page.split("## Bad input checked before work starts", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| ") and "---" not in ln][1:]
    out = []
    for row in rows:
        cell = row.split(" | ")[1]
        m = re.fullmatch(r"``(.+?) ?``", cell) or re.fullmatch(r"`([^`]+)`", cell)
        out.append(m.group(1))
    return out


def test_documented_messages(folders, tmp_path, capsys, no_work):
    """Every message in the page's table is printed by some probe (``<...>`` is a wildcard)."""
    ctx = _context(folders, tmp_path)
    seen = []
    for _, argv, _ in PROBES:
        main(_fill(argv, ctx))
        seen += [ln.removeprefix("dissim: error: ")
                 for ln in capsys.readouterr().err.splitlines() if ln.startswith("dissim:")]
    documented = _documented()
    assert len(documented) >= 10
    for doc in documented:
        if not NO_CUDA and "CUDA is not available" in doc:
            continue
        pattern = ".*".join(map(re.escape, re.split(r"<[^>]*>", doc)))
        assert any(re.fullmatch(pattern, m) for m in seen), f"no probe prints: {doc}"
