# Stage 6: the semi-supervised task (DUL's protocol; motionseg.propagate.semisup). The first annotated frame's GT
# objects are given and propagated through the sequence by each label source of `semisup.sources`: `lab` (colour,
# weight-free), `dul` (features of a DUL network, rule `train_dul` or `dul.snapshot`) and `flow-<id>` (chained flow).
# Scored with the official DAVIS-2017 semi-supervised evaluation; rows `task=semi-supervised` go to their own report
# (reports/semisup/), never into the unsupervised tables.


rule train_dul:
    input:
        unpack(train_dul_inputs),
    output:
        model=paths.dul_model(R),
    log:
        paths.log(R, "train_dul", paths.TRAINSET),
    benchmark:
        paths.benchmark(R, "train_dul", paths.TRAINSET)
    conda:
        "../envs/train.yaml"
    threads: config["resources"]["train_dul"]["threads"]
    resources:
        mem_mb=config["resources"]["train_dul"]["mem_mb"],
        runtime=config["resources"]["train_dul"]["runtime"],
        gpu=1,
    params:
        cfg=PLAN.dul_config(),
        seed=config["seed"],
        workdir=lambda wildcards: paths.dul_workdir(R, **wildcards),
    script:
        "../scripts/train_dul.py"


rule propagate:
    input:
        unpack(propagate_inputs),
    output:
        masks=directory(paths.semisup_masks(R)),
    log:
        paths.log(R, "propagate", paths.SOURCE_SEQ),
    benchmark:
        paths.benchmark(R, "propagate", paths.SOURCE_SEQ)
    conda:
        "../envs/train.yaml"
    threads: config["resources"]["propagate"]["threads"]
    resources:
        mem_mb=config["resources"]["propagate"]["mem_mb"],
        runtime=config["resources"]["propagate"]["runtime"],
    params:
        dataset=lambda wildcards: PLAN.reader_params(wildcards.dataset),
        cfg=PLAN.propagation_config(),
    script:
        "../scripts/propagate.py"


rule evaluate_semisup:
    input:
        masks=paths.semisup_masks(R),
        gt=lambda wildcards: PLAN.gt_files(wildcards.dataset, wildcards.sequence),
    output:
        scores=paths.semisup_scores(R),
    log:
        paths.log(R, "evaluate_semisup", paths.SOURCE_SEQ),
    benchmark:
        paths.benchmark(R, "evaluate_semisup", paths.SOURCE_SEQ)
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["evaluate"]["mem_mb"],
        runtime=config["resources"]["evaluate"]["runtime"],
    params:
        dataset=lambda wildcards: {
            "name": wildcards.dataset,
            **PLAN.reader_params(wildcards.dataset),
        },
        bound_th=config["evaluation"]["bound_th"],
        decay=config["evaluation"]["decay"],
    script:
        "../scripts/evaluate_semisup.py"


rule report_semisup:
    input:
        scores=PLAN.semisup_scores(),
    output:
        per_sequence=paths.report(R, "semisup/per_sequence.csv"),
        summary=paths.report(R, "semisup/summary.csv"),
        missing=paths.report(R, "semisup/missing.csv"),
        table=paths.report(R, "semisup/table.md"),
    log:
        paths.log(R, "report_semisup", "report_semisup"),
    benchmark:
        paths.benchmark(R, "report_semisup", "report_semisup")
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        scale=config["report"]["display_scale"],
    script:
        "../scripts/report_semisup.py"
