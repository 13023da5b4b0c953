"""Tests of motionseg.report: CSV schemas, oracle separation, markdown table, plots, provenance, overlays."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from motionseg.io.errors import InputError
from motionseg.report import collect_provenance, render_flow_strip, render_overlay, run_report
from motionseg.report.scores import METRIC_COLS, SCORE_COLUMNS

REPO = Path(__file__).resolve().parents[1]
SEQS = ["seq_a", "seq_b", "seq_c"]
FLOWS = ["dis", "farneback"]
# (method, tracks template, mode, method-level oracle)
METHODS = [("bgfit", "none", "", False), ("lrtl", "flowchain-{flow}", "", False),
           ("clusternet-oracle", "none", "oracle", True)]
PROTOCOL = "davis2017-unsup"


def report_cfg() -> dict:
    """The report section of the shipped config (so the tests exercise the real defaults)."""
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["report"]
    return dict(cfg, benchmarks={"synth": "DAVIS16"})


def fake_scores(root: Path, seqs=SEQS, n_frames: int = 8) -> tuple[list[str], list[str], pd.DataFrame]:
    """Score CSVs in the results-tree layout. GT-free J lies in [0.2, 0.5), oracle J in [0.9, 1.0]."""
    rng = np.random.default_rng(0)
    paths, frame_paths, rows_all = [], [], []
    for flow in FLOWS:
        for method, ttpl, mode, m_oracle in METHODS:
            tracks = ttpl.format(flow=flow)
            for i, seq in enumerate(seqs):
                nf = n_frames + i  # different frame counts make pooled != mean of means
                rows, frows = [], []
                for selection in ("gt-free", "oracle-frame"):
                    oracle = m_oracle or selection.startswith("oracle")
                    per_frame = rng.uniform(0.9, 1.0, nf) if oracle else rng.uniform(0.2, 0.5, nf)
                    rows.append({"dataset": "synth", "sequence": seq, "flow": flow, "tracks": tracks,
                                 "method": method, "mode": mode, "protocol": PROTOCOL, "selection": selection,
                                 "oracle": oracle, "J_mean": per_frame.mean(), "J_recall": (per_frame > 0.5).mean(),
                                 "J_decay": per_frame[:2].mean() - per_frame[-2:].mean(),
                                 "F_mean": per_frame.mean() * 0.9, "F_recall": 0.5, "F_decay": 0.01,
                                 "n_frames": nf})
                    frows += [{"dataset": "synth", "sequence": seq, "flow": flow, "tracks": tracks,
                               "method": method, "mode": mode, "protocol": PROTOCOL, "selection": selection,
                               "oracle": oracle, "frame": f"{t:05d}", "J": j, "F": j * 0.9}
                              for t, j in enumerate(per_frame)]
                d = root / "synth" / "scores" / flow / tracks / method
                d.mkdir(parents=True, exist_ok=True)
                pd.DataFrame(rows).to_csv(d / f"{seq}.csv", index=False)
                pd.DataFrame(frows).to_csv(d / f"{seq}.frames.csv", index=False)
                paths.append(str(d / f"{seq}.csv"))
                frame_paths.append(str(d / f"{seq}.frames.csv"))
                rows_all += rows
    return paths, frame_paths, pd.DataFrame(rows_all)


def expected_rows(seqs=SEQS) -> list[dict]:
    return [{"dataset": "synth", "sequence": s, "flow": f, "tracks": t.format(flow=f), "method": m}
            for f in FLOWS for m, t, _, _ in METHODS for s in seqs]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    root = tmp_path_factory.mktemp("results")
    paths, frame_paths, truth = fake_scores(root)
    out = root / "reports"
    # seq_d is expected but has no scores; one listed score file does not exist
    absent = str(root / "synth" / "scores" / "dis" / "none" / "bgfit" / "seq_e.csv")
    prov = collect_provenance({"seed": 0}, workdir=root)
    run_report([*paths, absent], out, report_cfg(), prov,
               expected=expected_rows([*SEQS, "seq_d"]), frame_csvs=frame_paths)
    return out, truth


def test_per_sequence_schema_and_sorted(report_dir):
    out, truth = report_dir
    ps = pd.read_csv(out / "per_sequence.csv", keep_default_na=False, na_values={c: [""] for c in METRIC_COLS})
    assert list(ps.columns) == SCORE_COLUMNS
    assert len(ps) == len(truth)
    key = ["dataset", "sequence", "flow", "tracks", "method", "mode", "protocol", "selection"]
    assert ps[key].astype(str).equals(ps[key].astype(str).sort_values(key).reset_index(drop=True))
    assert ps["J_mean"].between(0, 1).all()


def test_summary_mean_of_means_and_pooled(report_dir):
    out, truth = report_dir
    sm = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values={c: [""] for c in METRIC_COLS})
    for col in ["dataset", "flow", "tracks", "method", "mode", "protocol", "selection", "oracle", "n_sequences",
                "n_frames", "J_mean", "F_mean", "J_recall", "J_decay", "n_expected", "complete", "git_commit",
                "config_sha256"]:
        assert col in sm.columns, col
    pooled = "J_mean_pooled"
    g = truth[(truth.flow == "dis") & (truth.method == "lrtl") & (truth.selection == "gt-free")]
    row = sm[(sm.flow == "dis") & (sm.method == "lrtl") & (sm.selection == "gt-free")]
    assert len(row) == 1
    assert row["J_mean"].iloc[0] == pytest.approx(g["J_mean"].mean(), rel=1e-5)
    assert row[pooled].iloc[0] == pytest.approx(np.average(g["J_mean"], weights=g["n_frames"]), rel=1e-5)
    assert row[pooled].iloc[0] != pytest.approx(row["J_mean"].iloc[0], rel=1e-9)
    assert row["n_sequences"].iloc[0] == 3 and row["n_frames"].iloc[0] == g["n_frames"].sum()
    assert row["n_expected"].iloc[0] == 4 and str(row["complete"].iloc[0]) == "False"


def test_oracle_rows_flagged_and_never_mixed(report_dir):
    out, _ = report_dir
    sm = pd.read_csv(out / "summary.csv")
    assert set(sm["oracle"]) == {True, False}
    # every GT-free J is < 0.5 and every oracle J >= 0.9: a mixed mean would land in between
    assert (sm.loc[~sm["oracle"], "J_mean"] < 0.5).all()
    assert (sm.loc[sm["oracle"], "J_mean"] >= 0.9).all()
    assert sm.loc[sm["selection"] == "oracle-frame", "oracle"].all()
    assert sm.loc[sm["method"] == "clusternet-oracle", "oracle"].all()


def _sections(md: str) -> dict[str, str]:
    parts = re.split(r"^(#### .*)$", md, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_table_md_separates_gt_free_oracle_and_published(report_dir):
    out, _ = report_dir
    md = (out / "table.md").read_text()
    secs = _sections(md)
    gt_free = [v for k, v in secs.items() if k.startswith("#### GT-free")]
    oracle = [v for k, v in secs.items() if k.startswith("#### ORACLE")]
    assert len(gt_free) == 1 and len(oracle) == 2  # gt-free; oracle-frame + the oracle method's gt-free selection
    cells = [float(x.split(" / ")[0]) for x in re.findall(r"\| (\d+\.\d / \d+\.\d)", gt_free[0])]
    assert len(cells) == 4 and all(c < 50 for c in cells)  # 2 flows x (bgfit, lrtl), x100
    assert "clusternet-oracle" not in gt_free[0].split("\n**Published")[0]
    assert all(float(x.split(" / ")[0]) >= 90 for o in oracle for x in re.findall(r"\| (\d+\.\d / \d+\.\d)", o))
    assert "| `dis` |" in gt_free[0] and "| `farneback` |" in gt_free[0]
    assert "lrtl [flowchain]" in gt_free[0]
    # published figures, labelled, with protocol and oracle use
    assert "RAFT · published" in md and "68.3" in md and "79.56" in md and "72" in md
    assert "Oracle:" in md and "not re-run here" in md
    assert "(3/4 seq)" in md and "missing" in md.lower()
    page = (out / "table.html").read_text()
    assert page.count("<table>") == md.count("| flow \\ method |") and "**" not in page
    assert "<h4>GT-free · selection <code>gt-free</code></h4>" in page and "<blockquote>" in page


def test_missing_csv_lists_expected_and_absent(report_dir):
    out, _ = report_dir
    miss = pd.read_csv(out / "missing.csv", keep_default_na=False)
    assert list(miss.columns) == ["dataset", "sequence", "flow", "tracks", "method", "post", "reason"]
    assert set(miss.loc[miss["sequence"] == "seq_d", "method"]) == {"bgfit", "lrtl", "clusternet-oracle"}
    assert len(miss[miss["sequence"] == "seq_d"]) == 6
    assert miss["reason"].str.contains("seq_e.csv").any()


def test_plots_written_and_nontrivial(report_dir):
    out, _ = report_dir
    pngs = sorted(p.name for p in (out / "plots").glob("*.png"))
    for kind in ("j_per_sequence", "j_by_flow", "j_over_time"):
        for group in ("gt-free", "oracle"):
            assert f"{kind}__synth__{PROTOCOL}__{group}.png" in pngs
    for p in (out / "plots").glob("*.png"):
        assert p.stat().st_size > 10_000
        with Image.open(p) as im:
            assert im.size[0] > 300 and im.size[1] > 200


def test_provenance_sidecar_and_fields(report_dir, tmp_path):
    out, _ = report_dir
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["git_commit"] == "unknown"  # the tmp results dir is not a git repository
    for lib in ("torch", "torchvision", "opencv", "numpy"):
        assert prov["versions"][lib] and prov["versions"][lib] != "not installed"
    # a flow meta with a checkpoint file: hashed; random weights propagate
    ckpt = tmp_path / "w.pth"
    ckpt.write_bytes(b"weights")
    fdir = tmp_path / "synth" / "flow" / "raft_small" / "seq_a"
    fdir.mkdir(parents=True)
    (fdir / "meta.json").write_text(json.dumps({"backend": "raft_small", "checkpoint": str(ckpt),
                                                "random_weights": True}))
    p = collect_provenance({"b": 1, "a": [1, 2]}, workdir=tmp_path, flow_meta=[fdir])
    import hashlib

    assert p["flow"]["raft_small"]["checkpoint_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert p["weights_random"] is True
    assert p["config_sha256"] == collect_provenance({"a": [1, 2], "b": 1}, workdir=tmp_path)["config_sha256"]
    assert p["config_sha256"] != collect_provenance({"a": [1, 2], "b": 2}, workdir=tmp_path)["config_sha256"]
    assert collect_provenance({}, workdir=tmp_path)["weights_random"] is None


def test_provenance_in_git_repo():
    p = collect_provenance({}, workdir=REPO)
    assert p["git_commit"] == "unknown" or re.fullmatch(r"[0-9a-f]{40}", p["git_commit"])


@pytest.mark.parametrize("change, problem", [
    (lambda df: df.assign(J_mean=df["J_mean"] * 100), "J_mean"),
    (lambda df: df.drop(columns=["oracle"]), "lacks columns"),
    (lambda df: df.assign(oracle=False), "oracle"),
    (lambda df: df.assign(oracle="maybe"), "true/false"),
])
def test_bad_score_csv_raises_input_error_naming_file(tmp_path, change, problem):
    paths, _, _ = fake_scores(tmp_path, seqs=["s1"])
    bad = Path(paths[0])
    change(pd.read_csv(bad)).to_csv(bad, index=False)
    with pytest.raises(InputError, match=problem) as err:
        run_report(paths, tmp_path / "reports", report_cfg(), {"git_commit": "x"})
    assert err.value.path == str(bad)
    assert not (tmp_path / "reports" / "summary.csv").exists()


def test_duplicate_rows_raise(tmp_path):
    paths, _, _ = fake_scores(tmp_path, seqs=["s1"])
    with pytest.raises(InputError, match="duplicate"):
        run_report([paths[0], paths[0]], tmp_path / "reports", report_cfg(), {"git_commit": "x"})


def _fake_sequence(tmp_path: Path, T: int = 5, h: int = 24, w: int = 32):
    from motionseg.io.ingest_format import Ingested, save_ingested
    from motionseg.io.masks import write_mask_dir

    names = [f"{t:05d}" for t in range(T)]
    frames = np.full((T, h, w, 3), 90, np.uint8)
    gt_dir = tmp_path / "gt"
    gt_dir.mkdir()
    gt_paths = {}
    pred = np.zeros((T, 2 * h, 2 * w), bool)  # masks at original (2x) resolution
    for t, n in enumerate(names):
        g = np.zeros((2 * h, 2 * w), np.uint8)
        g[10:30, 8 + 2 * t:40 + 2 * t] = 255
        Image.fromarray(g).save(gt_dir / f"{n}.png")
        gt_paths[n] = str(gt_dir / f"{n}.png")
        pred[t, 14:34, 12 + 2 * t:44 + 2 * t] = True
    save_ingested(tmp_path / "seq.npz", Ingested(frames=frames, names=names, orig_hw=(2 * h, 2 * w),
                                                 manifest={"gt_paths": gt_paths}))
    write_mask_dir(tmp_path / "masks", names, pred, None, None, {"method": "bgfit", "oracle": False})
    return gt_paths


def test_render_overlay_gif(tmp_path):
    gt_paths = _fake_sequence(tmp_path)
    for gt, name in ((gt_paths, "given.gif"), (None, "manifest.gif"), ({}, "nogt.gif")):
        render_overlay(tmp_path / "seq.npz", tmp_path / "masks", gt, tmp_path / name)
    render_overlay(tmp_path / "seq.npz", tmp_path / "masks", None, tmp_path / "page.gif", out_html=tmp_path / "p.html")
    page = (tmp_path / "p.html").read_text()
    assert "data:image/gif;base64," in page and "bgfit" in page
    for name, want_green in (("given.gif", True), ("manifest.gif", True), ("nogt.gif", False)):
        with Image.open(tmp_path / name) as im:
            assert im.n_frames == 5
            im.seek(2)
            rgb = np.asarray(im.convert("RGB")).astype(int)
        assert rgb.shape[1] == 32 and rgb.shape[0] > 24  # frame plus caption bar
        red = (rgb[..., 0] > 180) & (rgb[..., 1] < 100)
        green = (rgb[..., 1] > 180) & (rgb[..., 0] < 100)
        assert red.any()
        assert green.any() == want_green
    with pytest.raises(InputError, match="no mask"):
        (tmp_path / "masks" / "00003.png").unlink()
        render_overlay(tmp_path / "seq.npz", tmp_path / "masks", None, tmp_path / "bad.gif")
    assert not (tmp_path / "bad.gif").exists()


def test_render_flow_strip(tmp_path):
    pytest.importorskip("motionseg.flow.store")
    from motionseg.flow.store import FlowWriter

    names = [f"{t:05d}" for t in range(6)]
    fdir = tmp_path / "flow" / "dis" / "seq"
    fdir.mkdir(parents=True)
    wr = FlowWriter(fdir, "npz", names, [1], (24, 32))
    yy, xx = np.mgrid[0:24, 0:32].astype(np.float32)
    for i in range(5):
        field = np.stack([np.cos(xx / 5 + i), np.sin(yy / 5)], axis=-1) * 3
        wr.put("forward", 1, i, field)
        wr.put("backward", 1, i, -field)
    wr.finish({"backend": "dis", "storage": "npz", "names": names, "gaps": [1], "working_hw": [24, 32]})
    out = tmp_path / "strip.png"
    render_flow_strip(fdir, out, n_frames=4)
    with Image.open(out) as im:
        assert im.size[0] > 300
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert rgb.std() > 20  # colour-coded flow, not a blank image


def test_report_reads_real_evaluator_output(tmp_path):
    """End to end with the project's evaluator: its score and per-frame CSVs feed run_report unchanged."""
    pytest.importorskip("motionseg.io.datasets")
    from motionseg.io.masks import write_mask_dir
    from motionseg.metrics import run_evaluate
    from motionseg.metrics.jf import DECAY_MODES

    root = tmp_path / "data"
    T, h, w = 6, 48, 64
    names = [f"{t:05d}" for t in range(T)]
    scores, frames_csvs = [], []
    for seq in ("alpha", "beta"):
        (root / "JPEGImages" / seq).mkdir(parents=True)
        (root / "Annotations" / seq).mkdir(parents=True)
        fg = np.zeros((T, h, w), bool)
        for t, n in enumerate(names):
            fg[t, 10:30, 5 + 3 * t:25 + 3 * t] = True
            Image.fromarray(np.full((h, w, 3), 100, np.uint8)).save(root / "JPEGImages" / seq / f"{n}.jpg")
            Image.fromarray(fg[t].astype(np.uint8) * 255).save(root / "Annotations" / seq / f"{n}.png")
        pred = np.roll(fg, 4, axis=2)  # 4 px off: J < 1
        probs = np.stack([pred, ~pred], axis=1).astype(np.float32)  # K=2, segment 1 (background) wrongly fg
        mdir = tmp_path / "masks" / seq
        write_mask_dir(mdir, names, np.roll(~fg, 4, axis=2), probs, np.array([False, True]),
                       {"method": "bgfit", "oracle": False})
        out = tmp_path / "synth" / "scores" / "dis" / "none" / "bgfit" / f"{seq}.csv"
        run_evaluate(mdir, {"name": "synth", "root": str(root), "layout": "davis"}, seq, out,
                     {"protocols": ["davis2017-unsup"], "selections": ["gt-free", "oracle-frame"],
                      "decay": DECAY_MODES[0], "missing": "error", "bound_th": 0.008, "workers": 1},
                     keys={"dataset": "synth", "flow": "dis", "tracks": "none", "method": "bgfit"},
                     out_frames_csv=out.with_suffix(".frames.csv"))
        scores.append(str(out))
        frames_csvs.append(str(out.with_suffix(".frames.csv")))
    run_report(scores, tmp_path / "reports", report_cfg(), None, config={"datasets": [{"name": "synth",
               "layout": "davis", "root": str(root)}]}, frame_csvs=frames_csvs)
    sm = pd.read_csv(tmp_path / "reports" / "summary.csv")
    gt_free = sm[sm["selection"] == "gt-free"].iloc[0]
    oracle = sm[sm["selection"] == "oracle-frame"].iloc[0]
    assert not gt_free["oracle"] and oracle["oracle"]
    assert gt_free["J_mean"] < 0.2 < 0.6 < oracle["J_mean"] < 1.0  # inverted GT-free mask vs oracle's right segment
    assert gt_free["n_sequences"] == 2
    assert (tmp_path / "reports" / "plots" / "j_over_time__synth__davis2017-unsup__gt-free.png").stat().st_size > 10_000


