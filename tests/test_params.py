"""Parameters read the same way everywhere: ``runbooks run -p``/``-y``/``-f``, the doctor's
options, plain papermill (which hands a notebook strings, bools, ints, floats and None) and a
notebook edited in Jupyter. One function, :meth:`Param.check`, reads every value; these tests
hold it to one table of spellings, in-process (the notebooks' own wiring is proven under real
papermill in test_notebook_params.py).
"""

from __future__ import annotations

import time
import tracemalloc

import pytest

from runbooks.books import RUNBOOKS
from runbooks.books.params import SHOWN, flag, integer, seconds, shown, text
from runbooks.cli import main
from runbooks.errors import UsageError

CANARY = "sk-ant-api03-CANARY0canary0CANARY0canary0CANARY0canary-zz9Q"

#: How every value a flag can be handed is read: True, False, or refused (None: the default).
TRUE = [True, 1, "true", "True", "TRUE", "1", "yes", "Yes", "on", " true ", "ON"]
FALSE = [False, 0, "false", "False", "FALSE", "0", "no", "No", "off", " no\n"]
REFUSED = ["", " ", "maybe", "y", "n", "t", "f", "1.0", "0.0", "-1", "2", "truex", "nein",
           2, -1, 1.0, 0.0, float("nan"), [], [True], {}, {"a": 1}, b"true", "tr\x00ue"]

FLAGS = sorted({(rid, name) for rid, cls in RUNBOOKS.items()
                for name, p in cls.PARAMETERS.items() if p.type is bool})


def test_every_runbook_has_its_flags_in_this_table():
    assert {name for _, name in FLAGS} == {"apply", "all_projects", "live"}
    assert {rid for rid, name in FLAGS if name == "apply"} == set(RUNBOOKS)


@pytest.mark.parametrize("rid, name", FLAGS)
def test_every_spelling_of_a_flag_means_what_it_says(rid, name):
    """Before: "false", "no" and "0" from papermill were non-empty strings, so true, in the
    notebooks that tested `if apply:` (network, proxy-tls), and refused with
    "apply='false': expected true or false" in the others."""
    p = RUNBOOKS[rid].PARAMETERS[name]
    for value in TRUE:
        assert p.check(value) is True, value
    for value in FALSE:
        assert p.check(value) is False, value
    assert p.check(None) is p.default is False  # papermill's None, YAML's null: the default
    for value in REFUSED:
        with pytest.raises(UsageError) as err:
            p.check(value)
        message = str(err.value)
        assert message.startswith(f"parameter {name}=") and "\n" not in message, message
        assert "expected true or false" in message or "NUL" in message, message
    # the command line's strings are read by the same rules
    assert p.parse("no") is False and p.parse("yes") is True
    with pytest.raises(UsageError):
        p.parse("maybe")


@pytest.mark.parametrize("rid", sorted(RUNBOOKS))
def test_a_notebook_reads_every_parameter_through_the_same_checks(rid):
    """What papermill injects (strings for every kind, None, numbers as ints) is read as
    `runbooks run -p` reads it; the namespace's other names are ignored, missing ones take
    their default."""
    cls = RUNBOOKS[rid]
    defaults = cls.notebook_parameters({})
    assert defaults == {**{n: p.default for n, p in cls.PARAMETERS.items()}, "report_path": ""}
    assert cls.notebook_parameters({"In": [], "get_ipython": print, "apply": "no"}) == defaults
    as_strings = {n: ("no" if p.type is bool else str(p.default)) for n, p in
                  cls.PARAMETERS.items()}
    assert cls.notebook_parameters({**as_strings, "report_path": None}) == defaults
    nones = {n: None for n in cls.PARAMETERS}
    assert cls.notebook_parameters(nones) == defaults
    assert cls.notebook_parameters({"apply": "yes"})["apply"] is True
    with pytest.raises(UsageError, match=r"^parameter apply='maybe': expected true or false"):
        cls.notebook_parameters({"apply": "maybe"})
    with pytest.raises(UsageError, match="NUL"):
        cls.notebook_parameters({"report_path": "out/\x00.json"})


