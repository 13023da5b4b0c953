# Stage 1: optical flow, forward and backward, for every configured gap (motionseg.flow).


rule flow:
    input:
        frames=rules.ingest.output.frames,
    output:
        flow=directory(paths.flow(R)),
    log:
        paths.log(R, "flow", paths.FLOW_SEQ),
    benchmark:
        paths.benchmark(R, "flow", paths.FLOW_SEQ)
    conda:
        "../envs/flow.yaml"
    threads: config["resources"]["flow"]["threads"]
    resources:
        mem_mb=config["resources"]["flow"]["mem_mb"],
        runtime=config["resources"]["flow"]["runtime"],
        gpu=flow_resources_gpu,
    params:
        cfg=lambda wildcards: PLAN.flow_config(wildcards.flow),
        backend=lambda wildcards: PLAN.flow_backends[wildcards.flow],
        gaps=lambda wildcards: PLAN.gaps(wildcards.dataset),
        seed=lambda wildcards: PLAN.flow_seed(wildcards.flow),
    script:
        "../scripts/flow.py"
