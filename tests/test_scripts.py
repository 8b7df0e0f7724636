"""The scripts under scripts/ (the model card's reports, the Kokoro voice fetcher, LM tuning) on
small made-up inputs."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def results_header() -> str:
    """The header of the model card's results.tsv."""
    columns = load_script("card_tables").RESULT_COLUMNS
    return "stage\t" + "\t".join(f"{c}_wer\t{c}_cer" for c in columns) + "\n"


def test_voice_breakdown_scores_each_voice_and_augmentation(tmp_path, capsys):
    vb = load_script("voice_breakdown")
    plan = [
        {"path": "dev/a/1.flac", "voice": "flite:rms", "augment": {}},
        {"path": "dev/a/2.flac", "voice": "flite:rms", "augment": {"noise": {"snr": 10}}},
        {"path": "dev/b/1.flac", "voice": "festival:ked_diphone", "augment": {}},
    ]
    (tmp_path / "dev.plan.jsonl").write_text("".join(json.dumps(r) + "\n" for r in plan))
    results = [
        # two words right of four for rms: WER 50%; ked all right; one path the plans lack
        {"path": str(tmp_path / "dev/a/1.flac"), "reference": "a cat", "hypothesis": "a cat"},
        {"path": str(tmp_path / "dev/a/2.flac"), "reference": "the dog", "hypothesis": "a dig"},
        {"path": str(tmp_path / "dev/b/1.flac"), "reference": "sat", "hypothesis": "sat"},
        {"path": str(tmp_path / "elsewhere.flac"), "reference": "x y", "hypothesis": ""},
    ]
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"results": results}))

    argv = [str(report), "--corpus", str(tmp_path), "--json", str(tmp_path / "t.json")]
    assert vb.main(argv) == 0
    tables = json.loads((tmp_path / "t.json").read_text())
    rms, ked, unknown = (tables["voice"][k] for k in ("flite:rms", "festival:ked_diphone", "?"))
    assert rms["utterances"] == 2 and rms["wer"] == pytest.approx(0.5)
    assert rms["cer"] == pytest.approx(4 / 12)  # "the dog" -> "a dig": 4 edits in 12 chars
    assert ked == {"utterances": 1, "wer": 0.0, "cer": 0.0}
    assert unknown["wer"] == pytest.approx(1.0)
    assert set(tables["augmentation"]) == {"none", "noise", "?"}
    out = capsys.readouterr().out
    assert "| flite:rms | 2 | 50.00 |" in out


def test_model_card_wall_time_crosses_midnight_and_skips_resume_pauses(tmp_path):
    card = load_script("model_card")
    log = tmp_path / "train.log"
    log.write_text(
        "23:00:00 INFO vocabulary: 32 tokens from init/vocab.json\n"
        "23:00:05 INFO training Wav2Vec2ConformerForCTC (7M parameters) on cpu x1\n"
        "23:40:05 INFO saved run/checkpoints/update_00000250.pt\n"
        # the process stops; it is resumed 2 h later, past midnight
        "01:40:00 INFO vocabulary: 32 tokens from run/vocab.json\n"
        "01:40:04 INFO train data: train.tsv: 10 of 10 utterances kept\n"
        "01:40:05 INFO resumed from run/checkpoints/update_00000250.pt (update 250)\n"
        "01:40:06 INFO training Wav2Vec2ConformerForCTC (7M parameters) on cpu x1\n"
        "02:00:06 INFO saved the final model to run/final\n"
    )
    assert card.wall_time(str(log)).total_seconds() == 40 * 60 + 1 + 20 * 60


def write_run(run: Path, options: dict, metrics: list[dict]) -> Path:
    """A kept run folder as `w2vc finetune` leaves it: config, log, metrics."""
    run.mkdir(parents=True)
    (run / "train_config.yaml").write_text("".join(f"{k}: {v}\n" for k, v in options.items()))
    (run / "train.log").write_text(
        "10:00:00 INFO training Wav2Vec2ConformerForCTC (7M parameters), 40 batches per epoch\n"
        "11:30:00 INFO saved the final model to run/final\n"
    )
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    return run


