# Datasets: the embedded synthetic ones are generated here; every dataset is scanned to an index.


localrules:
    code_stamp,


rule code_stamp:
    input:
        code_files,
    output:
        "runs/code/{group}-{digest}.txt",
    log:
        "logs/code/{group}-{digest}.log",
    benchmark:
        "benchmarks/code/{group}-{digest}.tsv"
    conda:
        ENV
    shell:
        "sha256sum {input} > {output} 2> {log}"


rule synth:
    input:
        DATA_CODE,
    output:
        "data/synth/{synth}/{kind}/synth.json",
    log:
        "logs/synth/{synth}_{kind}.log",
    benchmark:
        "benchmarks/synth/{synth}_{kind}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=OTHER.get("mem_mb", 2000),
        runtime=runtime(OTHER.get("runtime", 30)),
    shell:
        "cstp synth --out data/synth/{wildcards.synth} --preset {wildcards.synth} "
        "--datasets {wildcards.kind} --workers {threads} --no-progress > {log} 2>&1"


rule scan:
    input:
        synth_marker,
        DATA_CODE,
    output:
        "data/index/{dataset}_split{split}.csv",
    log:
        "logs/scan/{dataset}_split{split}.log",
    benchmark:
        "benchmarks/scan/{dataset}_split{split}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=OTHER.get("mem_mb", 2000),
        runtime=runtime(OTHER.get("runtime", 30)),
    params:
        dataset=scan_args,
    shell:
        "cstp data scan {params.dataset} --out {output} --probe > {log} 2>&1"
