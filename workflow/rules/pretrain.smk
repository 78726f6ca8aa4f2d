# Self-supervised pretraining, one job per unique pretraining spec (runs/pretrain/<spec hash>).
# Its checkpoint (state/last.pt) is not an output: a retried or requeued job resumes from it.


rule pretrain:
    input:
        index=index_of("pretrain"),
        code=TRAIN_CODE,
    output:
        encoder="runs/pretrain/{run}/encoder.pt",
        metrics="runs/pretrain/{run}/metrics.json",
    log:
        "logs/pretrain/{run}.log",
    benchmark:
        "benchmarks/pretrain/{run}.tsv"
    conda:
        ENV
    threads: TRAIN.get("threads", 1)
    resources:
        mem_mb=TRAIN.get("mem_mb", 4000),
        runtime=runtime(TRAIN.get("runtime", 60)),
        gpu=TRAIN.get("gpu", 0),
    params:
        spec=spec_json("pretrain"),
        workers=TRAIN.get("workers", 0),
    shell:
        "cstp pretrain --spec {params.spec:q} --index {input.index} --out runs/pretrain/{wildcards.run} "
        "--threads {threads} --workers {params.workers} > {log} 2>&1"
