# Measurements: test-split accuracy of each trained classifier, and frozen features of each
# encoder with their linear probe and retrieval recall.


rule evaluate:
    input:
        model="runs/downstream/{run}/model.pt",
        index=index_of("downstream"),
        code=TRAIN_CODE,
    output:
        "runs/downstream/{run}/test.json",
    log:
        "logs/evaluate/{run}.log",
    benchmark:
        "benchmarks/evaluate/{run}.tsv"
    conda:
        ENV
    threads: OTHER.get("threads", 1)
    resources:
        mem_mb=OTHER.get("mem_mb", 4000),
        runtime=runtime(OTHER.get("runtime", 30)),
    params:
        test=test_options(),
    shell:
        "cstp evaluate --run runs/downstream/{wildcards.run} --index {input.index} --out {output} "
        "{params.test} --threads {threads} > {log} 2>&1"


rule features:
    input:
        index=index_of("features"),
        encoder=encoder_of("features"),
        code=TRAIN_CODE,
    output:
        features="runs/features/{run}/features.pt",
        probe="runs/features/{run}/probe.json",
        retrieval="runs/features/{run}/retrieval.json",
    log:
        "logs/features/{run}.log",
    benchmark:
        "benchmarks/features/{run}.tsv"
    conda:
        ENV
    threads: OTHER.get("threads", 1)
    resources:
        mem_mb=OTHER.get("mem_mb", 4000),
        runtime=runtime(OTHER.get("runtime", 30)),
    params:
        spec=spec_json("features"),
        encoder=encoder_option("features"),
        center=(
            "--center"
            if PLAN.study.settings.get("retrieval", {}).get("center")
            else ""
        ),
    shell:
        "cstp features --spec {params.spec:q} --index {input.index} {params.encoder} "
        "--out {output.features} --probe-out {output.probe} --retrieval-out {output.retrieval} "
        "{params.center} --threads {threads} > {log} 2>&1"
