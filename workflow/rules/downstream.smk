# Supervised training of each cell on each labelled dataset (runs/downstream/<spec hash>), from
# its pretraining run's encoder or from scratch.


rule finetune:
    input:
        index=index_of("downstream"),
        encoder=encoder_of("downstream"),
        code=TRAIN_CODE,
    output:
        model="runs/downstream/{run}/model.pt",
        metrics="runs/downstream/{run}/metrics.json",
    log:
        "logs/finetune/{run}.log",
    benchmark:
        "benchmarks/finetune/{run}.tsv"
    conda:
        ENV
    threads: TRAIN.get("threads", 1)
    resources:
        mem_mb=TRAIN.get("mem_mb", 4000),
        runtime=runtime(TRAIN.get("runtime", 60)),
        gpu=TRAIN.get("gpu", 0),
    params:
        spec=spec_json("downstream"),
        encoder=encoder_option("downstream"),
        workers=TRAIN.get("workers", 0),
    shell:
        "cstp finetune --spec {params.spec:q} --index {input.index} {params.encoder} "
        "--out runs/downstream/{wildcards.run} --threads {threads} --workers {params.workers} "
        "> {log} 2>&1"
