# Measurements: test-split accuracy of each trained classifier (runs/evaluate/<spec hash>), and
# frozen features of each encoder with their linear probe and retrieval (runs/features/<hash>).


rule evaluate:
    input:
        spec="runs/evaluate/{run}/spec.json",
        model=model_of,
        index=index_of("evaluate"),
        code=code_stamp("evaluate"),
        cache=cache_of("evaluate"),
    output:
        "runs/evaluate/{run}/metrics.json",
    log:
        "logs/evaluate/{run}.log",
    benchmark:
        "benchmarks/evaluate/{run}.tsv"
    priority: priority_of("evaluate")
    conda:
        ENV
    threads: OTHER.threads
    resources:
        mem_mb=OTHER.mem_mb,
        runtime=runtime(OTHER.runtime),
    params:
        cache=cache_option("evaluate"),
        cells=cells_of("evaluate"),
        runtime=runtime_of(OTHER),
    message:
        "evaluate {wildcards.run}: {params.cells} (log: {log})"
    shell:
        "cstp evaluate --spec {input.spec:q} {params.cache} --model {input.model:q} --index {input.index:q} "
        "--out runs/evaluate/{wildcards.run} {params.runtime} >> {log:q} 2>&1"


rule features:
    input:
        spec="runs/features/{run}/spec.json",
        index=index_of("features"),
        encoder=encoder_of("features"),
        code=code_stamp("features"),
        cache=cache_of("features"),
    output:
        features="runs/features/{run}/features.pt",
        probe="runs/features/{run}/probe.json",
        retrieval="runs/features/{run}/retrieval.json",
    log:
        "logs/features/{run}.log",
    benchmark:
        "benchmarks/features/{run}.tsv"
    priority: priority_of("features")
    conda:
        ENV
    threads: OTHER.threads
    resources:
        mem_mb=OTHER.mem_mb,
        runtime=runtime(OTHER.runtime),
    params:
        cache=cache_option("features"),
        cells=cells_of("features"),
        encoder=encoder_option("features"),
        runtime=runtime_of(OTHER),
    message:
        "features {wildcards.run}: {params.cells} (log: {log})"
    shell:
        "cstp features --spec {input.spec:q} {params.cache} --index {input.index:q} {params.encoder} "
        "--out runs/features/{wildcards.run} {params.runtime} >> {log:q} 2>&1"
