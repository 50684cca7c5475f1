"""The charlm trainer: command-line errors, bit-for-bit resume, data-parallel gradients and
a 2-process run, the truncated-BPTT pieces (streams, segments, clipping, detach), and the
ways a run could lose work (overwritten checkpoints, paths that fail late, a resume that
forgets its settings, damaged checkpoints, stale temporary files)."""

import importlib
import subprocess
import sys

import pytest
import torch

from lstm_ref.train import tbptt
from lstm_ref.train.charlm import Config, train
from lstm_ref.train.charlm.cli import main
from lstm_ref.train.charlm.ddp import ddp_gradient_check
from lstm_ref.train.charlm.train import load_checkpoint, merge_resumed

train_module = importlib.import_module("lstm_ref.train.charlm.train")  # the module, not train()

TEXT = ("To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to "
        "suffer\nThe slings and arrows of outrageous fortune,\n") * 5


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text(TEXT)
    return str(path)


def _small(corpus, **kw):
    base = dict(device="cpu", hidden=12, layers=2, batch=4, bptt=8, steps=24, lr=1e-2,
                corpus=corpus, eval_chars=40, sample_len=20, threads=1, log_every=100)
    base.update(kw)
    return Config(**base)


# --- the command line -------------------------------------------------------------------


@pytest.mark.parametrize("argv,message", [
    (["--steps", "0"], "--steps must be a positive integer"),
    (["--bogus"], "unrecognized arguments"),
    (["--model", "lstm"], "invalid choice"),
    (["--amp", "fp8"], "invalid choice"),
    (["--lr", "x"], "invalid float value"),
    (["--batch", "5", "--nproc", "2"], "divisible"),
    (["--resume"], "--resume needs --checkpoint"),
    (["--corpus", "/no/such/file"], "no corpus"),
    (["--clip", "-1"], "--clip must be >= 0"),
    (["--eval-chars", "10"], "held-out evaluation needs"),
    (["--amp", "fp16", "--device", "cpu"], "--amp fp16 needs --device cuda"),
    (["--bptt", "100000"], "--bptt 100000 is longer than the training streams allow"),
    (["--resume", "--force", "--checkpoint", "x"], "contradict each other"),
])
def test_bad_arguments_give_one_line_and_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_missing_and_corrupt_checkpoints(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "none"), "--resume"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main(["--checkpoint", str(tmp_path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "corrupt" in err and err.count("\n") == 1
    torch.save({"format": "something else"}, tmp_path / "checkpoint.pt")
    assert main(["--checkpoint", str(tmp_path), "--resume"]) == 2
    assert "not a charlm checkpoint" in capsys.readouterr().err


def test_cuda_without_gpu_is_a_clean_error_not_a_traceback():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: --device cuda is valid here")
    done = subprocess.run([sys.executable, "-m", "lstm_ref.train.charlm", "--device", "cuda"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_resume_contradicting_the_checkpoint_is_refused(corpus, tmp_path, capsys):
    ck = str(tmp_path / "ck")
    train(_small(corpus, steps=2, checkpoint=ck, sample_len=0), echo=lambda *a: None)
    assert main(["--checkpoint", ck, "--resume", "--hidden", "64", "--corpus", corpus]) == 2
    assert "contradicts the checkpoint" in capsys.readouterr().err


# --- checkpoints ------------------------------------------------------------------------


def test_resume_after_k_steps_equals_an_uninterrupted_run_bit_for_bit(corpus, tmp_path):
    quiet = lambda *a, **k: None  # noqa: E731
    whole = train(_small(corpus, checkpoint=str(tmp_path / "a")), echo=quiet)
    # the streams hold 17 segments: the interrupted run stops at 10, before the wrap at 17
    train(_small(corpus, checkpoint=str(tmp_path / "b"), stop_after=10), echo=quiet)
    assert load_checkpoint(str(tmp_path / "b"))["step"] == 10
    resumed = train(_small(corpus, checkpoint=str(tmp_path / "b"), resume=True), echo=quiet)
    a, b = load_checkpoint(str(tmp_path / "a")), load_checkpoint(str(tmp_path / "b"))
    assert a["step"] == b["step"] == 24
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for k, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][k][name]), (k, name)
    assert a["scheduler"] == b["scheduler"] and a["position"] == b["position"]
    assert all(torch.equal(s, t) for s, t in zip(a["state"], b["state"]))
    assert [r["loss"] for r in whole["curve"]] == [r["loss"] for r in resumed["curve"]]
    assert whole["sample"] == resumed["sample"] and len(whole["sample"]) == 20
    assert (tmp_path / "a" / "curve.csv").read_text().count("\n") == 25


def test_a_run_without_the_state_in_the_checkpoint_would_differ(corpus, tmp_path):
    """The control of the resume test: it can fail (dropping the carried state changes
    the parameters), so its equality is not an accident of the setup."""
    quiet = lambda *a, **k: None  # noqa: E731
    train(_small(corpus, checkpoint=str(tmp_path / "a"), sample_len=0), echo=quiet)
    train(_small(corpus, checkpoint=str(tmp_path / "b"), stop_after=10), echo=quiet)
    ck = load_checkpoint(str(tmp_path / "b"))
    ck["state"] = None
    torch.save(ck, tmp_path / "b" / "checkpoint.pt")
    train(_small(corpus, checkpoint=str(tmp_path / "b"), resume=True, sample_len=0),
          echo=quiet)
    a, b = load_checkpoint(str(tmp_path / "a")), load_checkpoint(str(tmp_path / "b"))
    assert not all(torch.equal(v, b["model"][k]) for k, v in a["model"].items())


# --- several processes ------------------------------------------------------------------


def test_ddp_gradient_equals_single_process_gradient_float64():
    diff, scale = ddp_gradient_check(nproc=2, timeout=90)
    assert scale > 1e-3
    assert diff <= 1e-12


def test_two_process_run_lowers_the_loss_and_saves_every_stream(tmp_path):
    result = train(Config(device="cpu", nproc=2, hidden=32, batch=8, bptt=16, steps=20,
                          lr=1e-2, eval_chars=400, sample_len=0, log_every=100,
                          checkpoint=str(tmp_path)), echo=lambda *a: None, timeout=90)
    losses = [r["loss"] for r in result["curve"]]
    assert result["nproc"] == 2 and len(losses) == 20
    assert sum(losses[-3:]) / 3 < losses[0] - 0.5
    h, c = load_checkpoint(str(tmp_path))["state"]  # gathered from both processes
    assert h.shape == c.shape == (1, 8, 32)


# --- the truncated-BPTT pieces ----------------------------------------------------------


def test_streams_are_contiguous_columns_and_segments_cover_them():
    data = torch.arange(23)
    s = tbptt.make_streams(data, 4)
    assert s.shape == (5, 4) and torch.equal(s[:, 2], torch.arange(10, 15))
    pieces = tbptt.segments(s, 3)
    assert [tuple(x.shape) for x, _ in pieces] == [(3, 4), (1, 4)]
    for x, y in pieces:
        assert torch.equal(x[1:], y[:-1])
    assert torch.equal(torch.cat([x for x, _ in pieces]), s[:-1])
    with pytest.raises(ValueError, match="too short"):
        tbptt.make_streams(torch.arange(5), 4)


def test_clip_global_norm_matches_torch():
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 4, generator=gen, dtype=torch.float64),
             torch.randn(5, generator=gen, dtype=torch.float64)]
    clipped, total = tbptt.clip_global_norm(grads, 1.0)
    ref = [g.clone() for g in grads]
    ref_total = torch.nn.utils.clip_grad_norm_(ref, 1.0)  # clips .grad of params: use tensors
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    ref_total = torch.nn.utils.clip_grad_norm_(params, 1.0)
    assert abs(total - float(ref_total)) < 1e-12
    for c, p in zip(clipped, params):
        assert torch.allclose(c, p.grad, rtol=1e-6, atol=1e-12)
    same, _ = tbptt.clip_global_norm(grads, 1e6)
    assert all(torch.equal(a, b) for a, b in zip(same, grads))


def test_without_detach_the_second_backward_fails_and_the_graph_grows():
    ids = torch.randint(7, (2000,), generator=torch.Generator().manual_seed(0))
    demo = tbptt.no_detach_demo(ids, 7, hidden_size=8, batch=4, bptt=5, n_segments=4)
    assert "second time" in demo["error"]
    assert len(set(demo["detach"]["nodes"])) == 1
    grown = demo["retain_graph"]["nodes"]
    assert grown[-1] > 3.5 * grown[0] and grown == sorted(grown)


def test_train_tbptt_detaches_and_lowers_the_loss():
    streams = tbptt.make_streams(torch.arange(400) % 5, 4)  # a pattern it can learn
    params = tbptt.init_lm_params(5, 6, seed=0)
    losses, final = tbptt.train_tbptt(params, streams, 8, 0.5, 6)
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert set(final) == set(params) and not any(v.requires_grad for v in final.values())
    assert not torch.equal(final["w_hh"], params["w_hh"])


def test_carried_state_beats_reset_state_on_held_out_text():
    from lstm_ref.data.corpus import load_corpus

    train_ids, valid_ids, vocab = load_corpus()
    res = tbptt.carried_vs_reset(train_ids, valid_ids, len(vocab), hidden_size=32, batch=16,
                                 bptt=5, steps=40, seeds=(0,), eval_chars=1000)
    assert len(res["carried"]) == len(res["reset"]) == 1
    assert 1.0 < res["carried"][0] < 6.5 and 1.0 < res["reset"][0] < 6.5


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--device", "--model", "--amp", "--nproc", "--checkpoint", "--resume",
                   "--force", "--bptt", "--clip", "--temperature", "--sample-len",
                   "--eval-every"):
        assert option in out
    assert "(default: None)" not in out and "(default: --checkpoint) (default" not in out


