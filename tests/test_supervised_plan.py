"""Supervised training done honestly (issue 28): a supervised method (mtnet) trains on the GT of a dataset's
`train_split` (a dataset with `role: train`, never segmented nor scored) or of its other cross-validation folds; the
plan refuses a configuration in which an evaluated sequence is also a training sequence, and every score row says
what taught the method (`supervision`)."""

from __future__ import annotations

import copy

import pytest
import yaml
from workflow_utils import REPO, copy_workflow, small_config, snakemake, write_config

from motionseg.io.errors import ConfigError
from motionseg.plan import Plan

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def _synth(name: str, n: int, seed: int = 0, **extra) -> dict:
    return {"name": name, "layout": "davis", "root": f"results/data/{name}", **extra,
            "synthetic": {"n_sequences": n, "n_frames": 8, "height": 32, "width": 48, "seed": seed}}


def _config(datasets: list[dict], methods: list[str]) -> dict:
    cfg = copy.deepcopy(CONFIG)
    cfg["datasets"], cfg["methods"] = datasets, methods
    return cfg


def test_supervised_method_needs_a_training_split() -> None:
    with pytest.raises(ConfigError, match=r"datasets\[val\]\.train_split"):
        Plan.from_config(_config([_synth("val", 2)], ["bgfit", "mtnet"]))
    Plan.from_config(_config([_synth("val", 2)], ["bgfit"]))  # no supervised method: nothing to ask


def test_an_evaluated_sequence_is_never_a_training_sequence() -> None:
    # one folder, listed twice: synth_000 and synth_001 would be scored on their own training data
    datasets = [_synth("tr", 3, role="train"), _synth("val", 2, train_split="tr")]
    datasets[1]["root"] = datasets[0]["root"]
    with pytest.raises(ConfigError, match=r"\['synth_000', 'synth_001'\].*training"):
        Plan.from_config(_config(datasets, ["mtnet"]))
    datasets[1]["sequences"] = ["synth_001"]
    datasets[0]["sequences"] = ["synth_000", "synth_002"]
    plan = Plan.from_config(_config(datasets, ["mtnet"]))
    assert plan.training_sequences("val", "split") == ("tr", ["synth_000", "synth_002"])
    # the same names under another root are other videos (e.g. two synthetic datasets)
    datasets = [_synth("tr", 3, role="train"), _synth("val", 2, train_split="tr")]
    Plan.from_config(_config(datasets, ["mtnet"]))


def test_train_split_must_name_a_training_dataset() -> None:
    with pytest.raises(ConfigError, match="role: train"):
        Plan.from_config(_config([_synth("a", 2), _synth("b", 2, train_split="a")], ["mtnet"]))
    with pytest.raises(ConfigError, match="no dataset named"):
        Plan.from_config(_config([_synth("b", 2, train_split="zz")], ["bgfit"]))
    with pytest.raises(ConfigError, match="nothing would be segmented"):
        Plan.from_config(_config([_synth("a", 2, role="train")], ["bgfit"]))


def test_role_train_datasets_are_neither_segmented_nor_scored() -> None:
    datasets = [_synth("tr", 2, role="train", sequences=["synth_001"]),
                _synth("val", 1, train_split="tr")]
    plan = Plan.from_config(_config(datasets, ["bgfit", "mtnet"]))
    assert plan.evaluated_datasets == ["val"]
    assert {k[0] for k in plan.scored_keys()} == {"val"}
    assert not any("/tr/" in p for p in plan.report_outputs())
    inputs = plan.supervised_train_inputs("val", "dis", "none", "mtnet", "split")
    assert inputs["frames"] == ["results/tr/frames/synth_001.npz"] and inputs["gt"]
    assert plan.segment_inputs("val", "dis", "none", "mtnet", "synth_000")["model"].endswith("mtnet/split/model.pt")
    assert plan.supervision("mtnet") == "supervised" and plan.supervision("bgfit") == "none"


