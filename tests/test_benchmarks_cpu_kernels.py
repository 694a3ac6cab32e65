"""The CPU-kernel benchmark runs its option sets in their own processes at the quick sizes and writes
complete results; a set XLA rejects is recorded as failed; the row-matmul convolution is the convolution."""

from __future__ import annotations

import importlib.util
import json

import pytest

from hummingbird_jax.benchmarking import cpu_kernels
from hummingbird_jax.benchmarking.report import relative_error

FLAG_SET = "--xla_cpu_use_onednn=true"
HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_quick_run_under_two_option_sets_writes_every_figure(tmp_path):
    result = cpu_kernels.main(["--quick", "--repeats", "2", "--flags=", f"--flags={FLAG_SET}", "--torch-threads", "1",
                               "--out", str(tmp_path), "--name", "kernels"])
    saved = json.loads((tmp_path / "kernels.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert len(saved["machine"]["load_average"]) == len(saved["machine"]["load_average_after"]) == 3
    assert saved["machine"]["cpu"] and isinstance(saved["machine"]["cpu_features"], list)

    case_ids = [case["id"] for case in saved["cases"]]
    assert [case["kernel"] for case in saved["cases"]] == [
        "dense", "dense", "conv3x3", "conv3x3", "conv3x3_rows", "conv3x3_rows", "attention_scores"]
    assert [(s["label"], s["status"]) for s in saved["option_sets"]] == [("XLA defaults", "ok"),
                                                                       ("use_onednn=true", "ok")]
    assert saved["option_sets"][1]["xla_flags"].endswith(FLAG_SET)
    for option_set in saved["option_sets"]:
        assert list(option_set["results"]) == case_ids
        for by_mode in option_set["results"].values():
            assert list(by_mode) == list(cpu_kernels.MODES)
            for entry in by_mode.values():
                assert entry["gflops_per_s"] > 0 and entry["best_s"] <= entry["median_s"]
    for case, by_mode in zip(saved["cases"], saved["option_sets"][0]["results"].values()):
        assert by_mode["float32"]["gflops_per_s"] == pytest.approx(case["flops"] / by_mode["float32"]["best_s"] / 1e9)

    effects = saved["option_effects"]
    assert effects["baseline"] == "XLA defaults" and list(effects["sets"]) == ["use_onednn=true"]
    assert set(effects["sets"]["use_onednn=true"]) == {"dense", "conv3x3", "conv3x3_rows", "attention_scores"}

    table = (tmp_path / "kernels.md").read_text()
    assert table.count("\n## ") == len(case_ids)
    assert "| option set | float32 | bf16→bf16 | bf16, f32 sums |" in table
    assert "| `XLA defaults` |" in table and f"| `use_onednn=true` | `{FLAG_SET}` | ok |" in table
    assert "- `use_onednn=true`: " in table and "load average" in table.lower()
    if HAS_TORCH:
        assert saved["torch"]["threads"] == 1 and list(saved["torch"]["results"]) == case_ids
        assert all(by_mode[m]["gflops_per_s"] > 0 for by_mode in saved["torch"]["results"].values()
                   for m in cpu_kernels.TORCH_MODES)
        assert all(c["best_jax_to_best_torch"] > 0 for c in saved["comparisons"])
        assert "| PyTorch `conv2d` |" in table and "best / best PyTorch" in table
    else:
        assert saved["torch"] is None


def test_an_option_set_xla_rejects_is_recorded_as_failed(tmp_path):
    result = cpu_kernels.main(["--quick", "--kernels", "dense", "--repeats", "1", "--no-torch",
                               "--flags=--xla_cpu_no_such_option=true", "--out", str(tmp_path)])
    (option_set,) = result["option_sets"]
    assert option_set["status"] == "failed" and "xla_cpu_no_such_option" in option_set["error"]
    assert result["torch"] is None and result["option_effects"]["baseline"] is None
    table = (tmp_path / "cpu_kernels.md").read_text()
    assert "| failed: " in table and "No XLA-defaults set" in table


def test_bad_arguments_fail_before_running_anything(tmp_path):
    for argv in (["--kernels", "dense,gemm"], ["--repeats", "0"]):
        with pytest.raises(SystemExit):
            cpu_kernels.main([*argv, "--out", str(tmp_path)])
    assert not list(tmp_path.iterdir())


def test_row_matmul_convolution_equals_the_convolution():
    x, w = cpu_kernels.case_operands(cpu_kernels.Case("conv3x3", (2, 5, 7, 8, 6)))
    want = cpu_kernels.conv3x3(x, w)
    got = cpu_kernels.jax_kernel("conv3x3_rows", "float32")(x, w)
    assert got.shape == want.shape == (2, 5, 7, 6)
    assert relative_error(got, want) <= 1e-5
