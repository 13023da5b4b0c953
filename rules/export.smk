# Stage 3c: files for use outside motionseg (config `export`, turned on by `motionseg segment`): K-segment palette
# PNGs and soft foreground PNGs at original resolution, beside the binary masks (motionseg.io.export).


rule export:
    input:
        masks=f"{R}/{{dataset}}/masks/{{flow}}/{{tracks}}/{{method}}/{{sequence}}",
    output:
        export=directory(
            f"{R}/{{dataset}}/export/{{flow}}/{{tracks}}/{{method}}/{{sequence}}"
        ),
    log:
        f"{R}/logs/export/{{dataset}}/{{flow}}/{{tracks}}/{{method}}/{{sequence}}.log",
    benchmark:
        f"{R}/benchmarks/export/{{dataset}}/{{flow}}/{{tracks}}/{{method}}/{{sequence}}.tsv"
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        export={k: v for k, v in config["export"].items() if k != "enabled"},
    script:
        "../scripts/export.py"