def test_numbers_from_papermill_are_read_as_the_command_line_reads_them():
    s = seconds("connect_timeout", 3.0, "")
    n = integer("samples", 0, "", 0, 1000)
    assert [s.check(v) for v in ("3", " 2.5 ", 4, 1.5, None, "1e1")] == [3.0, 2.5, 4.0, 1.5, 3.0,
                                                                          10.0]
    assert [n.check(v) for v in ("3", 7, None, " 12 ")] == [3, 7, 0, 12]
    for param, bad in ((s, True), (s, "abc"), (s, ""), (s, 10 ** 400), (s, "1e309"),
                       (s, float("inf")), (s, [1]), (s, "3\x00"), (n, 3.0), (n, "3.0"),
                       (n, False), (n, ""), (n, "1" * 5000), (n, 10 ** 5000)):
        with pytest.raises(UsageError) as err:
            param.check(bad)
        assert len(str(err.value)) < 200 and "\n" not in str(err.value), str(err.value)[:300]


def test_text_from_papermill():
    """A string is kept; papermill's -p makes a number of digits (a folder named 2024), which
    is the text the user typed; a decimal number or a bool is refused, naming -r; NUL, other
    control characters and lone surrogates are never valid."""
    p = text("project", "", "")
    assert [p.check(v) for v in ("dir", 2024, None, "", "tab\there")] == ["dir", "2024", "", "",
                                                                           "tab\there"]
    for bad, needle in ((3.5, "-r"), (True, "-r"), ("a\x00b", "NUL"), ("a\x1bb", "control"),
                        ("\ud800", "surrogate"), ([], "expected")):
        with pytest.raises(UsageError, match=needle):
            p.check(bad)


def test_an_error_never_shows_a_whole_value():
    """At most SHOWN characters of a value, masked before it is cut."""
    p = text("since", "7d", "", lambda v: (_ for _ in ()).throw(ValueError("no")))
    for value, cut in (("x" * 1_000_000, "<text of 1,000,000 characters>"),
                       ("x" * 1000, "'… (1,000 characters)"),
                       ("a" * (SHOWN - 10) + CANARY, "'…"),  # the key crosses the cut
                       ("http://bob:" + "s3cret" * 30 + "@proxy:8080/", "bob:****@")):
        with pytest.raises(UsageError) as err:
            p.check(value)
        message = str(err.value)
        assert len(message) < SHOWN + 120 and cut in message, message
        assert "CANARY0" not in message and "s3cret" not in message, message
    assert shown("short") == "'short'"
    assert shown(10 ** 5000).startswith("<a whole number of")
    nested: list = []
    nested.append(nested)
    assert len(shown([nested] * 10 ** 6)) < 80
    assert flag("apply", False, "").check("no") is False


# -- the command line -----------------------------------------------------------------------------
def _bomb(inside: bool, levels: int = 9, width: int = 9) -> str:
    """Billion laughs: 9**9 'lol's once expanded, inside one parameter's value (a list of
    lists) or in top-level names, `since` the last alias."""
    indent, key = ("  - ", "") if inside else ("", "a{i}: ")
    lines = ["since:"] if inside else []
    lines += [f"{indent}{key.format(i=0)}&a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"{indent}{key.format(i=i)}&a{i} [{', '.join([f'*a{i - 1}'] * width)}]"
              for i in range(1, levels)]
    return "\n".join(lines) + ("\n" if inside else f"\nsince: *a{levels - 1}\n")


