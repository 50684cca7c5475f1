"""Device runs of ``scripts/gpu_check.sh``, stored in the book and rendered by chapter 6.

Where they go: ``book/results/gpu/<date>_<device>/``, one folder per run, holding what the
script wrote under ``$OUT`` (``gpu_check.json``, ``preflight.json``, ``bench_gpu.json``,
``bench_gpu_compiled.json``, ``test_fused.xml``, ``charlm/curve.json``), copied unchanged by
:func:`store_run` (``python -m lstm_ref.gpu_results store OUT``). Nothing here measures:
a page only reads what a device run wrote, and says so when there is none.
"""

import datetime
import html
import json
import os
import re
import shutil
import sys

FILES = ("gpu_check.json", "preflight.json", "bench_gpu.json", "bench_gpu_compiled.json",
         "test_fused.xml", os.path.join("charlm", "curve.json"))
def default_root():
    """``<results_dir()>/gpu``: beside the recorded experiments of :mod:`lstm_ref.results`
    (``book/results``, or ``$LSTM_REF_RESULTS``). Device runs are not :class:`Experiment`
    records: a shell script on another machine wrote them, so they are stored as that
    script wrote them, with its own device, date and versions inside."""
    from .results import results_dir

    return str(results_dir() / "gpu")
HOW_TO = ("run `OUT=gpu_out PYTHONPATH=. bash scripts/gpu_check.sh` on a machine with a CUDA "
          "GPU, then `python -m lstm_ref.gpu_results store gpu_out` and commit the folder it "
          "creates under book/results/gpu/")


def _slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "device"


def store_run(out, root=None):
    """Copy a device run from ``out`` into ``root/<date>_<device>/``; return that folder.

    Refuses (``ValueError``) a dry run, a run whose pre-flight failed, a folder without
    ``gpu_check.json`` and ``bench_gpu.json``, and an existing destination."""
    root = root or default_root()
    try:
        with open(os.path.join(out, "gpu_check.json")) as fh:
            check = json.load(fh)
        with open(os.path.join(out, "bench_gpu.json")) as fh:
            bench = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{out} does not hold a gpu_check.sh run ({exc})") from None
    if check.get("dry_run") or bench.get("device_type") != "cuda":
        raise ValueError(f"{out} is a CPU (dry) run: only GPU runs are stored")
    if check.get("preflight") != "ok":
        raise ValueError(f"{out}: the pre-flight failed ({check.get('message')})")
    day = bench.get("date", "")[:10] or datetime.date.today().isoformat()
    dest = os.path.join(root, f"{day}_{_slug(bench.get('device', 'gpu'))}")
    if os.path.exists(dest):
        raise ValueError(f"{dest} exists already: remove it or keep it")
    for name in FILES:
        src = os.path.join(out, name)
        if os.path.exists(src):
            os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
            shutil.copyfile(src, os.path.join(dest, name))
    return dest


def find_runs(root=None):
    """The stored runs under ``root``, newest first: a list of dicts with ``path``,
    ``check`` (gpu_check.json), ``bench`` (bench_gpu.json) and ``compiled`` (or None)."""
    root = root or default_root()
    runs = []
    if not os.path.isdir(root):
        return runs
    for name in sorted(os.listdir(root), reverse=True):
        path = os.path.join(root, name)
        files = {}
        for key, fname in (("check", "gpu_check.json"), ("bench", "bench_gpu.json"),
                           ("compiled", "bench_gpu_compiled.json")):
            try:
                with open(os.path.join(path, fname)) as fh:
                    files[key] = json.load(fh)
            except (OSError, ValueError):
                files[key] = None
        if files["bench"] is not None:
            runs.append(dict(files, path=path, name=name))
    return runs


def _fmt(v, spec):
    return "–" if v is None else format(v, spec)


