"""A run killed while writing a checkpoint: the newest checkpoint lacks trainer_state.json (the
Trainer writes it last). `--resume` continues from the last complete checkpoint and says so; a
fresh start works when no checkpoint is complete; incomplete ones are set aside, not deleted.
Real training of the tiny random Qwen3 on CPU."""

from __future__ import annotations

import json
import shutil

import pytest

from finetune.train import train
from lexkz.errors import LexkzError
from tests.test_finetune_train import tiny_cfg, write_overfit_set

KW = dict(max_steps=6, eval_steps=0, save_steps=2, save_total_limit=5)


def test_resume_skips_a_checkpoint_torn_by_a_kill(tiny_model_dir, tmp_path, capsys):
    data = write_overfit_set(tmp_path / "data")
    run = tmp_path / "run"
    train(tiny_cfg(tiny_model_dir, data, run, stop_after_steps=4, **KW))  # saves checkpoint-2 and checkpoint-4
    ckpts = run / "checkpoints"
    assert (ckpts / "checkpoint-2" / "trainer_state.json").is_file()
    (ckpts / "checkpoint-4" / "trainer_state.json").unlink()  # the kill came before the last file of the save
    torn_files = sorted(p.name for p in (ckpts / "checkpoint-4").iterdir())
    spare = tmp_path / "spare"
    shutil.copytree(run, spare)
    capsys.readouterr()

    # a fresh start is refused while a complete checkpoint exists
    with pytest.raises(LexkzError, match="continue with --resume") as err:
        train(tiny_cfg(tiny_model_dir, data, run, **KW))
    assert err.value.exit_code == 4

    metrics = train(tiny_cfg(tiny_model_dir, data, run, resume=True, **KW))
    out = capsys.readouterr().out
    assert "checkpoint-4 is incomplete (no trainer_state.json" in out
    assert "resuming from checkpoint-2, the last complete checkpoint" in out
    assert metrics["global_step"] == 6 and metrics["steps_this_session"] == 4
    assert (run / "adapter" / "adapter_model.safetensors").is_file()
    assert sorted(p.name for p in (ckpts / "incomplete-checkpoint-4").iterdir()) == torn_files  # nothing lost
    record = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert record["derived"]["set_aside_checkpoints"] == ["incomplete-checkpoint-4"]
    assert record["derived"]["resumed_from"].endswith("checkpoint-2")

    # no complete checkpoint at all: --resume says why, a fresh start sets the torn ones aside and runs
    (spare / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2, "log_hi', encoding="utf-8")
    with pytest.raises(LexkzError, match="no complete checkpoint") as err:
        train(tiny_cfg(tiny_model_dir, data, spare, resume=True, **KW))
    assert err.value.exit_code == 3 and "trainer_state.json is cut off" in str(err.value)
    metrics = train(tiny_cfg(tiny_model_dir, data, spare, **KW))
    assert metrics["global_step"] == 6 and metrics["steps_this_session"] == 6
    from finetune.train import scan_checkpoints

    complete, incomplete = scan_checkpoints(spare / "checkpoints")
    assert complete.name == "checkpoint-6" and incomplete == []
    assert {"incomplete-checkpoint-2", "incomplete-checkpoint-4"} <= {p.name for p in (spare / "checkpoints").iterdir()}
