# Stage 3a: train a segmentation network over a whole dataset (motionseg.registry.run_training). `train`: the
# self-supervised networks learn from the dataset's own motion (`gwm`: flow reconstruction; `lrtl`: + trajectory
# losses). `train_supervised`: a supervised network (`mtnet`) learns from the GT masks of other sequences, one model
# per `{fold}` (`split`: the dataset's train_split; `fold<i>`: cross-validation). Both resumable from `work/`.


rule train:
    input:
        unpack(train_inputs),
    output:
        model=paths.model(R),
    log:
        paths.log(R, "train", paths.COMBO),
    benchmark:
        paths.benchmark(R, "train", paths.COMBO)
    wildcard_constraints:
        method=PLAN_SELF_SUPERVISED_TRAINED_METHODS,
    conda:
        "../envs/train.yaml"
    threads: config["resources"]["train"]["threads"]
    resources:
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
        gpu=1,
    params:
        cfg=lambda wildcards: PLAN.train_config(wildcards.method),
        seed=config["seed"],
        workdir=lambda wildcards: paths.model_workdir(R, **wildcards),
    script:
        "../scripts/train.py"


rule train_supervised:
    input:
        unpack(train_supervised_inputs),
    output:
        model=paths.supervised_model(R),
    log:
        paths.log(R, "train_supervised", paths.COMBO_FOLD),
    benchmark:
        paths.benchmark(R, "train_supervised", paths.COMBO_FOLD)
    wildcard_constraints:
        method=PLAN_SUPERVISED_TRAINED_METHODS,
        fold=r"split|fold\d+",
    conda:
        "../envs/train.yaml"
    threads: config["resources"]["train"]["threads"]
    resources:
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
        gpu=1,
    params:
        cfg=PLAN.supervised_train_config(),
        seed=config["seed"],
        workdir=lambda wildcards: paths.supervised_workdir(R, **wildcards),
    script:
        "../scripts/train.py"
