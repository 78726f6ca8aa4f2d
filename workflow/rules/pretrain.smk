# Self-supervised pretraining, one job per unique pretraining spec (runs/pretrain/<spec hash>).
# Its checkpoint (state/last.pt) is not an output: a retried or requeued job resumes from it.
# With pretrain.processes N in the preset, torchrun runs it as N data-parallel processes.


rule pretrain:
    input:
        spec="runs/pretrain/{run}/spec.json",
        index=index_of("pretrain"),
        code=code_stamp("pretrain"),
        cache=cache_of("pretrain"),
    output:
        encoder="runs/pretrain/{run}/encoder.pt",
        metrics="runs/pretrain/{run}/metrics.json",
    log:
        "logs/pretrain/{run}.log",
    benchmark:
        "benchmarks/pretrain/{run}.tsv"
    priority: priority_of("pretrain")
    conda:
        ENV
    threads: TRAIN.threads
    resources:
        mem_mb=TRAIN.mem_mb,
        runtime=runtime(TRAIN.runtime),
        gpu=TRAIN.gpu,
        slurm_extra=TRAIN_SLURM,
    params:
        cache=cache_option("pretrain"),
        cells=cells_of("pretrain"),
        launch=PRETRAIN_LAUNCH,
        runtime=runtime_of(TRAIN, PROCESSES),
    message:
        "pretrain {wildcards.run}: {params.cells} (log: {log})"
    shell:
        "{params.launch} pretrain --spec {input.spec:q} {params.cache} --index {input.index:q} "
        "--out runs/pretrain/{wildcards.run} {params.runtime} >> {log:q} 2>&1"
