"""The worker pool: a worker that dies costs only the student it was grading."""

import os
import signal

from lstm_ref.grading import worker


def _fake_job(args):
    student = args[0]
    if student.startswith("boom"):
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    return "graded", student, ("ok", {}), None


def _fake_feedback(args):
    return "feedback", args[2], None, None


def test_a_dead_worker_costs_only_its_own_student(monkeypatch):
    monkeypatch.setattr(worker, "_job", _fake_job)
    students = ["s1", "s2", "boom1", "s3", "s4", "boom2", "s5", "s6"]
    with worker.ClassPool(None, workers=2) as pool:
        for s in students:
            pool.grade(s, "/nowhere", "ch01_rnn", {})
        got = {student: (payload, error) for _k, student, payload, error in pool.results()}
    assert sorted(got) == sorted(students)
    for s in students:
        payload, error = got[s]
        if s.startswith("boom"):
            assert "worker died" in error
        else:
            assert error is None and payload[0] == "ok", (s, error)
    assert pool.restarts >= 2


def test_feedback_jobs_queued_while_results_arrive_all_run(monkeypatch):
    monkeypatch.setattr(worker, "_job", _fake_job)
    monkeypatch.setattr(worker, "_feedback_job", _fake_feedback)
    with worker.ClassPool(None, workers=2) as pool:
        for s in ("a", "b", "c"):
            pool.grade(s, "/nowhere", "ch01_rnn", {})
        kinds = []
        for kind, student, _p, error in pool.results():
            assert error is None
            kinds.append((kind, student))
            if kind == "graded":
                pool.feedback("/root", "ch01_rnn", student)
    assert sorted(kinds) == sorted([(k, s) for s in "abc" for k in ("graded", "feedback")])


def _torch_job(args):
    import torch

    m = torch.nn.LSTM(30, 40, dtype=torch.float64)
    m(torch.randn(5, 3, 30, dtype=torch.float64))
    return "graded", args[0], ("ok", {}), None


def test_workers_run_torch_after_the_parent_did(monkeypatch):
    torch = __import__("pytest").importorskip("torch")
    a = torch.randn(300, 300, dtype=torch.float64)
    for _ in range(3):  # the parent's OpenMP threads exist now
        a @ a
    monkeypatch.setattr(worker, "_job", _torch_job)
    pool = worker.ClassPool(None, workers=2, timeout=1)
    pool.stall_seconds = 120  # a worker stuck on its parent's OpenMP threads never answers
    with pool:
        for s in ("a", "b", "c"):
            pool.grade(s, "/nowhere", "ch01_rnn", {})
        got = {student: error for _k, student, _p, error in pool.results()}
    assert got == {"a": None, "b": None, "c": None}
