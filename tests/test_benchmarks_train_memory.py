"""``hummingbird bench memory``: the training step is compiled ahead of time (never run) and XLA's
memory analysis is written per remat policy, as JSON and a Markdown table."""

import json

from hummingbird_jax.cli import main


def test_memory_bench_compiles_the_tiny_stage2_step_for_each_remat_policy(tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["bench", "memory", "stage2_turbo", "--variant", "tiny", "--frames", "4", "--height", "16",
                 "--width", "16", "--remat", "full", "none", "--out", str(out)])
    assert code == 0
    result = json.loads((out / "train_memory.json").read_text())
    assert [r["remat"] for r in result["rows"]] == ["full", "none"]
    for row in result["rows"]:
        assert row["peak_bytes"] == (row["argument_size_in_bytes"] + row["output_size_in_bytes"]
                                     - row["alias_size_in_bytes"] + row["temp_size_in_bytes"])
        assert row["temp_size_in_bytes"] > 0 and row["reward_params"] > 0
        # LoRA: only the adapters are trainable, a small fraction of the teacher-sized student
        assert 0 < row["trainable_params"] < row["teacher_params"]
    assert result["machine"]["cpu_count"] >= 1
    table = (out / "train_memory.md").read_text()
    assert "| full |" in table and "| none |" in table
    assert "compiling the stage2 step, remat=none" in capsys.readouterr().out


def test_memory_bench_names_an_unknown_experiment(tmp_path, capsys):
    assert main(["bench", "memory", "no_such_experiment", "--out", str(tmp_path)]) == 2
    assert "no experiment 'no_such_experiment'" in capsys.readouterr().err
