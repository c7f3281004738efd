"""One grammar for lists on the command line (dissim.cli.lists; book: Scale).

Every list option of every sub-command reads one word of ranges and commas; the
space-separated form is refused before any work, in one line that shows the right one.
"""

from __future__ import annotations

import pytest

from dissim.cli import build_parser, main
from dissim.cli.lists import parse_ints
from dissim.errors import ConfigError

# (sub-command words, option, the grid-grammar word, what it means, a spaced form of it)
LISTS = [
    (["grid"], "--topologies", "1-3,7", (1, 2, 3, 7), ["1", "2", "3", "7"]),
    (["grid"], "--methods", "cross,Triplet", ("cross", "triplet"), ["cross", "triplet"]),
    (["grid"], "--spaces", "fully,deeper", ("fully", "deeper"), ["fully", "deeper"]),
    (["grid"], "--k", "15,30", (15, 30), ["15", "30"]),
    (["grid"], "--inputs", "orig,hasc", ("orig", "hasc"), ["orig", "hasc"]),
    (["grid"], "--folds", "0-2", (0, 1, 2), ["0", "1", "2"]),
    (["grid"], "--seeds", "0,2", (0, 2), ["0", "2"]),
    (["grid"], "--cnns", "efficientnet_lite0,profile", ("efficientnet_lite0", "profile"),
     ["efficientnet_lite0", "profile"]),
    (["fit", "DIR", "--out", "m.zip"], "--topologies", "1,3", (1, 3), ["1", "3"]),
    (["fit", "DIR", "--out", "m.zip"], "--methods", "cross,triplet", ("cross", "triplet"),
     ["cross", "triplet"]),
    (["fit", "DIR", "--out", "m.zip"], "--k", "15,30", (15, 30), ["15", "30"]),
    (["evaluate", "DIR"], "--topologies", "1-3", (1, 2, 3), ["1", "2", "3"]),
    (["evaluate", "DIR"], "--spaces", "fully,deeper", ("fully", "deeper"), ["fully", "deeper"]),
    (["evaluate", "DIR"], "--inputs", "orig,hasc", ("orig", "hasc"), ["orig", "hasc"]),
    (["results", "export", "--out", "s"], "--inputs", "orig,hasc", ("orig", "hasc"),
     ["orig", "hasc"]),
    (["book", "run"], "--dataset", "textures,digits", ("textures", "digits"),
     ["textures", "digits"]),
    (["book", "run"], "--notebooks", "table1,figure4", ("table1", "figure4"),
     ["table1", "figure4"]),
]


def _dest(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


@pytest.mark.parametrize(("words", "option", "word", "means", "spaced"), LISTS)
def test_every_list_option_reads_ranges_and_commas(words, option, word, means, spaced):
    args = build_parser().parse_args([*words, option, word])
    got = getattr(args, _dest(option))
    assert (got[0] if option == "--dataset" else got) == means


@pytest.mark.parametrize(("words", "option", "word", "means", "spaced"), LISTS)
def test_the_spaced_form_is_refused_in_one_line_showing_the_right_one(
        words, option, word, means, spaced, capsys):
    assert main([*words, option, *spaced]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dissim: error: ")
    assert f"write {option} {','.join(spaced)} (not {option} {' '.join(spaced)})" in err


def test_the_check_runs_before_any_work(tmp_path, capsys, monkeypatch):
    """Refused at parsing: the command's function never runs (no store is created)."""
    from dissim.cli import run as run_cli

    monkeypatch.setattr(run_cli, "_cmd_grid", lambda args: pytest.fail("the grid ran"))
    store = tmp_path / "results"
    assert main(["grid", "--results", str(store), "--topologies", "1", "2"]) == 2
    assert not store.exists()


def test_a_positional_after_a_list_is_not_a_list_item(tmp_path):
    """``--methods cross DIR``: DIR is the image folder, not a stray method."""
    args = build_parser().parse_args(["evaluate", "--methods", "cross", str(tmp_path)])
    assert args.methods == ("cross",) and args.folder == str(tmp_path)


def test_equals_form_and_repeated_datasets():
    args = build_parser().parse_args(["grid", "--topologies=2-4"])
    assert args.topologies == (2, 3, 4)
    args = build_parser().parse_args(["book", "run", "--dataset", "a,b", "--dataset", "c"])
    assert args.dataset == [("a", "b"), ("c",)]


@pytest.mark.parametrize(("argv", "fragment"), [
    (["grid", "--topologies", "9"], "argument --topologies: invalid choice: 9 (choose from 1-8)"),
    (["fit", "DIR", "--out", "m", "--topologies", "0-2"], "invalid choice: 0"),
    (["grid", "--k", "x"], "argument --k: 'x' is not an integer or a range like 1-8"),
    (["evaluate", "DIR", "--methods", "sgd"], "argument --methods: unknown 'sgd'"),
    (["book", "run", "--notebooks", "nope"], "unknown notebook 'nope'"),
])
def test_a_bad_item_is_one_line(argv, fragment, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err


def test_parse_ints_keeps_order_and_drops_repeats():
    assert parse_ints("3,1-2,2", "k") == (3, 1, 2)
    with pytest.raises(ConfigError, match="--k: '' is not an integer"):
        parse_ints("1,", "k")