def write_stages(tmp_path: Path, inits: list[str]) -> list[list[str]]:
    """`--stage` entries of stages 2, 3, ... starting from `inits`: kept runs of 100 updates
    with one dev evaluation (CER 30%) and their options files."""
    train = {"split": "train", "epoch": 1, "loss": 1.5, "update": 100}
    dev = {"split": "dev", "update": 100, "loss": 2.0, "wer": 80.0, "cer": 30.0}
    stages = []
    for n, init in enumerate(inits, 2):
        opts = {"train": "t.tsv", "dev": "d.tsv", "init": init}
        run = write_run(tmp_path / f"stage{n}", opts, [train, dev])
        (tmp_path / f"stage{n}.yaml").write_text("max_updates: 100\n")
        stages.append([f"title {n}", str(tmp_path / f"stage{n}.yaml"), str(run), ""])
    return stages


def test_model_card_stage_sections_and_commands(tmp_path):
    card = load_script("model_card")
    train = {"split": "train", "epoch": 1, "loss": 1.5}
    metrics = [
        {**train, "update": 50},
        {"split": "dev", "update": 50, "loss": 2.0, "wer": 90.0, "cer": 40.0},
        {**train, "update": 100, "loss": 1.25},
        {"split": "dev", "update": 100, "loss": 1.75, "wer": 80.5, "cer": 35.25},
    ]
    stages = []
    for n, train_tsv in ((2, "data/corpus/train.tsv"), (3, "data/train_plus.tsv")):
        opts = {"train": train_tsv, "dev": "data/corpus/dev.tsv", "save_every": 25}
        run = write_run(tmp_path / f"stage{n}", opts, metrics)
        options_path = tmp_path / f"stage{n}.yaml"
        options_path.write_text(f"max_updates: 100  # stage {n}\n")
        stages.append([f"title {n}", str(options_path), str(run), f"note {n}." if n == 3 else ""])

    sections, commands = card.stage_sections(stages, average=4)
    assert "### Stage 2: title 2\n" in sections
    assert "### Stage 3: title 3 (the shipped weights)" in sections
    assert (
        "note 3. 100 updates (2.5 epochs over train) from stage 2's weights in\n1.5 h" in sections
    )
    assert "| 100 | 1 | 1.250 | 1.750 | 80.50 | 35.25 |" in sections
    assert "newest 4 checkpoints, 25 updates apart" in sections  # the last stage only
    assert sections.count("newest 4 checkpoints") == 1
    # each stage starts from the previous one's weights, on its own train manifest
    assert "--init runs/bundled/final \\\n    --train data/corpus/train.tsv" in commands
    assert "--init runs/stage2/final \\\n    --train data/train_plus.tsv" in commands
    assert commands.endswith(
        "w2vc average runs/stage3 --last 4 --out runs/stage3/avg4  # the shipped weights\n"
    )
    assert [card.number_word(n) for n in (2, 8, 13, 21)] == ["two", "eight", "thirteen", "21"]


def test_model_card_stage_from_named_init_and_shipped_mean(tmp_path):
    card = load_script("model_card")
    train = {"split": "train", "epoch": 1, "loss": 1.5, "update": 100}
    stages = []
    for n, init in (
        (2, "wav2vec2_conformer/assets/model"),
        (3, "runs/stage2/final"),
        (4, "runs/stage2/final"),
    ):
        dev = [
            {"split": "dev", "update": 50, "loss": 2.0, "wer": 80.0, "cer": 30.0 + n},
            {"split": "dev", "update": 100, "loss": 2.0, "wer": 85.0, "cer": 40.0 + n},
        ]
        opts = {"train": "t.tsv", "dev": "d.tsv", "save_every": 25, "init": init}
        run = write_run(tmp_path / f"stage{n}", opts, [train, *dev])
        (tmp_path / f"stage{n}.yaml").write_text("max_updates: 100\n")
        stages.append([f"title {n}", str(tmp_path / f"stage{n}.yaml"), str(run), ""])

    mean = card.Mean("mean", 4, "the mean", ["runs/stage3/best", "runs/stage4/final"])
    sections, commands = card.stage_sections(stages, means=[mean])
    # stage 4 started again from stage 2 (its init says so), not from stage 3
    assert (
        "--init runs/stage2/final \\\n    --train t.tsv --dev d.tsv --out runs/stage4" in commands
    )
    assert "from stage 2's weights" in sections.split("### Stage 4")[1]
    assert "(the shipped weights)" not in sections  # no single stage is shipped
    assert "### The shipped weights: the mean of two models (`runs/mean`)" in sections
    assert 'a "model\nsoup", Wortsman et al. 2022' in sections
    assert "- `runs/stage3/best`: stage 3's dev-best weights (update 50, 33.00%)" in sections
    assert "- `runs/stage4/final`: stage 4's final weights (update 100, 44.00%)" in sections
    assert commands.endswith(
        "w2vc average runs/stage3/best \\\n    runs/stage4/final \\\n"
        "    --out runs/mean  # the shipped weights\n"
    )
    with pytest.raises(ValueError, match="runs/stage9/final: not runs/stageN"):
        card.stage_sections(stages, means=[card.Mean("m", 4, "", ["runs/stage9/final"])])


