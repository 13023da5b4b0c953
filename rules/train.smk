# Stage 3a: train a segmentation network from motion over a whole dataset (motionseg.train): `gwm` uses the flow
# reconstruction loss, `lrtl` adds the trajectory low-rank and temporal losses. Resumable from `work/`.


rule train:
    input:
        unpack(train_inputs),
    output:
        model=paths.model(R),
    log:
        paths.log(R, "train", paths.COMBO),
    benchmark:
        paths.benchmark(R, "train", paths.COMBO)
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
