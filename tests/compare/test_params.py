"""MLflow params are strings: typed parsing, stable order and display, replicate detection."""

import math

from posthoc.compare.params import (
    display,
    identifier_reason,
    is_replicate,
    json_value,
    parse_param,
    sort_key,
)


def test_parses_numbers_booleans_none_and_sequences():
    assert parse_param("3") == 3 and isinstance(parse_param("3"), int)
    assert parse_param("0.10") == 0.1 and parse_param("1e-3") == 0.001
    assert parse_param("True") is True and parse_param("false") is False
    assert parse_param("None") is None and parse_param("null") is None
    assert parse_param("[1, 2]") == (1, 2) and display(parse_param("[1, 2]")) == "[1, 2]"
    assert parse_param("(64,)") == (64,) and display(parse_param("(64,)")) == "(64,)"
    assert display(parse_param("()")) == "()"
    assert math.isnan(parse_param("nan")) and parse_param("inf") == math.inf


def test_strings_stay_strings_even_when_they_look_like_code():
    assert parse_param("adam") == "adam"
    assert parse_param("[unbalanced") == "[unbalanced"
    assert parse_param("(os.system('x'))") == "(os.system('x'))"  # literal_eval only, never eval
    assert parse_param("{'a': 1}") == "{'a': 1}"


def test_sort_is_numeric_and_total_over_mixed_types():
    raw = ["10", "2", "0.5", "adam", "None", "True", "[1, 2]", "nan"]
    ordered = sorted((parse_param(r) for r in raw), key=sort_key)
    assert [display(v) for v in ordered] == ["None", "true", "0.5", "2", "10", "nan", "[1, 2]", "adam"]


def test_bool_and_int_are_different_settings_but_int_and_float_are_not():
    assert sort_key(parse_param("True")) != sort_key(parse_param("1"))
    assert sort_key(parse_param("1")) == sort_key(parse_param("1.0"))


def test_display_and_json_are_stable():
    assert display(parse_param("0.001")) == "0.001" and display(parse_param("1e-05")) == "1e-05"
    assert display(parse_param("3.0")) == "3" and display(0.1 + 0.2) == "0.30000000000000004"
    assert json_value(parse_param("inf")) == "inf" and json_value(parse_param("(1, 2)")) == [1, 2]


def test_replicate_params_match_nested_names():
    names = ("seed", "random_state")
    assert is_replicate("seed", names) and is_replicate("trainer.seed", names) and is_replicate("data/Random_State", names)
    assert not is_replicate("seed_everything_policy", names) and not is_replicate("lr", names)
    assert is_replicate("data_seed", names) and is_replicate("args/split_random_state", names)
    assert not is_replicate("data_seed", ())  # replicate_params = [] in config: nothing is a replicate


def test_identifiers_are_paths_times_and_names_that_differ_in_nearly_every_run():
    paths = [f"outputs/run-{i}" for i in range(18)]
    assert identifier_reason("output_dir", paths, 18, 18) == "differs in every run"
    assert identifier_reason("logging_dir", [f"runs/Dec0{i}_01-23-45_host" for i in range(9)] * 2, 9, 18) is None
    assert identifier_reason("logging_dir", [f"runs/Dec01_01-23-{i:02d}_host" for i in range(17)], 17, 18) == \
        "differs in 17 of 18 runs"
    assert identifier_reason("mlflow.source.git.commit", ["a", "b"], 2, 40) == "MLflow system param"
    hex_ids = [f"{i:032x}" for i in range(5)]
    assert identifier_reason("parent", hex_ids, 5, 5) == "differs in every run"  # run ids, by their shape


def test_settings_are_never_taken_for_identifiers():
    assert identifier_reason("data_path", ["data/v1", "data/v2"] * 20, 2, 40) is None  # few values, many runs
    assert identifier_reason("lr", [str(10 ** -(i / 10)) for i in range(40)], 40, 40) is None  # random search
    assert identifier_reason("optimizer", ["sgd", "adam", "rmsprop"], 3, 3) is None  # a 3-run sweep of names
    assert identifier_reason("run_name", ["a", "a", "b", "b"], 2, 4) is None
