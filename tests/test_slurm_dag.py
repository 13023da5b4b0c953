"""Every shipped config plans under the SLURM profile (issue 30: "Group score depends on itself").

`snakemake -n --profile slurm` builds the whole DAG with the profile's job groups, which is where a group that
depends on itself through an outside job (segment -> train -> infer) is refused. Each config of config/ is dry-run
with its datasets replaced by synthetic ones of the same name, protocol and flow gaps (nothing is submitted, no
frames are read), with the real profile alone and with the local test cluster's overrides on top. A control run with
the old grouping (infer, evaluate and overlay of trained methods in `score`) must fail, so that these tests can fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from workflow_utils import REPO, copy_workflow, snakemake, write_config

pytest.importorskip("snakemake_executor_plugin_slurm", reason="pip install snakemake-executor-plugin-slurm")

PROFILE = str(REPO / "slurm")
TEST_PROFILE = str(REPO / "slurm" / "testing" / "profile")
GPU_RECIPES = ("davis_gpu.yaml", "mtnet_gpu.yaml")  # they name checkpoint files: planned with stand-ins below
EXAMPLES = sorted(p.name for p in (REPO / "config").glob("*.yaml") if p.name not in ("schema.yaml", *GPU_RECIPES))
# Snakemake's two wordings of a group that depends on itself (which one it prints depends on set iteration order)
CYCLE = re.compile(r"depends on itself|from outside the group, but they in turn depend on rule\(s\) \w+ from inside "
                   r"the group again")


def synthetic_datasets(config_file: str) -> dict:
    """Override of a config's `datasets`: each dataset becomes a 2-sequence synthetic one of the same name, keeping
    its protocol, flow gaps and objects (the DAG's shape: methods, backends, gaps, scored sequences, instance jobs)."""
    cfg = yaml.safe_load((REPO / "config" / config_file).read_text())
    datasets = cfg.get("datasets") or yaml.safe_load((REPO / "config" / "config.yaml").read_text())["datasets"]
    out = []
    for ds in datasets:
        entry = {k: v for k, v in ds.items() if k in ("name", "protocol", "flow_gaps", "objects", "role", "train_split",
                                                       "cross_validation")}
        synthetic = {"n_sequences": 2, "n_frames": 20, "height": 64, "width": 96, "seed": 0,
                     "instances": ds.get("objects") == "multi"}
        entry |= {"layout": "davis", "root": f"results/data/{ds['name']}", "synthetic": synthetic}
        out.append(entry)
    return {"datasets": out}


def gpu_checkpoints(work: Path) -> dict:
    """Empty stand-ins for the checkpoint files the GPU recipe names (the plan only checks that they exist)."""
    weights = work / "weights"
    weights.mkdir(exist_ok=True)
    names = ("raft_large_C_T_SKHT_V2-ff5fadd5.pth", "scaled_offline.pth", "resnet50.pth", "convnext_tiny.pth")
    for name in names:
        (weights / name).write_bytes(b"")
    return {
        "flow": {"raft_large": {"checkpoint": str(weights / names[0])}},
        "tracks": {"checkpoint": str(weights / names[1])},
        "train": {"backbone_weights": str(weights / names[2])},
        "mtnet": {"backbone_weights": str(weights / names[3])},
    }


def group_jobs(log: str) -> dict[str, int]:
    """Group jobs per group name in a dry-run log (one SLURM submission each)."""
    counts: dict[str, int] = {}
    for name in re.findall(r"^\[[^\]]+\] Group job (\S+)", log, re.MULTILINE):
        counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return copy_workflow(tmp_path_factory.mktemp("slurm_dag"))


def plan(work: Path, configfiles: list[str], *extra: str, test_profile: bool = False):
    args = ["-n", "--profile", PROFILE]
    if test_profile:
        args += ["--workflow-profile", TEST_PROFILE]
    return snakemake(work, *args, "--configfile", *configfiles, *extra, check=False, timeout=300)


@pytest.mark.parametrize("test_profile", [False, True], ids=["profile", "profile+test-cluster"])
@pytest.mark.parametrize("config_file", EXAMPLES)
def test_shipped_config_plans_under_the_slurm_profile(work, config_file, test_profile):
    files = ["config/config.yaml"] if config_file == "config.yaml" else ["config/config.yaml", f"config/{config_file}"]
    site = write_config(work, synthetic_datasets(config_file), f"site_{config_file}")
    res = plan(work, [*files, str(site)], test_profile=test_profile)
    assert res.returncode == 0, res.stdout[-4000:]
    groups = group_jobs(res.stdout)
    cfg = yaml.safe_load((REPO / files[-1]).read_text())
    assert groups.get("prep", 0) >= 1 and groups.get("score", 0) >= 1, groups
    if any(m in ("gwm", "lrtl", "gwm-boot", "lrtl-boot") for m in cfg.get("methods") or []):
        assert groups.get("infer", 0) >= 1, groups
    if (cfg.get("export") or {}).get("enabled"):
        assert groups.get("export", 0) >= 1, groups


@pytest.mark.parametrize("test_profile", [False, True], ids=["profile", "profile+test-cluster"])
def test_gpu_recipe_plans_under_the_slurm_profile(work, test_profile):
    site = write_config(work, synthetic_datasets("davis2016.yaml") | gpu_checkpoints(work), "site_gpu.yaml")
    recipe = ["config/config.yaml", "config/davis2016.yaml", "config/davis_gpu.yaml", str(site)]
    res = plan(work, recipe, test_profile=test_profile)
    assert res.returncode == 0, res.stdout[-4000:]
    # the recipe trains all four networks, two of them on bgfit's masks: a segment job feeds train, infer reads train
    assert {"prep", "score", "infer"} <= set(group_jobs(res.stdout)), group_jobs(res.stdout)
    assert "flow=raft_large" in res.stdout and "method=lrtl-boot" in res.stdout


@pytest.mark.parametrize("test_profile", [False, True], ids=["profile", "profile+test-cluster"])
def test_mtnet_gpu_recipe_plans_under_the_slurm_profile(work, test_profile):
    """config/mtnet_gpu.yaml: the train split is only prepared, one train_supervised job asks for a GPU, and infer
    jobs of the val split read its model."""
    site = write_config(work, synthetic_datasets("mtnet_gpu.yaml") | gpu_checkpoints(work), "site_mtnet.yaml")
    recipe = ["config/config.yaml", "config/davis2016.yaml", "config/mtnet_gpu.yaml", str(site)]
    res = plan(work, recipe, test_profile=test_profile)
    assert res.returncode == 0, res.stdout[-4000:]
    assert "rule train_supervised:" in res.stdout and "mtnet/split/model.pt" in res.stdout
    assert "dataset=davis2016-train, flow=raft_large, tracks=none, method=mtnet" not in res.stdout  # never segmented


def test_the_old_grouping_is_refused(work):
    """Control: the grouping of issue 30 (trained methods' infer/evaluate/overlay in `score` with segment) forms a
    cycle through train for a -boot method, and the dry-run reports it; so the tests above would catch it."""
    site = write_config(work, synthetic_datasets("config.yaml"), "site_old.yaml")
    prof = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
    groups = prof["groups"] | {rule: "score" for rule, group in prof["groups"].items() if group == "infer"}
    # --groups replaces the profile's whole mapping: give all of it
    old = ["--groups", *(f"{rule}={group}" for rule, group in groups.items())]
    # all score jobs in one SLURM job: whether Snakemake meets the cycle otherwise depends on how it packs connected
    # components into group jobs (set order), and the control must not be flaky
    old += ["--group-components", "prep=3", "score=1000", "export=8"]
    res = plan(work, ["config/config.yaml", str(site)], *old)
    assert res.returncode != 0 and CYCLE.search(res.stdout), res.stdout[-3000:]
    # the same old grouping without a -boot method had no cycle: the -boot path is what closes it
    res = plan(work, ["config/config.yaml", str(site)], *old, "--config", "methods=[bgfit,gwm,lrtl]")
    assert res.returncode == 0, res.stdout[-3000:]


def test_export_of_trained_and_per_sequence_methods_plans(work):
    """`motionseg segment`'s export folders (config/segment.yaml) read the masks of per-sequence and trained methods;
    with a -boot method both kinds feed one `export` group stage after `infer`."""
    site = write_config(work, synthetic_datasets("segment.yaml"), "site_export.yaml")
    res = plan(work, ["config/config.yaml", "config/segment.yaml", str(site)], "--config", "methods=[bgfit,gwm-boot]")
    assert res.returncode == 0, res.stdout[-4000:]
    assert {"prep", "score", "infer", "export"} <= set(group_jobs(res.stdout)), group_jobs(res.stdout)


@pytest.mark.parametrize("teacher", ["bgfit+prop", "bgfit+crf"])
def test_boot_methods_on_a_post_processed_teacher_plan(work, teacher):
    """`train.pseudo_labels: bgfit+prop|+crf`: the teacher's post-processing jobs (in group `score`) feed train, so
    the profile's groups must still form no cycle; bgfit is not scored (not in `methods`)."""
    site = write_config(work, synthetic_datasets("config.yaml"), f"site_teacher_{teacher[-4:]}.yaml")
    post = teacher.split("+")[1]
    extra = {"methods": ["gwm-boot"], "train": {"pseudo_labels": teacher}, "crf": {"methods": []},
             "gtfree_propagation": {"methods": []}, "semisup": {"sources": []}}
    extra_file = write_config(work, extra, f"teacher_{post}.yaml")
    res = plan(work, ["config/config.yaml", str(site), str(extra_file)])
    assert res.returncode == 0, res.stdout[-4000:]
    rule = "gtfree_propagation" if post == "prop" else "crf"
    assert re.search(rf"^\s*rule {rule}:", res.stdout, re.MULTILINE), res.stdout[-3000:]
    teacher_dir = f"results/synth/{post}/masks/dis/none/bgfit/synth_000"
    assert re.search(rf"rule train:[^\n]*\n(\s+\S.*\n)*?\s+input: [^\n]*{teacher_dir}", res.stdout), res.stdout[-3000:]
    assert not re.search(r"^\s*rule evaluate:", res.stdout, re.MULTILINE)  # the teacher itself is not scored
    assert {"score", "infer"} <= set(group_jobs(res.stdout)), group_jobs(res.stdout)


def test_combine_of_per_sequence_and_trained_methods_plans(work):
    """Method `combine` reads masks of a per-sequence method's propagation (group `score`) and of a -boot network
    (group `infer`, after train, which reads the score group's masks): its own group `combine` keeps the DAG of
    groups acyclic; its scores are in that group too."""
    site = write_config(work, synthetic_datasets("config.yaml"), "site_combine.yaml")
    extra = {"methods": ["bgfit", "gwm-boot", "combine"], "crf": {"methods": []},
             "gtfree_propagation": {"methods": ["bgfit"]}, "semisup": {"sources": []},
             "combine": {"methods": ["bgfit+prop", "gwm-boot"], "rule": "product"}}
    res = plan(work, ["config/config.yaml", str(site), str(write_config(work, extra, "combine.yaml"))])
    assert res.returncode == 0, res.stdout[-4000:]
    groups = group_jobs(res.stdout)
    assert {"prep", "score", "infer", "combine"} <= set(groups), groups
    for rule in ("combine", "evaluate_combine"):
        assert re.search(rf"^\s*rule {rule}:", res.stdout, re.MULTILINE), res.stdout[-3000:]
    # control: the combination in the per-sequence `score` group closes a cycle through train and infer
    prof = yaml.safe_load((REPO / "slurm" / "config.yaml").read_text())
    groups = prof["groups"] | {rule: "score" for rule, group in prof["groups"].items() if group == "combine"}
    res = plan(work, ["config/config.yaml", str(site), str(write_config(work, extra, "combine.yaml"))],
               "--groups", *(f"{rule}={group}" for rule, group in groups.items()),
               "--group-components", "prep=3", "score=1000", "infer=4", "export=8")
    assert res.returncode != 0 and CYCLE.search(res.stdout), res.stdout[-3000:]
