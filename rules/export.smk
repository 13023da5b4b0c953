# Stage 3c: files for use outside motionseg (config `export`, turned on by `motionseg segment`): K-segment palette
# PNGs and soft foreground PNGs at original resolution, beside the binary masks (motionseg.io.export).


rule export:
    input:
        masks=paths.masks(R),
    output:
        export=directory(paths.export(R)),
    log:
        paths.log(R, "export", paths.COMBO_SEQ),
    benchmark:
        paths.benchmark(R, "export", paths.COMBO_SEQ)
    conda:
        "../envs/core.yaml"
    threads: 1
    resources:
        mem_mb=config["resources"]["report"]["mem_mb"],
        runtime=config["resources"]["report"]["runtime"],
    params:
        export=PLAN.export_config(),
    script:
        "../scripts/export.py"
