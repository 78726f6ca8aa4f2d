# Supervised training of each cell on each labelled dataset (runs/finetune/<spec hash>), from its
# pretraining run's encoder or from scratch.


rule finetune:
    input:
        spec="runs/finetune/{run}/spec.json",
        index=index_of("finetune"),
        encoder=encoder_of("finetune"),
        code=code_stamp("finetune"),
        cache=cache_of("finetune"),
    output:
        model="runs/finetune/{run}/model.pt",
        metrics="runs/finetune/{run}/metrics.json",
    log:
        "logs/finetune/{run}.log",
    benchmark:
        "benchmarks/finetune/{run}.tsv"
    priority: priority_of("finetune")
    conda:
        ENV
    threads: TRAIN.threads
    resources:
        mem_mb=TRAIN.mem_mb,
        runtime=runtime(TRAIN.runtime),
        gpu=TRAIN.gpu,
        slurm_extra=TRAIN_SLURM,
    params:
        cache=cache_option("finetune"),
        cells=cells_of("finetune"),
        encoder=encoder_option("finetune"),
        runtime=runtime_of(TRAIN),
    message:
        "finetune {wildcards.run}: {params.cells} (log: {log})"
    shell:
        "cstp finetune --spec {input.spec:q} {params.cache} --index {input.index:q} {params.encoder} "
        "--out runs/finetune/{wildcards.run} {params.runtime} >> {log:q} 2>&1"