def render_run(run):
    """One stored run as HTML: the machine, date and versions, the check, every case of the
    benchmark, the target, the profiled cuDNN kernels and the stages of the script."""
    b, c = run["bench"], run.get("check") or {}
    e = html.escape
    cudnn = b.get("cudnn", {})
    s = b.get("settings", {})
    parts = [f"<p><strong>{e(str(b.get('device')))}</strong>, measured {e(str(b.get('date')))}"
             f" (not at build): torch {e(str(b.get('torch')))}, CUDA {e(str(b.get('cuda')))},"
             f" cuDNN {e(str(cudnn.get('version')))} (enabled: {e(str(cudnn.get('enabled')))})"
             f", TF32 {'on' if s.get('tf32') else 'off'} for cuDNN and matmul alike; "
             f"median of {e(str(s.get('repeats')))} runs timed with {e(str(s.get('timing')))}"
             f". Stored in <code>{e(os.path.relpath(run['path']))}</code>.</p>"]
    check = b.get("check", {})
    cases = ", ".join(f"{e(k)}: {'pass' if v.get('pass') else 'FAIL'} (output "
                      f"{v.get('forward_error', 0):.1e}, gradients {v.get('grad_error', 0):.1e})"
                      for k, v in check.get("cases", {}).items())
    parts.append(f"<p>Fused layer against a float64 <code>torch.nn.LSTM</code>: "
                 f"{'PASS' if check.get('pass') else 'FAIL'}; {cases or e(str(check.get('error')))}"
                 "</p>")
    head = ("dtype", "N", "H", "implementation", "pass", "ms", "tokens/s", "× cuDNN",
            "TFLOP/s", "% peak")
    rows = []
    for r in b.get("rows", []) + ((run.get("compiled") or {}).get("rows", [])):
        if r.get("seconds") is None:
            cells = (r["dtype"], r["N"], r["H"], r["impl"], r["pass"],
                     e(str(r.get("error") or "not measured"))[:80], "", "", "", "")
        else:
            frac = r.get("fraction_of_peak")
            cells = (r["dtype"], r["N"], r["H"], r["impl"],
                     "fwd+bwd" if r["pass"] == "fwdbwd" else "fwd",
                     f"{1e3 * r['seconds']:.2f}", f"{r['tokens_per_s']:,.0f}",
                     _fmt(r.get("ratio_to_cudnn"), ".2f"), _fmt(r.get("tflops"), ".1f"),
                     _fmt(None if frac is None else 100 * frac, ".1f"))
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    parts.append("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
                 + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    t = b.get("target")
    if t:
        parts.append(f"<p>Target: {e(t['impl'])} forward+backward at N={t['N']}, H={t['H']}, "
                     f"{e(t['dtype'])}: <strong>{t['ratio']:.2f}×</strong> cuDNN's tokens/s "
                     f"(aim ≥ {t['min_ratio_to_cudnn']}): {'met' if t['met'] else 'missed'}."
                     "</p>")
    for dtype, prof in (b.get("profile") or {}).items():
        kernels = prof.get("kernels")
        if isinstance(kernels, list):
            parts.append(f"<p>cuDNN's kernels, {e(dtype)} (one profiled forward+backward; "
                         f"persistent: {e(str(prof.get('persistent')))}): "
                         + ", ".join(f"<code>{e(k[:80])}</code>" for k in kernels[:8])
                         + (" …" if len(kernels) > 8 else "") + "</p>")
    for w in b.get("warnings", []):
        parts.append(f"<p>Warning: {e(w)}</p>")
    stages = (c.get("stages") or {})
    if stages:
        parts.append("<p>Stages of <code>gpu_check.sh</code>: " + ", ".join(
            f"{e(k)} {e(str(v.get('status')))}" for k, v in stages.items()) + ".</p>")
    return "\n".join(parts)


def render(root=None):
    """Every stored run, newest first, or a paragraph saying that none has been made and
    how to make one."""
    runs = find_runs(root or default_root())
    if not runs:
        how = re.sub(r"`([^`]+)`", lambda m: f"<code>{m.group(1)}</code>", html.escape(HOW_TO))
        return ("<p>No GPU run has been made for this edition, so this page quotes no GPU "
                f"number. To make one: {how}.</p>")
    return "\n<hr/>\n".join(render_run(r) for r in runs)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "store":
        print("usage: python -m lstm_ref.gpu_results store OUT", file=sys.stderr)
        return 2
    try:
        print(store_run(argv[1]))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
