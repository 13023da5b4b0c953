# Stage 3a: train a segmentation network from motion over a whole dataset (motionseg.train): `gwm` uses the flow
# reconstruction loss, `lrtl` adds the trajectory low-rank and temporal losses. Resumable from `work/`.


rule train:
    input:
        unpack(train_inputs),
    output:
        model=f"{R}/{{dataset}}/models/{{flow}}/{{tracks}}/{{method}}/model.pt",
    log:
        f"{R}/logs/train/{{dataset}}/{{flow}}/{{tracks}}/{{method}}.log",
    benchmark:
        f"{R}/benchmarks/train/{{dataset}}/{{flow}}/{{tracks}}/{{method}}.tsv"
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
        workdir=lambda wildcards, output: str(Path(output.model).parent / "work"),
    script:
        "../scripts/train.py"