@pytest.mark.parametrize("via", ["-y", "-f"])
@pytest.mark.parametrize("inside, needle", [(True, "not a list"), (False, "not a list")])
def test_a_yaml_alias_bomb_is_refused_at_once(via, inside, needle, tmp_path, capsys):
    """Before: a 492-byte bomb in -y grew the process to 982 MB and was still going when
    killed at 12 s (the error message printed the expanded value). After: aliases, and lists
    as values, are refused before anything is expanded."""
    bomb = _bomb(inside)
    assert len(bomb) < 1100
    arg = bomb
    if via == "-f":
        arg = str(tmp_path / "bomb.yaml")
        (tmp_path / "bomb.yaml").write_text(bomb)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        code = main(["run", "recovery", via, arg, "--output-dir", str(tmp_path / "out")])
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and needle in err, err[:500]
    assert elapsed < 0.5 and peak < 20 * 1024 * 1024, (elapsed, peak)
    assert len(err) < 300 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, needle", [
    # NUL reached the kernel (a cell failed) before
    (["run", "recovery", "-y", 'project: "/tmp/a\\0b"'], "NUL"),
    (["run", "network", "-y", 'base_url: "http://127.0.0.1:9/\\0"'], "NUL"),
    (["run", "recovery", "-p", "project=/tmp/a\x01b"], "control character"),
    (["run", "recovery", "-y", 'project: "\\ud800"'], "surrogate"),
    (["run", "recovery", "-y", "since: [7d]"], "a list"),  # one value, not a list
    (["run", "recovery", "-y", "since: {a: 1}"], "a mapping"),
    (["run", "recovery", "-y", "a: &x 7d\nsince: *x"], "alias"),
    (["run", "recovery", "-p", "since=" + "x" * 1000], "…"),  # shown cut, not whole
    (["run", "recovery", "-p", "since=" + "x" * 100_000], "<text of 100,000 characters>"),
    (["run", "recovery", "-y", "since: '" + "x" * 1000 + "'"], "…"),
    (["run", "recovery", "-p", "x" * 1000 + "=1"], "…"),  # a name too
    (["run", "recovery", "-p", "x" * 100_000], "<text of"),
    (["run", "recovery", "-p", "since=" + "a.b-" * 10_000], "<text of"),  # masking stays cheap
    (["run", "recovery", "-p", "apply=maybe"], "expected true or false"),
    (["run", "recovery", "-p", "apply="], "expected true or false"),
])
def test_values_that_cannot_be_parameters_stop_before_any_kernel(args, needle, tmp_path,
                                                                 capsys):
    code = main([*args, "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and needle in err and err.count("\n") == 1, err[:500]
    assert len(err) < 300, err[:500]
    assert not (tmp_path / "out").exists()  # nothing was written, no kernel started


def test_a_nul_in_a_parameters_file_is_refused(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text('project: "/tmp/a\\0b"\n')
    assert main(["run", "recovery", "-f", str(path), "--output-dir", str(tmp_path / "o")]) == 2
    assert "NUL" in capsys.readouterr().err


def test_yaml_dates_are_text_as_papermill_hands_them(tmp_path):
    """`since: 2026-11-20` is what the notebook receives as text under papermill; -y reads
    it the same way, not as a date object the table refuses."""
    from argparse import Namespace

    from runbooks.cli import _yaml_parameters

    args = Namespace(parameters_file=[], parameters_yaml=["since: 2026-11-20\napply: no\nn: 3"])
    assert _yaml_parameters(args) == {"since": "2026-11-20", "apply": False, "n": 3}


def test_asked_means_the_same_from_the_command_line():
    """`runbooks run X -p apply=…` and `-y 'apply: …'` read apply as papermill's values are
    read; before, `-y 'apply: "false"'` (a YAML string) was refused as not true or false."""
    from runbooks.runner.execute import coerce

    for raw in ("false", "no", "0", "off", "False"):
        assert coerce("timeouts", {"apply": raw})["apply"] is False
        assert coerce("timeouts", {}, {"apply": raw})["apply"] is False
    for raw in ("true", "yes", "1", "on", "True"):
        assert coerce("timeouts", {"apply": raw})["apply"] is True
    assert coerce("timeouts", {}, {"apply": None, "samples": "3"}) == {"apply": False,
                                                                      "samples": 3}
    with pytest.raises(UsageError, match="expected true or false"):
        coerce("timeouts", {}, {"apply": "maybe"})


@pytest.mark.parametrize("args", [
    ["-y", "a: 'http://bob:s3cret-s3cret-s3cret-s3cret@proxy:8080/"],  # not valid YAML
    ["-p", "http://bob:s3cret-s3cret-s3cret-s3cret@proxy:8080/"],  # not NAME=VALUE
    ["-y", "since: http://bob:" + "s3cret-" * 20 + "@proxy:8080/"],  # cut inside the password
])
def test_a_value_shown_in_an_error_is_masked_before_it_is_cut(args, tmp_path, capsys):
    """Before: the -y label was the first 40 characters of the text, cut before the "@" that
    marks a URL's password as one, so the password's start was printed."""
    assert main(["run", "recovery", *args, "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err and err.count("\n") == 1, err
