"""``hummingbird generate`` end to end on CPU with a random-init tiny model, and its input checks."""

import numpy as np
import pytest

from hummingbird_jax import cli, registry, video_io
from hummingbird_jax.commands.generate import slugify, unique_stems
from hummingbird_jax.inference import TextToVideo

# float32 whatever the CPU: the files are compared with the library's float32 generation.
SMALL = ["--frames", "3", "--height", "64", "--width", "128", "--steps", "2", "--dtype", "float32"]


def luma(video):
    return video.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def test_generate_writes_playable_mp4_and_gif_per_prompt(tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("A corgi on the beach!\n\n   \nclouds over a lake\n", encoding="utf-8")
    out = tmp_path / "videos"
    rc = cli.main(["generate", "a red fox", "--prompts-file", str(prompts), "--random-init", "tiny-0.7b",
                   "--batch-size", "2", "--seed", "3", "--out", str(out), *SMALL])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "timings (s): load" in printed and "/step" in printed and "| write" in printed
    stems = ("a-red-fox", "a-corgi-on-the-beach", "clouds-over-a-lake")
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{s}.{ext}" for s in stems for ext in ("mp4", "gif"))
    info = video_io.video_info(out / "a-red-fox.mp4")
    assert (info["codec"], info["pix_fmt"], info["width"], info["height"], info["frames"], info["fps"]) == (
        "h264", "yuv420p", 128, 64, 3, 8.0)
    assert video_io.read_video(out / "a-corgi-on-the-beach.gif").shape == (3, 64, 128, 3)

    # The files hold what the library generates for the same seed. Random weights give noise-like
    # pictures whose colour H.264 (yuv420p) subsamples away, so compare brightness, and against a
    # different video of the same model as the yardstick.
    bundle = TextToVideo.random_init("tiny-0.7b", seed=3)
    kw = dict(steps=2, frames=3, height=64, width=128, seed=3)
    first_two = bundle.generate(["a red fox", "A corgi on the beach!"], **kw)
    third = bundle.generate(["clouds over a lake"], first_index=2, **kw)
    assert third.shape == (1, 3, 64, 128, 3) and third.dtype == np.uint8 and third.std() > 1
    for index, stem in enumerate(stems):
        decoded = luma(video_io.read_video(out / f"{stem}.mp4"))
        own = np.concatenate([first_two, third])[index]
        other = np.concatenate([first_two, third])[(index + 1) % 3]
        err_own, err_other = np.abs(decoded - luma(own)).mean(), np.abs(decoded - luma(other)).mean()
        assert err_own < 6 and err_own < 0.5 * err_other, (stem, err_own, err_other)

    # a video does not depend on the batch it was generated in
    alone = bundle.generate(["A corgi on the beach!"], first_index=1, **kw)
    assert np.abs(alone[0].astype(int) - first_two[1].astype(int)).max() <= 1


@pytest.mark.parametrize(
    "argv,message",
    [
        (["a cat", "--checkpoint", "{tmp}/missing.ckpt"], "checkpoint not found"),
        (["--random-init", "tiny-0.7b"], "give a prompt or --prompts-file"),
        (["a cat"], "give --checkpoint PATH or --random-init PRESET"),
        (["--prompts-file", "{tmp}/empty.txt", "--random-init", "tiny-0.7b"], "has no prompts"),
        (["--prompts-file", "{tmp}/nope.txt", "--random-init", "tiny-0.7b"], "prompts file not found"),
        (["a cat", "--random-init", "tiny-0.7b", "--height", "100"], "height=100"),
        (["a cat", "--random-init", "tiny-0.7b", "--width", "520"], "width=520"),
        (["a cat", "--random-init", "tiny-0.7b", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_error_before_any_compute(tmp_path, capsys, argv, message):
    (tmp_path / "empty.txt").write_text("\n  \n")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert cli.main(["generate", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_output_names_are_readable_slugs_without_collisions():
    assert slugify("A Corgi, running on the BEACH!") == "a-corgi-running-on-the-beach"
    assert slugify("???") == "video"
    assert len(slugify("word " * 40)) <= 60
    assert unique_stems(["a cat", "A cat!", "dog"]) == ["a-cat", "a-cat-2", "dog"]


def test_random_init_takes_role_and_sampler_from_the_registry_entry():
    teacher = TextToVideo.random_init("tiny-teacher")  # no teacher flag: the entry is a teacher
    assert teacher.teacher and teacher.unet_config.time_cond_proj_dim is None
    assert teacher.default_sampler == registry.unet_entry("tiny-teacher").sampler == registry.PLAIN_TEACHER_SAMPLER
    student = TextToVideo.random_init("tiny-student")
    assert not student.teacher and student.default_sampler == registry.STUDENT_SAMPLER
    assert student.unet_config.time_cond_proj_dim == registry.GUIDANCE_EMBED_DIM
    as_teacher = TextToVideo.random_init("tiny-0.7b", teacher=True)  # the flag overrides the entry's role
    assert as_teacher.teacher and as_teacher.default_sampler == registry.TEACHER_SAMPLER


def test_teacher_samples_with_classifier_free_guidance():
    bundle = TextToVideo.random_init("tiny-0.7b", seed=1, teacher=True)
    assert bundle.unet_config.time_cond_proj_dim is None and bundle.num_noise_rows(2) == 2
    kw = dict(steps=2, frames=2, height=64, width=64, seed=0)
    timings = {}
    guided = bundle.generate(["a cat"], guidance=12.0, timings=timings, **kw)
    plain = bundle.generate(["a cat"], guidance=1.0, **kw)  # guidance is an argument: no recompilation
    assert guided.shape == (1, 2, 64, 64, 3) and guided.std() > 1
    assert np.abs(guided.astype(int) - plain.astype(int)).mean() > 1
    assert timings["compile"] > 0