SNAKEFILE = '''
report: "{repo}/report/workflow.rst"

rule report:
    output:
        summary=report("reports/summary.csv", caption="{repo}/report/summary.rst", category="Scores",
                       labels={{"table": "summary"}}),
        table=report("reports/table.md", caption="{repo}/report/table.rst", category="Scores",
                     labels={{"table": "paper-style"}}),
        missing=report("reports/missing.csv", caption="{repo}/report/missing.rst", category="Scores",
                       labels={{"table": "missing"}}),
        provenance=report("reports/provenance.json", caption="{repo}/report/provenance.rst", category="Scores",
                          labels={{"table": "provenance"}}),
        plots=report(directory("reports/plots"), patterns=["{{kind}}__{{dataset}}__{{protocol}}__{{group}}.png"],
                     caption="{repo}/report/plots.rst", category="Plots", subcategory="{{dataset}}",
                     labels={{"plot": "{{kind}}", "protocol": "{{protocol}}", "rows": "{{group}}"}}),
    run:
        import json
        from motionseg.report import run_report
        args = json.load(open("args.json"))
        run_report(args["scores"], "reports", args["cfg"], {{"git_commit": "test"}}, frame_csvs=args["frames"])
'''


@pytest.mark.slow
def test_snakemake_html_report_renders_captions_and_plots(tmp_path):
    """`snakemake --report` with the repo's captions (report/*.rst) on run_report's outputs builds and holds the
    plots and the rendered plot captions."""
    import subprocess
    import sys

    paths, frame_paths, _ = fake_scores(tmp_path / "results")
    (tmp_path / "args.json").write_text(json.dumps({"scores": paths, "frames": frame_paths, "cfg": report_cfg()}))
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(repo=REPO))
    smk = [sys.executable, "-m", "snakemake", "--cores", "1", "--snakefile", str(tmp_path / "Snakefile")]
    subprocess.run(smk, cwd=tmp_path, check=True, capture_output=True, timeout=300)
    res = subprocess.run([*smk, "--report", "report.html"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    html = (tmp_path / "report.html").read_text()
    for kind in ("j_per_sequence", "j_by_flow", "j_over_time"):
        assert f"{kind}__synth__{PROTOCOL}__gt-free.png" in html
    assert "GT-free rows (no ground truth used)" in html and "ORACLE rows" in html  # captions rendered per plot
    assert "Paper-style table" in html


def test_only_plotted_sequences_frame_csvs_are_read(tmp_path):
    from motionseg.report.run import _frame_csvs_to_plot
    from motionseg.report.scores import load_scores

    paths, frame_paths, _ = fake_scores(tmp_path, seqs=["s.1", "s.2", "s.3"])
    ps, _ = load_scores(paths)
    kept = _frame_csvs_to_plot([*frame_paths, "/elsewhere/x.csv"], ps, 2)
    assert "/elsewhere/x.csv" in kept  # not in the results tree: kept
    seqs = {Path(p).name for p in kept}
    assert seqs == {"s.1.frames.csv", "s.2.frames.csv", "x.csv"}