def test_model_card_later_stages_start_from_the_mean_and_a_derived_folder(tmp_path):
    card = load_script("model_card")
    stages = write_stages(tmp_path, ["runs/stage1/final", "runs/mean", "runs/deep"])
    deepen = "w2vc deepen runs/mean --layers 8 --out runs/deep"
    derived = {"runs/deep": (deepen, "the mean's weights deepened to 8 layers")}
    mean = card.Mean("mean", 2, "the mean", ["runs/stage2/final"])
    sections, commands = card.stage_sections(stages, means=[mean], shipped="4", derived=derived)
    # the mean follows stage 2 and is not shipped; stage 4 is, from the deepened mean
    assert sections.index("### Stage 2") < sections.index("### The mean of one model")
    assert sections.index("### The mean of one model") < sections.index("### Stage 3")
    assert "### Stage 4: title 4 (the shipped weights)" in sections
    assert "from the mean's weights (`runs/mean`) in" in sections
    assert "from the mean's weights deepened to 8 layers in" in sections
    assert commands.index("--out runs/mean\n") < commands.index("--out runs/stage3")
    assert "# the shipped weights" not in commands
    assert f"{deepen}\nw2vc finetune --config" in commands
    assert "--init runs/mean \\\n" in commands and "--init runs/deep \\\n" in commands


def test_model_card_mean_of_an_earlier_mean_stored_as_int8(tmp_path):
    card = load_script("model_card")
    stages = write_stages(tmp_path, ["runs/stage1/final", "runs/first"])
    first = card.Mean("first", 2, "the first mean", ["runs/stage2/final"], dtype="int8")
    second = card.Mean("second", 3, "the second", ["runs/stage3/final", "runs/first"], dtype="int8")
    sections, commands = card.stage_sections(stages, means=[first, second], shipped="second")
    assert "- `runs/first`: the mean first above" in sections
    assert "    --out runs/first --dtype int8\n" in commands
    assert commands.endswith(
        "w2vc average runs/stage3/final \\\n    runs/first \\\n"
        "    --out runs/second --dtype int8  # the shipped weights\n"
    )
    # a mean may name only means made before it
    with pytest.raises(ValueError, match="runs/second: not runs/stageN"):
        card.stage_sections(stages, means=[card.Mean("m", 2, "", ["runs/second"]), second])


def test_model_card_package_folder_is_the_previous_stage_early_and_derived_later():
    card = load_script("model_card")
    package = {"init": "wav2vec2_conformer/assets/model"}
    derived = {package["init"]: ("# the shipped folder", "the shipped weights")}
    # stages 2 and 3 named the package's folder while it held the previous stage's model
    assert card.init_source(package, 2, derived) == ("stage 1's weights", "runs/bundled/final")
    assert card.init_source(package, 3, derived) == ("stage 2's weights", "runs/stage2/final")
    # later ones started from what it ships, which --derived describes
    assert card.init_source(package, 26, derived) == ("the shipped weights", package["init"])


