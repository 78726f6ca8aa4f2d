# The paper's qualitative figures (config.yaml, figures): retrieval examples and activation maps,
# drawn from the runs of the cells they name (their features or encoders, first seed).


rule figure:
    input:
        figure_inputs,
        study=STUDY,
        code=code_stamp("figure"),
    output:
        report(
            "results/{figure}.png",
            caption="../report/figure.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        "logs/figure/{figure}.log",
    benchmark:
        "benchmarks/figure/{figure}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    message:
        "figure {wildcards.figure} (log: {log})"
    shell:
        "cstp figure {wildcards.figure} --config {input.study:q} --out-dir results > {log:q} 2>&1"
