"""The workflow plan: sequences, combinations, paths and subsets (no Snakemake needed)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from motionseg import paths
from motionseg.io.errors import ConfigError
from motionseg.plan import NO_TRACKS, Plan, flow_id

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_shipped_config_validates(config):
    import jsonschema

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    jsonschema.validate(config, schema)


def test_misspelled_key_is_named(config):
    import jsonschema

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    bad = copy.deepcopy(config)
    bad["sequnces"] = ["x"]
    with pytest.raises(jsonschema.ValidationError, match="sequnces"):
        jsonschema.validate(bad, schema)


def test_combos_attach_tracks_only_to_methods_that_use_them(config):
    config["flow"]["backends"] = ["dis", "farneback"]
    config["methods"] = ["bgfit", "lrtl"]
    plan = Plan.from_config(config)
    combos = plan.combos()
    assert ("dis", NO_TRACKS, "bgfit") in combos
    assert ("dis", "flowchain-dis", "lrtl") in combos
    assert ("farneback", "flowchain-farneback", "lrtl") in combos
    assert ("farneback", "flowchain-dis", "lrtl") not in combos
    assert plan.tracks_backend("flowchain-dis") == ("flowchain", "dis")


def test_flow_id_is_path_safe():
    assert flow_id("ptlflow:flowformer") == "ptlflow-flowformer"


def test_global_sequence_subset_and_paths(config):
    config["sequences"] = ["synth_001"]
    plan = Plan.from_config(config)
    assert plan.sequences("synth") == ["synth_001"]
    scores = plan.all_scores()
    assert scores and all(p.endswith("/synth_001.csv") for p in scores)
    assert plan.masks("synth", "dis", NO_TRACKS, "bgfit", "synth_001") == "results/synth/masks/dis/none/bgfit/synth_001"


def test_unknown_dataset_sequence_subset_is_a_config_error(tmp_path, config):
    root = tmp_path / "DAVIS"
    (root / "JPEGImages" / "a").mkdir(parents=True)
    config["datasets"] = [{"name": "d", "layout": "davis", "root": str(root), "sequences": ["nope"]}]
    plan = Plan.from_config(config)
    with pytest.raises(ConfigError, match=r"datasets\[d\]\.sequences.*nope"):
        plan.sequences("d")


def test_unknown_method_is_a_config_error(config):
    config["methods"] = ["bgfit", "magic"]
    with pytest.raises(ConfigError, match="magic"):
        Plan.from_config(config)


def test_dataset_params_drop_subset(config):
    config["datasets"][0]["sequences"] = ["synth_000"]
    plan = Plan.from_config(config)
    assert "sequences" not in plan.dataset_params("synth")


def test_boot_methods_train_on_the_pseudo_label_source_masks(config):
    config["methods"] = ["kmeans", "gwm", "lrtl-boot"]
    config["train"]["pseudo_labels"] = "bgfit"
    plan = Plan.from_config(config)
    seqs = plan.sequences("synth")
    ins = plan.train_inputs("synth", "dis", "flowchain-dis", "lrtl-boot")
    assert ins["pseudo"] == [plan.masks("synth", "dis", NO_TRACKS, "bgfit", s) for s in seqs]
    assert "pseudo" not in plan.train_inputs("synth", "dis", NO_TRACKS, "gwm")
    # bgfit is not a configured method, but its masks are inputs: the segment rule must be able to make them
    assert "bgfit" in plan.method_regex(trained=False).split("|")
    assert "bgfit" in plan.regex("methods").split("|")
    assert ("dis", NO_TRACKS, "bgfit") not in plan.combos()  # and it is not scored unless configured
    # the plain methods' training settings carry no pseudo-label keys (changing them does not retrain gwm)
    assert "pseudo" not in plan.train_config("gwm")["loss_weights"] and "pseudo_labels" not in plan.train_config("gwm")
    assert plan.train_config("lrtl-boot")["loss_weights"]["pseudo"] > 0


@pytest.mark.parametrize("post", ["prop", "crf"])
def test_boot_methods_can_learn_from_a_post_processed_teacher(config, post):
    config["methods"] = ["kmeans", "gwm-boot"]
    config["train"]["pseudo_labels"] = f"bgfit+{post}"
    config["crf"]["methods"] = []
    config["gtfree_propagation"]["methods"] = []
    plan = Plan.from_config(config)
    seqs = plan.sequences("synth")
    assert plan.pseudo_teacher == ("bgfit", post)
    ins = plan.train_inputs("synth", "dis", NO_TRACKS, "gwm-boot")
    made = plan.crf_masks if post == "crf" else (lambda *k: plan._prop_path(paths.prop_masks, k))
    assert ins["pseudo"] == [made("synth", "dis", NO_TRACKS, "bgfit", s) for s in seqs]
    # the teacher's segment and post-processing rules can make its masks; nothing of it is scored
    assert "bgfit" in plan.method_regex(trained=False).split("|")
    regex = plan.crf_method_regex(False) if post == "crf" else plan.prop_method_regex(False)
    assert "bgfit" in regex.split("|")
    other = plan.prop_method_regex(False) if post == "crf" else plan.crf_method_regex(False)
    assert "bgfit" not in other.split("|")
    assert not any(k[3] == "bgfit" for k in plan.crf_keys() + plan.prop_keys())
    # the teacher is part of the training settings: changing it retrains the -boot methods only
    assert plan.train_config("gwm-boot")["pseudo_labels"] == f"bgfit+{post}"


@pytest.mark.parametrize("source", [None, "clusternet-oracle", "gwm", "nope", "gwm+prop", "bgfit+nope", "bgfit+"])
def test_boot_methods_need_a_gt_free_per_sequence_source(config, source):
    config["methods"] = ["gwm-boot"]
    config["train"]["pseudo_labels"] = source
    with pytest.raises(ConfigError, match="pseudo_labels"):
        Plan.from_config(config)
    config["train"]["pseudo_labels"] = "bgfit"
    config["train"]["loss_weights"]["pseudo"] = 0.0
    with pytest.raises(ConfigError, match="loss_weights.pseudo"):
        Plan.from_config(config)


def test_combine_reads_its_components_masks_in_order(config):
    config["methods"] = ["bgfit", "trajseg", "gwm-boot", "combine"]
    config["gtfree_propagation"]["methods"] = ["bgfit"]
    config["combine"] = {"methods": ["bgfit+prop", "trajseg", "gwm-boot"], "rule": "product"}
    plan = Plan.from_config(config)
    seq = plan.sequences("synth")[0]
    (tracks,) = plan.tracks_for_flow("dis")
    ins = plan.segment_inputs("synth", "dis", NO_TRACKS, "combine", seq)
    assert ins["components"] == [
        plan._prop_path(paths.prop_masks, ("synth", "dis", NO_TRACKS, "bgfit", seq)),
        plan.masks("synth", "dis", tracks, "trajseg", seq),
        plan.masks("synth", "dis", NO_TRACKS, "gwm-boot", seq),
    ]
    assert "flow" not in ins  # it reads masks, not motion
    # its own rules: neither the per-sequence nor the trained instances match it
    assert plan.combine_method_regex() == "combine"
    assert "combine" not in plan.method_regex(trained=False).split("|")
    assert "combine" not in plan.method_regex(trained=True).split("|")
    assert plan.supervision("combine") == "self-supervised"  # gwm-boot is
    assert plan.method_config("combine") == {"methods": ["bgfit+prop", "trajseg", "gwm-boot"], "rule": "product"}
    assert ("dis", NO_TRACKS, "combine") in plan.combos()
    config["combine"]["methods"] = ["bgfit", "trajseg"]
    assert Plan.from_config(config).supervision("combine") == "none"


@pytest.mark.parametrize(("components", "match"), [
    (["bgfit"], "at least 2"),
    (["bgfit", "kmeans"], "kmeans is not in `methods`"),
    (["bgfit", "clusternet-oracle"], "an oracle"),
    (["bgfit", "mtnet"], "supervised"),
    (["bgfit", "combine"], "not a method that can be combined"),
    (["bgfit", "nope"], "not a method that can be combined"),
    (["bgfit+crf", "gwm"], "not in crf.methods"),
    (["bgfit", "gwm+prop"], "not in gtfree_propagation.methods"),
])
def test_combine_components_are_checked(config, components, match):
    config["methods"] = ["bgfit", "gwm", "clusternet-oracle", "mtnet", "combine"]
    config["datasets"][0]["cross_validation"] = 2
    config["crf"]["methods"] = []
    config["gtfree_propagation"]["methods"] = []
    config["combine"]["methods"] = components
    with pytest.raises(ConfigError, match=match):
        Plan.from_config(config)


def test_combine_has_no_post_stage_of_its_own(config):
    config["methods"] = ["bgfit", "gwm", "combine"]
    config["combine"]["methods"] = ["bgfit", "gwm"]
    config["crf"]["methods"] = ["combine"]
    with pytest.raises(ConfigError, match="crf.methods"):
        Plan.from_config(config)


def test_combine_component_with_tracks_needs_one_tracks_variant(config):
    config["methods"] = ["bgfit", "trajseg", "combine"]
    config["combine"]["methods"] = ["bgfit", "trajseg"]
    config["tracks"]["backends"] = ["flowchain", "cotracker3_offline"]
    with pytest.raises(ConfigError, match=r"'trajseg': trajseg has 2 tracks variants for flow dis"):
        Plan.from_config(config)