def test_model_card_two_means_one_of_a_stage_and_a_derived_folder(tmp_path):
    card = load_script("model_card")
    stages = write_stages(tmp_path, ["runs/stage1/final", "runs/stage1/final", "runs/mean"])
    deepen = "w2vc deepen runs/mean --layers 8 --out runs/deep"
    derived = {"runs/deep": (deepen, "the mean deepened")}
    soup = card.Mean("mean", 3, "soup", ["runs/stage2/final", "runs/stage3/final"])
    wise = card.Mean("wise", 4, "wise", ["runs/stage4/final", "runs/deep"], why="Halfway back.")
    sections, commands = card.stage_sections(stages, means=[soup, wise], derived=derived)
    order = ["### Stage 3", "### The mean of two models (`runs/mean`)", "### Stage 4"]
    order.append("### The shipped weights: the mean of two models (`runs/wise`)")
    assert [sections.index(h) for h in order] == sorted(sections.index(h) for h in order)
    wise_section = sections.split("(`runs/wise`)\n")[1]
    assert "\nHalfway back.\nThe mean (`runs/wise`) averages" in wise_section
    assert "model soup" not in wise_section
    assert "- `runs/stage4/final`: stage 4's final weights (update 100, 30.00%)" in wise_section
    assert "- `runs/deep`: the mean deepened" in wise_section
    # the derived folder is made before the first command that needs it: here the mean's
    assert commands.index("--out runs/stage4") < commands.index(deepen)
    assert commands.endswith(
        f"{deepen}\nw2vc average runs/stage4/final \\\n    runs/deep \\\n"
        "    --out runs/wise  # the shipped weights\n"
    )
    assert card.row_ids(4, [wise, soup]) == ["1", "2", "3", "mean", "4", "wise"]
    assert card.row_ids(3, [soup, card.Mean("again", 3, "", [])]) == [
        "1",
        "2",
        "3",
        "mean",
        "again",
    ]
    with pytest.raises(ValueError, match="mean wise: no stage 4 to follow"):
        card.row_ids(3, [wise])
    with pytest.raises(ValueError, match="mean 2: the name of a stage"):
        card.row_ids(3, [card.Mean("2", 3, "", [])])


