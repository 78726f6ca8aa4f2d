# The regenerated tables: CSV, booktabs LaTeX and a plot per table, in the report.


rule table:
    input:
        table_inputs,
        study=STUDY,
        code=code_stamp("table"),
    output:
        csv=report(
            "results/{table}.csv",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}", "file": "csv"},
        ),
        tex="results/{table}.tex",
        png=report(
            "results/{table}.png",
            caption="../report/plot.rst",
            category="Tables",
            labels={"table": "{table}", "file": "plot"},
        ),
    log:
        "logs/table/{table}.log",
    benchmark:
        "benchmarks/table/{table}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "cstp table {wildcards.table} --config {input.study} --out-dir results > {log} 2>&1"
