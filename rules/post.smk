# Stage 3d: what follows a method's masks. `instances` writes the instance PNGs (official DAVIS-2017 result layout,
# ids 1..K) of datasets with `objects: multi` (motionseg.io.instances); `crf` runs a dense CRF on the masks of the
# methods in `crf.methods` (motionseg.post.crf) and `gtfree_propagation` propagates the masks of the methods in
# `gtfree_propagation.methods` from their own most confident frames (motionseg.propagate.gtfree); their scores are
# separate rows (`post=crf`, `post=prop`), never replacing the raw ones. Each rule has a `_trained` instance for the
# trained methods, so that the SLURM profile puts it in the job group of its producer (see rules/evaluate.smk).


rule instances:
    input:
        masks=paths.masks(R),
    output:
        instances=directory(paths.instances(R)),
    log:
        paths.log(R, "instances", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "instances", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_PER_SEQUENCE_METHODS,
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["instances"]["mem_mb"],
        runtime=config["resources"]["instances"]["runtime"],
    params:
        cfg=PLAN.multiobject_config(),
    script:
        "../scripts/instances.py"


use rule instances as instances_trained with:
    wildcard_constraints:
        method=PLAN_TRAINED_METHODS,


use rule instances as instances_combine with:
    wildcard_constraints:
        method=PLAN_COMBINE_METHODS,


rule crf:
    input:
        frames=paths.frames(R),
        masks=paths.masks(R),
    output:
        masks=directory(paths.crf_masks(R)),
    log:
        paths.log(R, "crf", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "crf", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_CRF_PER_SEQUENCE_METHODS,
    conda:
        "../envs/core.yaml"
    threads: config["resources"]["crf"]["threads"]
    resources:
        mem_mb=config["resources"]["crf"]["mem_mb"],
        runtime=config["resources"]["crf"]["runtime"],
    params:
        cfg=PLAN.crf_config(),
    script:
        "../scripts/crf.py"


use rule crf as crf_trained with:
    wildcard_constraints:
        method=PLAN_CRF_TRAINED_METHODS,


rule evaluate_crf:
    input:
        unpack(evaluate_crf_inputs),
    output:
        scores=paths.crf_scores(R),
        frames=paths.crf_frame_scores(R),
    log:
        paths.log(R, "evaluate_crf", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "evaluate_crf", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_CRF_PER_SEQUENCE_METHODS,
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["evaluate"]["mem_mb"],
        runtime=config["resources"]["evaluate"]["runtime"],
    params:
        dataset=lambda wildcards: PLAN.dataset_params(wildcards.dataset),
        cfg=PLAN.settings.evaluation.to_dict(),
        labels=lambda wildcards: {
            "dataset": wildcards.dataset,
            "flow": wildcards.flow,
            "tracks": wildcards.tracks,
            "method": wildcards.method,
            "supervision": PLAN.supervision(wildcards.method),
            "post": "crf",
        },
    script:
        "../scripts/evaluate.py"


use rule evaluate_crf as evaluate_crf_trained with:
    wildcard_constraints:
        method=PLAN_CRF_TRAINED_METHODS,


rule gtfree_propagation:
    input:
        unpack(gtfree_propagation_inputs),
    output:
        masks=directory(paths.prop_masks(R)),
    log:
        paths.log(R, "gtfree_propagation", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "gtfree_propagation", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_PROP_PER_SEQUENCE_METHODS,
    conda:
        "../envs/train.yaml"
    threads: config["resources"]["propagate"]["threads"]
    resources:
        mem_mb=config["resources"]["propagate"]["mem_mb"],
        runtime=config["resources"]["propagate"]["runtime"],
    params:
        cfg=PLAN.gtfree_propagation_config(),
    script:
        "../scripts/gtfree_propagation.py"


use rule gtfree_propagation as gtfree_propagation_trained with:
    wildcard_constraints:
        method=PLAN_PROP_TRAINED_METHODS,


use rule evaluate_crf as evaluate_prop with:
    input:
        unpack(evaluate_prop_inputs),
    output:
        scores=paths.prop_scores(R),
        frames=paths.prop_frame_scores(R),
    log:
        paths.log(R, "evaluate_prop", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "evaluate_prop", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_PROP_PER_SEQUENCE_METHODS,
    params:
        dataset=lambda wildcards: PLAN.dataset_params(wildcards.dataset),
        cfg=PLAN.settings.evaluation.to_dict(),
        labels=lambda wildcards: {
            "dataset": wildcards.dataset,
            "flow": wildcards.flow,
            "tracks": wildcards.tracks,
            "method": wildcards.method,
            "supervision": PLAN.supervision(wildcards.method),
            "post": "prop",
        },


use rule evaluate_prop as evaluate_prop_trained with:
    wildcard_constraints:
        method=PLAN_PROP_TRAINED_METHODS,