def test_model_card_main_writes_a_card_shipping_a_mean_stored_as_float16(tmp_path, monkeypatch):
    from safetensors.numpy import save_file

    card = load_script("model_card")
    corpus, model = tmp_path / "corpus", tmp_path / "model"
    corpus.mkdir()
    model.mkdir()
    split = {"voices": ["flite:rms"], "hours": 0.5, "utterances": 9}
    (corpus / "voices.json").write_text(json.dumps({"train": split, "dev": split, "eval": split}))
    (corpus / "train.jsonl").write_text(
        json.dumps({"engine": "flite", "seconds": 1800, "voice": "flite:kal16", "augment": {}})
    )
    config = {"hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2}
    config |= {"intermediate_size": 16, "position_embeddings_type": "rotary", "conv_dim": [8]}
    (model / "config.json").write_text(json.dumps(config | {"vocab_size": 32, "dtype": "float16"}))
    save_file({"w": np.zeros((10, 100), np.float16)}, str(model / "model.safetensors"))
    (model / "language_model").mkdir()
    attrs = {"alpha": 0.7, "beta": 1.0, "unk_score_offset": -10.0, "beam_size": 256}
    attrs |= {"token_min_logp": -12, "blank_offset": -0.5, "temperature": 1.25}
    (model / "language_model" / "attrs.json").write_text(json.dumps(attrs))
    (model / "language_model" / "lm.arpa").write_text("\\data\\\nngram 1=0\n\\end\\\n")
    fe = {"chunk_length_s": 5.0, "split_at_pauses": True, "sampling_rate": 16000}
    (model / "preprocessor_config.json").write_text(json.dumps(fe))
    train = {"split": "train", "epoch": 1, "loss": 1.5, "update": 100}
    dev = {"split": "dev", "update": 100, "loss": 2.0, "wer": 80.0, "cer": 30.0}
    opts = {"train": "t.tsv", "dev": "d.tsv", "init": "runs/deep", "preset": "tiny"}
    run = write_run(tmp_path / "stage2", opts, [train, dev])
    (tmp_path / "stage2.yaml").write_text("max_updates: 100\n")
    header = results_header()
    results = tmp_path / "results.tsv"
    rows = "1\t90\t45\t-\t-\t95\t53\t-\t-\n2\t80\t40\t-\t-\t85\t45\t-\t-\n"
    results.write_text(header + rows + "wise\t70\t30\t50\t20\t75\t35\t65\t34\n")
    for name in ("history", "voices"):
        (tmp_path / f"{name}.md").write_text(f"the {name}\n")
    args = ["--corpus", str(corpus), "--model", str(model), "--results", str(results)]
    args += ["--stage", "deeper", str(tmp_path / "stage2.yaml"), str(run), ""]
    args += ["--derived", "runs/deep", "w2vc deepen runs/old --out runs/deep", "deepened"]
    args += ["--mean", "wise", "2", "the wise mean", "runs/stage2/final", "runs/deep"]
    args += ["--mean-why", "wise", "Back towards the start."]
    args += ["--baseline", "WER 36% CER 18%", "--heldout-baseline", "WER 30% CER 15%"]
    args += ["--history", str(tmp_path / "history.md"), "--voices", str(tmp_path / "voices.md")]
    args += ["--store-dtype", "float16", "--out", str(tmp_path / "README.md")]
    monkeypatch.setattr(sys, "argv", ["model_card.py", *args])
    card.main()
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "| greedy (`--no-lm`) | WER 70% CER 30% | WER 75% CER 35% |" in text
    assert "| default: beam 256 with the model's word LM (`language_model/`) | WER 50%" in text
    lm_settings = "alpha 0.7, beta 1.0, unknown-word offset\n-10, beam 256, token_min_logp -12"
    assert lm_settings + ", blank offset -0.5, temperature 1.25) were" in text
    assert "sets `chunk_length_s` 5\nand `split_at_pauses` true," in text
    assert "| wise | the wise mean | 70 / 30 | 50 / 20 | 75 / 35 | 65 / 34 |" in text
    assert "### The shipped weights: the mean of two models (`runs/wise`)" in text
    assert "Back towards the start.\nThe mean (`runs/wise`)" in text
    assert "`model.safetensors` 0.0 MiB (float16)" in text
    store = "w2vc average runs/wise --dtype float16 --out runs/shipped  # the shipped weights"
    assert store in text and "--model runs/shipped --no-lm" in text
    assert "The shipped folder is `runs/shipped`" in text
    # a mean's name must be new, its stage must exist, and --mean-why must name a mean
    for bad in (["--mean", "2", "1", "t", "d"], ["--mean", "m", "7", "t", "d"], ["--mean", "m"]):
        monkeypatch.setattr(sys, "argv", ["model_card.py", *args, *bad])
        with pytest.raises(SystemExit):
            card.main()
    monkeypatch.setattr(sys, "argv", ["model_card.py", *args, "--mean-why", "nope", "x"])
    with pytest.raises(SystemExit):
        card.main()


def test_model_card_results_table_names_stages_and_gives_the_shipped_numbers(tmp_path):
    card = load_script("model_card")
    tsv = tmp_path / "results.tsv"
    header = results_header()
    tsv.write_text(
        header + "1\t90.5\t45.25\t-\t-\t95\t53\t-\t-\n2\t80\t40\t70\t35\t85\t45\t75\t44\n"
    )
    table, shipped = card.results_table(str(tsv), ["fresh", "longer"])
    assert "| stage | change | dev greedy | dev LM | eval greedy | eval LM |" in table
    assert "| 1 | fresh | 90.5 / 45.25 | - | 95 / 53 | - |" in table
    assert "| 2 | longer | 80 / 40 | 70 / 35 | 85 / 45 | 75 / 44 |" in table
    assert shipped == ["WER 80% CER 40%", "WER 70% CER 35%", "WER 85% CER 45%", "WER 75% CER 44%"]
    with pytest.raises(ValueError, match="needs the rows 1, 2, 3 in order, found 1, 2$"):
        card.results_table(str(tsv), ["fresh", "longer", "missing"])
    tsv.write_text(header + "1\t90\t45\t-\t-\t95\t53\t-\t-\n")
    with pytest.raises(ValueError, match="needs every result"):
        card.results_table(str(tsv), ["fresh"])
    # the shipped mean of several stages: a last row `mean`, whose numbers are the shipped ones
    tsv.write_text(header + "1\t90\t45\t-\t-\t95\t53\t-\t-\nmean\t80\t40\t70\t35\t85\t45\t75\t44\n")
    mean = card.Mean("mean", 1, "the mean", [])
    table, shipped = card.results_table(str(tsv), ["fresh"], means=[mean])
    assert "| mean | the mean | 80 / 40 | 70 / 35 | 85 / 45 | 75 / 44 |" in table
    assert shipped[0] == "WER 80% CER 40%"
    with pytest.raises(ValueError, match="needs the rows 1 in order, found 1, mean"):
        card.results_table(str(tsv), ["fresh"])
    # a mean made after stage 1, and stage 2 shipped
    rows = "1\t90\t45\t-\t-\t95\t53\t-\t-\nmean\t80\t40\t-\t-\t85\t45\t-\t-\n"
    tsv.write_text(header + rows + "2\t70\t30\t60\t25\t75\t35\t65\t34\n")
    table, shipped = card.results_table(str(tsv), ["fresh", "deeper"], [mean], shipped="2")
    assert table.splitlines()[3] == "| mean | the mean | 80 / 40 | - | 85 / 45 | - |"
    assert shipped[1] == "WER 60% CER 25%"
    with pytest.raises(ValueError, match=r"the shipped model's row \(mean\) needs every result"):
        card.results_table(str(tsv), ["fresh", "deeper"], means=[mean])


def test_model_card_corpus_tables_count_engines_and_augmentations(tmp_path):
    card = load_script("model_card")
    rows = [
        {"engine": "flite", "voice": "flite:awb", "seconds": 1800, "augment": {}},
        {"engine": "flite", "voice": "flite:kal", "seconds": 1800, "augment": {"noise": {}}},
        {"engine": "piper", "voice": "piper:joe", "seconds": 3600, "augment": {"noise": {}}},
        {"engine": "piper", "voice": "piper:joe", "seconds": 7200, "augment": {"reverb": []}},
    ]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    voices, aug = card.corpus_tables(str(tmp_path))
    lines = voices.splitlines()
    assert lines[2:] == ["| piper | 1 | 2 | 3.00 |", "| flite | 2 | 2 | 1.00 |"]
    assert aug == "noise 50%, none 25%, reverb 25%"


def test_fetch_kokoro_voices_takes_the_voice_files_and_licence(tmp_path, capsys):
    import io
    import tarfile

    fetch = load_script("fetch_kokoro_voices")
    style = np.arange(510 * 256, dtype="<f4")
    files = {
        "kokoro-9.9/kokoro.js/voices/af_one.bin": style.tobytes(),
        "kokoro-9.9/kokoro.js/voices/bm_two.bin": (style * 2).tobytes(),
        "kokoro-9.9/LICENSE": b"Apache License",
        "kokoro-9.9/kokoro.js/LICENSE": b"not the top one",
        "kokoro-9.9/kokoro.js/demo/sound.bin": b"not a voice",
    }
    sdist = tmp_path / "kokoro-9.9.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "voices"
    assert fetch.main([str(out), "--sdist", str(sdist)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["LICENSE", "af_one.bin", "bm_two.bin"]
    assert (out / "LICENSE").read_bytes() == b"Apache License"
    assert np.array_equal(np.fromfile(out / "bm_two.bin", dtype="<f4"), style * 2)
    assert "3 files written, 2 voices" in capsys.readouterr().out
    assert fetch.extract(str(sdist), str(out)) == 0  # files already there are kept

    with tarfile.open(tmp_path / "bad.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("kokoro-9.9/kokoro.js/voices/short.bin")
        info.size = 8
        tar.addfile(info, io.BytesIO(b"\0" * 8))
    with pytest.raises(ValueError, match=r"short.bin: 2 values, a Kokoro voice has 130560"):
        fetch.extract(str(tmp_path / "bad.tar.gz"), str(out))
    assert not (out / "short.bin").exists()


def test_tune_lm_compares_several_lms_and_installs_the_best(tmp_path, monkeypatch, capsys):
    import soundfile as sf
    from test_transcribe import SR, make_model_dir, speechlike

    from wav2vec2_conformer.ngram import estimate, write_arpa

    model = make_model_dir(tmp_path / "model")
    rows = []
    for i, text in enumerate(["hello world", "the lazy dog"]):
        sf.write(tmp_path / f"{i}.wav", speechlike(1.0, i), SR)
        rows.append(f"{tmp_path / f'{i}.wav'}\t{text}")
    (tmp_path / "dev.tsv").write_text("\n".join(rows) + "\n")
    lms = [tmp_path / "a.arpa.gz", tmp_path / "b.arpa.gz"]
    write_arpa(estimate(["hello world", "the lazy dog"], 2), lms[0])
    write_arpa(estimate(["the quick brown fox"], 2, ["hello", "world"]), lms[1])
    argv = ["tune_lm", "--model", str(model), "--dev", str(tmp_path / "dev.tsv"),
            "--lm", *map(str, lms), "--alpha", "0.5,1.0", "--beta", "0.0", "--unk-offset", "-10",
            "-20", "--beam-size", "4", "--token-min-logp", "-5", "-12", "--blank-offset", "0",
            "-0.5", "--temperature", "1", "1.5", "--install"]  # fmt: skip
    monkeypatch.setattr("sys.argv", argv)
    load_script("tune_lm").main()
    out, err = capsys.readouterr()
    assert f"{lms[0]}: best alpha" in out and f"{lms[1]}: best alpha" in out
    best = next(line for line in out.splitlines() if line.startswith("best: "))
    winner = lms[0] if f"best: {lms[0]} " in best else lms[1]
    installed = model / "language_model"
    assert (installed / "lm.arpa.gz").read_bytes() == winner.read_bytes()
    attrs = json.loads((installed / "attrs.json").read_text())
    assert "unk -10.0" in err and "unk -20.0" in err  # "-10 -20": a grid of two offsets
    assert attrs["unk_score_offset"] in (-10, -20) and attrs["alpha"] in (0.5, 1.0)
    assert attrs["beam_size"] == 4 and attrs["token_min_logp"] in (-5, -12)
    assert "token_min  -5.0" in err and "token_min -12.0" in err
    assert "blank  0.00" in err and "blank -0.50" in err and attrs["blank_offset"] in (0, -0.5)
    assert "temperature 1.00" in err and "temperature 1.50" in err
    assert attrs["temperature"] in (1, 1.5)
    assert f"alpha {attrs['alpha']} " in best and not list(installed.glob("*.tmp"))


def test_screen_mbrola_pairs_foreign_diphone_sets_with_english(tmp_path):
    from wav2vec2_conformer import synth

    screen = load_script("screen_mbrola")
    found = screen.candidates()
    installed = {d for d in synth._MBROLA_PAIRED if f"mb-{d}-en" in found}
    if not installed or not shutil.which("espeak-ng"):
        pytest.skip("no paired mbrola diphone set installed (scripts/install_tts.sh)")
    for db in installed:  # the voice files the corpus builder writes are the screened ones
        assert found[f"mb-{db}-en"] == synth.paired_voice_text(db, *synth._MBROLA_PAIRED[db])
    manifest = tmp_path / "m.tsv"
    manifest.write_text("a.wav\tthe cars raced down the street\nb.wav\tshe was here\n")
    screen.main([str(manifest), "--out", str(tmp_path / "out"), "--sentences", "1"])
    rows = (tmp_path / "out" / "screen.md").read_text().splitlines()
    db = sorted(installed)[0]
    row = next(r for r in rows if r.startswith(f"| mb-{db}-en |")).split(" | ")
    assert row[1] == "yes" and int(row[2]) <= 2  # paired here, few diphones lost
    wav = tmp_path / "out" / f"mb-{db}-en" / "0.wav"
    assert (
        wav.stat().st_size > 10_000 and str(wav) in (tmp_path / "out" / "manifest.tsv").read_text()
    )


def test_greedy_soup_keeps_the_candidates_that_do_not_hurt(tmp_path, capsys):
    import soundfile as sf
    import torch
    from test_transcribe import SR, make_model_dir, speechlike

    from wav2vec2_conformer.average import mean_state, read_weights
    from wav2vec2_conformer.checkpoint import load_state_dict

    models = [str(make_model_dir(tmp_path / f"m{seed}", seed=seed)) for seed in range(3)]
    shutil.copytree(models[0], tmp_path / "copy")  # the same weights again: never hurts
    models.append(str(tmp_path / "copy"))
    rows = []
    for i, text in enumerate(["hello world", "the lazy dog", "a cat"]):
        sf.write(tmp_path / f"{i}.wav", speechlike(1.0, i), SR)
        rows.append(f"{tmp_path / f'{i}.wav'}\t{text}")
    (tmp_path / "dev.tsv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "soup"
    load_script("greedy_soup").main(
        ["--dev", str(tmp_path / "dev.tsv"), "--out", str(out), *models]
    )
    lines = capsys.readouterr().out.splitlines()
    cells = [line.split("|") for line in lines if line.startswith("| ")]
    alone = {c[2].strip(): float(c[4]) for c in cells if c[1].strip() == "alone"}
    assert sorted(alone) == sorted(models)
    steps = [c for c in cells if c[1].strip().isdigit()]
    names = [s[2].strip().removeprefix("+ ") for s in steps]
    assert names == sorted(models, key=lambda c: alone[c])  # best first (a stable sort)
    best, kept = float(steps[0][4]), [names[0]]
    for s, name in zip(steps[1:], names[1:], strict=True):
        cer, said = float(s[4]), s[5].strip()
        assert said == ("yes" if cer <= best else "no")
        if said == "yes":
            best, kept = cer, [*kept, name]
    if names[0] in (models[0], models[3]):  # its copy comes next and changes nothing
        assert {models[0], models[3]} <= set(kept)
    assert lines[-1] == "w2vc average " + " ".join(kept) + f" --out {out}"
    want = mean_state((k, read_weights(k)) for k in kept)
    got = load_state_dict(str(out))
    assert all(torch.allclose(got[k], want[k]) for k in want)


def test_long_form_joins_each_voices_utterances_with_pauses(tmp_path):
    import soundfile as sf

    long_form = load_script("long_form")
    rows = []
    for voice, n in (("flite-rms", 3), ("pico-en", 1)):
        (tmp_path / voice).mkdir()
        for i in range(n):
            sf.write(tmp_path / voice / f"{i}.wav", np.full(8000 + 1000 * i, 0.1), 16000)
            rows.append(f"{voice}/{i}.wav\tSentence {i}  Said")
    (tmp_path / "dev.tsv").write_text("\n".join(rows) + "\n")
    long_form.main([str(tmp_path / "dev.tsv"), "--out", str(tmp_path / "out"), "--per-file", "2"])
    # rms fills one file of two (its third is left out); pico's one utterance fills none
    manifest = (tmp_path / "out" / "long.tsv").read_text()
    assert manifest == "flite-rms_00.flac\tsentence 0 said sentence 1 said\n"
    audio, sr = sf.read(tmp_path / "out" / "flite-rms_00.flac")
    assert sr == 16000 and len(audio) == 8000 + 9000 + 2 * 6400  # each followed by 0.4 s
    assert np.all(audio[8000:14400] == 0) and audio[14400] > 0.09
    with pytest.raises(ValueError, match="no voice has 5 utterances"):
        long_form.join(str(tmp_path / "dev.tsv"), str(tmp_path / "none"), per_file=5)
    long_form.join(str(tmp_path / "dev.tsv"), str(tmp_path / "noisy"), 2, noise_snr=20)
    noisy, _ = sf.read(tmp_path / "noisy" / "flite-rms_00.flac")
    pause_power = np.mean(noisy[8000:14400] ** 2)  # speech power 0.01: noise 20 dB below it
    assert noisy.shape == audio.shape and 0.5e-4 < pause_power < 2e-4


def test_long_form_scores_chunk_lengths_and_installs_the_best(tmp_path, capsys):
    import soundfile as sf
    from test_transcribe import SR, make_model_dir, speechlike

    from wav2vec2_conformer.transcribe import load_pipeline

    long_form = load_script("long_form")
    model = make_model_dir(tmp_path / "model")
    (tmp_path / "v").mkdir()
    rows = []
    for i in range(4):
        sf.write(tmp_path / "v" / f"{i}.wav", speechlike(2.5, i), SR)
        rows.append(f"v/{i}.wav\thello world")
    (tmp_path / "dev.tsv").write_text("\n".join(rows) + "\n")
    args = [str(tmp_path / "dev.tsv"), "--out", str(tmp_path / "out"), "--per-file", "4"]
    cmd = [*args, "--model", str(model), "--chunk-lengths", "0,3,6", "--split-at-pauses", "both"]
    long_form.main([*cmd, "--noise-snr", "20", "--install"])
    out = capsys.readouterr().out
    found = re.findall(
        r"chunk length ([\d.]+) s(, split at pauses)?: WER ([\d.]+)% CER ([\d.]+)%", out
    )
    scores = {(float(s), bool(p)): (float(w), float(c)) for s, p, w, c in found}
    assert sorted(scores) == [(x, p) for x in (0.0, 3.0, 6.0) for p in (False, True)]
    best = min(scores, key=scores.get)  # by WER, then CER; ties: the first listed
    assert f"best: chunk length {best[0]:g} s{', split at pauses' if best[1] else ''}:" in out
    pipe = load_pipeline(model)
    assert (pipe.chunk_length_s, pipe.split_at_pauses) == (best[0] or None, best[1])
    with pytest.raises(SystemExit):
        long_form.main([*args, "--install"])  # --install needs --model
    # the shortest pause cut at as a third axis
    long_form.main(
        [*cmd[:-1], "yes", "--chunk-lengths", "3", "--min-pauses", "0.2,0.5", "--install"]
    )
    out = capsys.readouterr().out
    assert "chunk length 3 s, split at pauses of 0.2 s or more: WER" in out
    assert "chunk length 3 s, split at pauses of 0.5 s or more: WER" in out
    best = float(re.search(r"best: chunk length 3 s, split at pauses of ([\d.]+) s", out)[1])
    assert load_pipeline(model).min_pause_s == best
    with pytest.raises(SystemExit):
        long_form.main([*cmd[:-1], "no", "--min-pauses", "0.2"])  # no cuts to set