@pytest.mark.parametrize("k", [2, 3])
def test_cross_validation_folds_never_see_their_own_sequences(k: int) -> None:
    plan = Plan.from_config(_config([_synth("cv", 5, cross_validation=k)], ["mtnet"]))
    seqs = plan.sequences("cv")
    folds = {s: plan.fold_of("cv", s) for s in seqs}
    assert sorted(set(folds.values())) == plan.supervised_folds("cv") == [f"fold{i}" for i in range(k)]
    for s in seqs:
        src, train = plan.training_sequences("cv", folds[s])
        assert src == "cv" and s not in train and train  # its model never saw it, and saw something
        model = plan.segment_inputs("cv", "dis", "none", "mtnet", s)["model"]
        assert model.endswith(f"mtnet/{folds[s]}/model.pt")
    # every sequence is held out exactly once
    assert sorted(s for f in plan.supervised_folds("cv") for s in seqs if folds[s] == f) == sorted(seqs)
    with pytest.raises(ConfigError, match="cross_validation"):
        Plan.from_config(_config([_synth("cv", 2, cross_validation=3)], ["mtnet"]))


def test_external_needs_its_folder() -> None:
    with pytest.raises(ConfigError, match="external.root"):
        Plan.from_config(_config([_synth("val", 1)], ["external"]))
    cfg = _config([_synth("val", 1)], ["external"])
    cfg["external"].update(root="released", supervision="supervised")
    plan = Plan.from_config(cfg)
    assert plan.supervision("external") == "supervised"
    assert "flow" not in plan.segment_inputs("val", "dis", "none", "external", "synth_000")  # reads PNGs only


def test_cross_validation_dag_trains_one_model_per_fold(tmp_path) -> None:
    """`snakemake -n`: one train_supervised job per fold, one infer per sequence, and every score row job of mtnet
    reads the model of its own fold."""
    work = copy_workflow(tmp_path)
    cfg = small_config()
    cfg["datasets"][0]["cross_validation"] = 2
    cfg["datasets"][0]["synthetic"]["n_sequences"] = 3
    cfg["methods"] = ["bgfit", "mtnet"]
    res = snakemake(work, "-n", "--cores", "1", "--configfile", str(write_config(work, cfg)))
    assert "train_supervised" in res.stdout
    assert res.stdout.count("rule train_supervised:") == 2
    assert "models/dis/none/mtnet/fold0/model.pt" in res.stdout and "models/dis/none/mtnet/fold1/model.pt" in res.stdout


@pytest.mark.slow
def test_cross_validated_mtnet_runs_end_to_end_and_is_tabled_apart(tmp_path) -> None:
    """The workflow trains one mtnet per fold (briefly), segments each sequence with the model that never saw it, and
    the report labels its rows supervised and prints them in a SUPERVISED table of their own."""
    import pandas as pd

    work = copy_workflow(tmp_path)
    cfg = small_config(methods=["bgfit", "mtnet"])
    cfg["datasets"][0]["cross_validation"] = 2
    cfg["datasets"][0]["synthetic"]["n_sequences"] = 3
    cfg["mtnet"].update(pre_train={"iterations": 6, "lr": 2.0e-3, "batch_size": 2},
                        main_train={"iterations": 4, "lr": 2.0e-4, "batch_size": 2}, checkpoint_every=5)
    cfg["crf"]["methods"] = []
    snakemake(work, "--cores", "2", "--configfile", str(write_config(work, cfg)))
    models = work / "results" / "synth" / "models" / "dis" / "none" / "mtnet"
    assert (models / "fold0" / "model.pt").is_file() and (models / "fold1" / "model.pt").is_file()
    rows = pd.read_csv(work / "results" / "reports" / "per_sequence.csv")
    mt = rows[rows.method == "mtnet"]
    assert set(mt.sequence) == {"synth_000", "synth_001", "synth_002"} and (mt.supervision == "supervised").all()
    assert (rows[rows.method == "bgfit"].supervision == "none").all()
    table = (work / "results" / "reports" / "table.md").read_text()
    assert "SUPERVISED · GT-free · selection `gt-free`" in table
    import json

    meta = json.loads((work / "results" / "synth" / "masks" / "dis" / "none" / "mtnet" / "synth_001" /
                       "meta.json").read_text())
    assert meta["supervision"] == "supervised" and "synth_001" not in json.dumps(meta.get("trained_on"))
