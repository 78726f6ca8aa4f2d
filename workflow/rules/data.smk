# Datasets: the embedded synthetic ones are generated here; every dataset is scanned to an index.
# Code stamps: one file per kind of job, named by the fingerprint of the code it runs.


localrules:
    code_stamp,


rule code_stamp:
    output:
        "runs/code/{job}-{digest}.json",
    log:
        "logs/code/{job}-{digest}.log",
    conda:
        ENV
    params:
        root=LIBRARY,
    message:
        "code stamp of {wildcards.job} (log: {log})"
    shell:
        "cstp code {wildcards.job} --root {params.root:q} --expect {wildcards.digest} "
        "--out {output:q} > {log:q} 2>&1"


rule synth:
    input:
        code_stamp("synth"),
    output:
        "data/synth/{synth}/{kind}/synth.json",
    log:
        "logs/synth/{synth}_{kind}.log",
    benchmark:
        "benchmarks/synth/{synth}_{kind}.tsv"
    priority: DATA_FIRST
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=OTHER.mem_mb,
        runtime=runtime(OTHER.runtime),
    message:
        "synth {wildcards.synth} {wildcards.kind} (log: {log})"
    shell:
        "cstp synth --out data/synth/{wildcards.synth:q} --preset {wildcards.synth:q} "
        "--datasets {wildcards.kind:q} --workers {threads} --no-progress > {log:q} 2>&1"


rule scan:
    input:
        synth_marker,
        code_stamp("scan"),
    output:
        "data/index/{dataset}_split{split}.csv",
    log:
        "logs/scan/{dataset}_split{split}.log",
    benchmark:
        "benchmarks/scan/{dataset}_split{split}.tsv"
    priority: DATA_FIRST
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=OTHER.mem_mb,
        runtime=runtime(OTHER.runtime),
    params:
        dataset=scan_args,
    message:
        "scan {wildcards.dataset} split {wildcards.split} (log: {log})"
    shell:
        "cstp data scan {params.dataset} --out {output:q} --probe > {log:q} 2>&1"


rule cache:
    input:
        index=cache_index,
        code=code_stamp("cache"),
    output:
        "data/cache/{cache}/cache.json",
    log:
        "logs/cache/{cache}.log",
    benchmark:
        "benchmarks/cache/{cache}.tsv"
    priority: DATA_FIRST
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=OTHER.mem_mb,
        runtime=runtime(OTHER.runtime),
    params:
        short_side=CLIP.short_side or "none",
    message:
        "cache {wildcards.cache} (log: {log})"
    shell:
        "cstp cache --index {input.index:q} --out data/cache/{wildcards.cache:q} "
        "--short-side {params.short_side} --workers {threads} --no-progress > {log:q} 2>&1"
