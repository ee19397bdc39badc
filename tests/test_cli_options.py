"""Every option of every command either takes effect or is refused: none is ignored.

The parser is walked programmatically (``build_parser``), so a new option is covered as
soon as it exists: it must be in ``CHECKED`` (bad values, each refused with one message
naming the option by every command that takes it), have ``choices`` (a value outside
them is refused), or be listed in ``NO_VALUE`` with the reason there is nothing to
validate at parse time.
"""

from __future__ import annotations

import argparse

import pandas as pd
import pytest

from brainalign.cli import build_parser, main
from tests.test_scoring import place_word_pairs

#: Option -> values every command taking it must refuse at parse time.
CHECKED = {
    "--context-words": ["0", "-2", "x"],
    "--batch-size": ["0", "-1", "two"],
    "--layers": ["-1", "0,-3", "x", ""],
    "--seed": ["-1", "1.5"],
    "--device": ["gpu", "cuda:x", ""],
    "--tr": ["0", "-2", "x", "inf"],
    "--frame-rate": ["0", "-1", "nan", "fast"],
    "--units": ["language", "visual:1%", "language:0%", "language:1%:voxel"],
    "--n-layers": ["0", "-1", "x"],
    "--n-heads": ["0", "-1", "x"],
    "--d-model": ["0", "-1", "x"],
    "--d-ff": ["0", "-1", "x"],
    "--max-positions": ["0", "-1", "x"],
    "--resamples": ["0", "-1", "x"],
    "--depth": ["-0.1", "1.5", "deep", "nan"],
}

#: Options with no value to validate at parse time, and why.
NO_VALUE = {
    "--version": "flag",
    "--quiet": "flag",
    "--overwrite": "flag",
    "--untrained": "flag",
    "--no-untrained": "flag; refused by check_settings where unused (tested below)",
    "--heads": "flag; refused by check_settings where unused",
    "--contributions": "flag",
    "--attention-summaries": "flag",
    "--blocks": "flag",
    "--model": "a hub id or directory, checked when loading (ModelLoadError)",
    "models": "as --model",
    "--benchmark": "names, checked against the registry (UnknownBenchmarkError)",
    "--study": "files, read and checked by load_study",
    "--out": "a path, checked when written (OutputDirectoryError)",
    "--store": "a path, checked by FeatureStore",
    "--option": "NAME=VALUE, parsed by parse_option and checked per benchmark",
    "--dataset": "a name, checked against the catalogue",
    "--stimuli": "a path, read by read_stimuli",
    "--text-column": "a column name, checked by read_stimuli",
    "--instruction": "free text; refused for stimuli it does not apply to (extract_features)",
    "--pooling": "depends on the input kind, checked by the encoder",
    "--files": "file keys, checked against the dataset's catalogue entry",
    "--cache-dir": "a path",
    "--address": "a Ray address, checked when connecting",
    "name": "a name, checked against the registry or catalogue",
    "config": "a YAML file, checked by load_config",
    "results_dir": "a folder, checked by read_results",
    "root": "a folder, checked by run_store",
    "directory": "a folder, refused when it holds a model (build_untrained)",
    "--tokenizer": "a hub id or folder, loaded and checked by build_untrained",
    "--by": "a property name, checked against the results' columns (correlate_property)",
    "--properties": "a CSV, read and checked by read_properties",
    "--pairs": "flag",
    "--figures": "a folder, checked when written",
    "--dry-run": "flag",
    "--recalibrate": "flag; refused without --dry-run (run_score, run_sweep)",
}