# --- the trainer never loses work ---------------------------------------------------------


QUIET = lambda *a, **k: None  # noqa: E731


def _argv(corpus, ck, *extra):
    return ["--device", "cpu", "--hidden", "12", "--layers", "2", "--batch", "4", "--bptt",
            "8", "--steps", "4", "--corpus", corpus, "--eval-chars", "40", "--sample-len",
            "0", "--threads", "1", "--checkpoint", ck, *extra]


def test_an_existing_checkpoint_is_kept_unless_resume_or_force(corpus, tmp_path, capsys):
    ck = str(tmp_path / "ck")
    assert main(_argv(corpus, ck, "--steps", "2")) == 0
    before = (tmp_path / "ck" / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    assert main(_argv(corpus, ck)) == 2
    err = capsys.readouterr().err
    assert "already holds a checkpoint" in err and "--resume" in err and "--force" in err
    assert err.count("\n") == 1
    assert (tmp_path / "ck" / "checkpoint.pt").read_bytes() == before
    assert main(_argv(corpus, ck, "--force")) == 0
    assert load_checkpoint(ck)["step"] == 4


def test_a_curve_in_out_is_kept_unless_force(corpus, tmp_path, capsys):
    out = tmp_path / "curves"
    out.mkdir()
    (out / "curve.json").write_text("{}")
    argv = _argv(corpus, str(tmp_path / "ck"), "--out", str(out))
    assert main(argv) == 2
    assert "already holds a curve.json" in capsys.readouterr().err
    assert (out / "curve.json").read_text() == "{}" and not (tmp_path / "ck").exists()
    assert main(argv + ["--force"]) == 0 and (out / "curve.json").read_text() != "{}"


@pytest.mark.parametrize("flag", ["--checkpoint", "--out"])
def test_a_path_naming_a_file_fails_before_training(flag, corpus, tmp_path, capsys,
                                                    monkeypatch):
    afile = tmp_path / "a_file"
    afile.write_text("keep me")
    monkeypatch.setattr(train_module, "run_worker", lambda *a, **k: pytest.fail("trained"))
    argv = _argv(corpus, str(tmp_path / "ck"))
    for path in (afile, afile / "below"):
        if flag == "--checkpoint":
            argv[argv.index("--checkpoint") + 1] = str(path)
            assert main(argv) == 2
        else:
            assert main(argv + ["--out", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {flag} ") and "file" in err and err.count("\n") == 1
    assert afile.read_text() == "keep me"


def test_resume_restores_every_setting_and_accepts_only_compatible_flags(corpus, tmp_path,
                                                                          capsys):
    ck = str(tmp_path / "ck")
    first = _argv(corpus, ck, "--model", "ours", "--lr", "0.02", "--clip", "0.5",
                  "--seed", "3", "--steps", "6", "--stop-after", "3")
    assert main(first) == 0
    saved = load_checkpoint(ck)["config"]
    # resume with nothing but the directory: every setting comes back
    assert main(["--checkpoint", ck, "--resume", "--threads", "1"]) == 0
    done = load_checkpoint(ck)
    assert done["step"] == 6
    for name in ("model", "lr", "clip", "seed", "hidden", "layers", "batch", "bptt",
                 "corpus", "eval_chars", "sample_len"):
        assert done["config"][name] == saved[name], name
    # more steps are a compatible change
    assert main(["--checkpoint", ck, "--resume", "--steps", "8", "--threads", "1"]) == 0
    assert load_checkpoint(ck)["step"] == 8
    capsys.readouterr()
    for argv, flag in ((["--model", "cudnn"], "--model"), (["--clip", "1.0"], "--clip"),
                       (["--amp", "bf16"], "--amp"), (["--steps", "5"], "--steps"),
                       ([], "--steps")):  # a finished run: nothing to continue
        assert main(["--checkpoint", ck, "--resume", *argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {flag} ") and err.count("\n") == 1, err


def test_merge_resumed_keeps_the_saved_settings():
    saved = Config(model="ours", hidden=12, steps=10, lr=0.02, corpus="x")
    ckpt = {"config": vars(saved).copy(), "step": 4}
    merged = merge_resumed(Config(steps=20, eval_every=2), ckpt, {"steps", "eval_every"})
    assert (merged.model, merged.hidden, merged.lr, merged.corpus) == ("ours", 12, 0.02, "x")
    assert (merged.steps, merged.eval_every) == (20, 2)
    with pytest.raises(ValueError, match="--hidden 64 contradicts"):
        merge_resumed(Config(hidden=64), ckpt, {"hidden"})
    with pytest.raises(ValueError, match="--steps 3 is fewer than the 4 steps"):
        merge_resumed(Config(steps=3), ckpt, {"steps"})


def test_tokens_per_second_after_a_resume_counts_this_run_only(corpus, tmp_path):
    from lstm_ref.data.corpus import load_corpus

    ck = str(tmp_path / "ck")
    train(_small(corpus, checkpoint=ck, stop_after=10), echo=QUIET)
    resumed = train(_small(corpus, checkpoint=ck, resume=True), echo=QUIET)
    ids, _, _ = load_corpus(corpus)
    pieces = tbptt.segments(tbptt.make_streams(torch.as_tensor(ids), 4), 8)
    expected = sum(4 * pieces[k % len(pieces)][0].shape[0] for k in range(10, 24))
    assert resumed["run_tokens"] == expected
    assert resumed["tokens_per_s"] == pytest.approx(expected / resumed["seconds"])


def test_evaluation_runs_without_a_graph(corpus, monkeypatch):
    seen = []
    real = train_module.evaluate_bpc

    def spy(*args, **kwargs):
        seen.append(torch.is_grad_enabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate_bpc", spy)
    train(_small(corpus, steps=4, eval_every=2, sample_len=0), echo=QUIET)
    assert seen == [False, False]


def test_stale_temporary_files_are_removed_and_saves_are_synced(corpus, tmp_path,
                                                                 monkeypatch):
    ck = tmp_path / "ck"
    train(_small(corpus, steps=2, checkpoint=str(ck), sample_len=0), echo=QUIET)
    stale = [ck / "checkpoint.pt.k1l2m3.tmp", ck / "tmpab12cd34.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    keep = ck / "notes.tmp"  # not ours: left alone
    keep.write_text("mine")
    synced = []
    real_fsync = train_module.os.fsync
    monkeypatch.setattr(train_module.os, "fsync", lambda fd: synced.append(fd) or
                        real_fsync(fd))
    train(_small(corpus, steps=4, checkpoint=str(ck), sample_len=0, resume=True), echo=QUIET)
    assert not any(p.exists() for p in stale) and keep.read_text() == "mine"
    assert not list(ck.glob("checkpoint.pt.*.tmp"))
    assert len(synced) >= 2  # the checkpoint's file and its directory, at least
    assert load_checkpoint(str(ck))["step"] == 4


@pytest.mark.parametrize("damage,message", [
    (lambda ck: ck.pop("model"), "lacks model"),
    (lambda ck: ck["model"].__setitem__("head.weight", torch.zeros(3, 3)), "does not fit"),
    (lambda ck: ck["model"].pop("lstm.weight_hh_l1"), "does not fit"),
    (lambda ck: ck.__setitem__("state", (torch.zeros(1, 4, 12), torch.zeros(1, 4, 12))),
     "does not fit"),
    (lambda ck: ck.__setitem__("step", "ten"), "must be integers"),
])
def test_a_damaged_checkpoint_gives_one_error_line(damage, message, corpus, tmp_path,
                                                   capsys):
    ck = tmp_path / "ck"
    train(_small(corpus, steps=2, checkpoint=str(ck), sample_len=0), echo=QUIET)
    data = torch.load(ck / "checkpoint.pt", weights_only=True)
    damage(data)
    torch.save(data, ck / "checkpoint.pt")
    capsys.readouterr()
    # more steps than the checkpoint did, so that the refusal can only come from the damage
    assert main(["--checkpoint", str(ck), "--resume", "--steps", "3", "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert "Traceback" not in err
