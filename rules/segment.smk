# Stage 3b: masks per sequence. `segment` runs the per-sequence methods (background-motion fit, k-means, ClusterNet
# modes); `infer` applies a trained network (its model is an input). Both call the method registry's one dispatch
# (motionseg.registry.run_method, scripts/segment.py) and write a mask directory.


rule segment:
    input:
        unpack(segment_inputs),
    output:
        masks=directory(paths.masks(R)),
    log:
        paths.log(R, "segment", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "segment", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_PER_SEQUENCE_METHODS,
    conda:
        "../envs/cluster.yaml"
    threads: config["resources"]["segment"]["threads"]
    resources:
        mem_mb=config["resources"]["segment"]["mem_mb"],
        runtime=config["resources"]["segment"]["runtime"],
        gpu=method_gpu,
    params:
        cfg=lambda wildcards: PLAN.method_config(wildcards.method),
        seed=PLAN.settings.seed,
    script:
        "../scripts/segment.py"


rule infer:
    input:
        unpack(segment_inputs),
    output:
        masks=directory(paths.masks(R)),
    log:
        paths.log(R, "infer", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "infer", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_TRAINED_METHODS,
    conda:
        "../envs/train.yaml"
    threads: config["resources"]["infer"]["threads"]
    resources:
        mem_mb=config["resources"]["infer"]["mem_mb"],
        runtime=config["resources"]["infer"]["runtime"],
        gpu=0,
    params:
        cfg=lambda wildcards: PLAN.infer_config(wildcards.method),
        seed=PLAN.settings.seed,
    script:
        "../scripts/segment.py"


# Method `combine` (motionseg.post.combine): the same rule script, reading the masks of the components in
# `combine.methods` (Plan.segment_inputs); its own rule so that the SLURM profile runs it after every component,
# trained ones included (job group `combine`, slurm/config.yaml).
use rule segment as combine with:
    log:
        paths.log(R, "combine", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "combine", paths.COMBO_SEQ)
    wildcard_constraints:
        method=PLAN_COMBINE_METHODS,
    conda:
        "../envs/core.yaml"
    threads: config["resources"]["combine"]["threads"]
    resources:
        mem_mb=config["resources"]["combine"]["mem_mb"],
        runtime=config["resources"]["combine"]["runtime"],