#: Required arguments, so that only the option under test can fail.
REQUIRED = {
    ("score",): ["m", "--benchmark", "simlex999"],
    ("extract",): ["--model", "m", "--dataset", "x"],
    ("compare",): ["d"],
    ("build",): [
        "d",
        "--family",
        "gpt2",
        "--n-layers",
        "1",
        "--n-heads",
        "1",
        "--d-model",
        "8",
        "--tokenizer",
        "t",
    ],  # fmt: skip
}


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) of every command and sub-command."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def options():
    """(command path, option name, action) of every option of every command."""
    for path, parser in commands(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = action.option_strings[-1] if action.option_strings else action.dest
            if action.option_strings and action.option_strings[0].startswith("--"):
                name = action.option_strings[0]
            yield path, name, action


ALL = list(options())


def test_every_option_is_checked_or_listed():
    unlisted = [
        f"{' '.join(path) or 'brainalign'} {name}"
        for path, name, action in ALL
        if name not in CHECKED and name not in NO_VALUE and not action.choices
    ]
    assert unlisted == [], (
        "options neither checked nor listed as having no value to validate: add them to "
        f"CHECKED or NO_VALUE in tests/test_cli_options.py: {unlisted}"
    )
    stale = (set(CHECKED) | set(NO_VALUE)) - {name for _, name, _ in ALL}
    assert not stale, f"listed options no command has: {stale}"


CHECKED_CASES = [
    (path, name, value) for path, name, _ in ALL if name in CHECKED for value in CHECKED[name]
]


@pytest.mark.parametrize(("path", "name", "value"), CHECKED_CASES)
def test_bad_values_are_refused_naming_the_option(path, name, value, capsys):
    argv = [*path, *REQUIRED.get(path, []), f"{name}={value}"]
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument {name}" in err and repr(value) in err and "Traceback" not in err


def test_the_same_option_gives_the_same_message_in_every_command(capsys):
    for name, values in CHECKED.items():
        paths = [path for path, option, _ in ALL if option == name]
        for value in values:
            messages = set()
            for path in paths:
                with pytest.raises(SystemExit):
                    build_parser().parse_args([*path, *REQUIRED.get(path, []), f"{name}={value}"])
                line = capsys.readouterr().err.strip().splitlines()[-1]
                messages.add(line.split(": error: ", 1)[1])
            assert len(messages) == 1, (name, value, messages)


@pytest.mark.parametrize(
    ("path", "name", "action"),
    [c for c in ALL if c[2].choices and not isinstance(c[2], argparse._SubParsersAction)],
)
def test_values_outside_choices_are_refused(path, name, action, capsys):
    argv = [*path, *REQUIRED.get(path, []), f"{name}=not-a-choice"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    assert f"argument {name}" in capsys.readouterr().err


def test_good_values_parse_to_numbers():
    args = build_parser().parse_args(
        [
            "score",
            "m",
            "--benchmark",
            "b",
            "--context-words",
            "5",
            "--batch-size",
            "8",
            "--seed",
            "3",
            "--layers",
            "2,0",
            "--device",
            "cuda:1",
        ]
    )
    assert (args.context_words, args.batch_size, args.seed, args.layers) == (5, 8, 3, [0, 2])
    assert args.device == "cuda:1"


# score --benchmark X: each setting is applied, or refused by check_settings -------------


@pytest.fixture
def word_pairs(isolated_cache, monkeypatch):
    monkeypatch.setenv("BRAINALIGN_OFFLINE", "1")
    place_word_pairs()


@pytest.mark.parametrize(
    ("benchmark", "flags", "refused"),
    [
        ("simlex999", ["--context-words", "5"], "does not use --context-words"),
        ("simlex999", ["--untrained", "--no-untrained"], "does not use --no-untrained"),
        ("alice2016-encoding", ["--heads"], "does not use --heads"),
    ],
)
def test_score_refuses_settings_the_benchmark_would_not_use(
    word_pairs, tiny_bert_dir, tmp_path, capsys, benchmark, flags, refused
):
    """Each is refused before any model runs (simlex999 does score heads: applied, see
    the per-head tests in test_scoring; alice2016-encoding scores whole layers only)."""
    code = main(
        [
            "score",
            str(tiny_bert_dir),
            "--benchmark",
            benchmark,
            "--quiet",
            "--out",
            str(tmp_path / "out"),
            *flags,
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert refused in err and benchmark in err and "Traceback" not in err
    assert not (tmp_path / "out" / "cells").exists() or not any(
        (tmp_path / "out" / "cells").iterdir()
    )


def test_score_applies_no_untrained_and_seed(word_pairs, tiny_bert_dir, tmp_path, capsys):
    def run(out, *flags):
        argv = [
            "score",
            str(tiny_bert_dir),
            "--benchmark",
            "simlex999",
            "--layers",
            "0",
            "--quiet",
            "--out",
            str(tmp_path / out),
            *flags,
        ]
        assert main(argv) == 0
        capsys.readouterr()
        return pd.read_parquet(tmp_path / out / "results.parquet")

    def models(table):
        return table[table["control"] == ""]

    default = run("default")
    assert set(models(default)["weights"]) == {"pretrained", "untrained"}
    alone = run("alone", "--no-untrained")
    assert set(models(alone)["weights"]) == {"pretrained"}  # --no-untrained applied
    seeded = run("seeded", "--seed", "3")
    twin = models(default).query("weights == 'untrained'")["score"].to_numpy()
    other = models(seeded).query("weights == 'untrained'")["score"].to_numpy()
    assert not (twin == other).all()  # --seed applied: another untrained twin
    # simlex999 seeds its random word-vector control, so --seed is used (and recorded)
    # even without the twin; a benchmark with nothing random refuses it (check_settings)
    controls = models(alone).shape[0] < alone.shape[0]
    assert controls
    assert '"seed": 3' in (tmp_path / "seeded" / "run.json").read_text()


def test_seed_is_refused_where_nothing_is_random():
    from brainalign.benchmarks.registry import available, get
    from brainalign.benchmarks.settings import RunSettings, SettingsError, check_settings

    unseeded = [get(name) for name in available() if not get(name).seeded]
    assert unseeded
    settings = RunSettings(model="m", untrained_twin=False, seed=3)
    for benchmark in unseeded:
        with pytest.raises(SettingsError, match="does not use --seed"):
            check_settings(benchmark, settings)
