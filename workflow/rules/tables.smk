# The regenerated tables: CSV, booktabs LaTeX, a plot and a report page per table, plus
# results/<table>.md with its rank correlations (gathered, for every table built, in
# results/summary.md).


rule table:
    input:
        table_inputs,
        study=STUDY,
        code=code_stamp("table"),
    output:
        csv="results/{table}.csv",
        tex="results/{table}.tex",
        png=report(
            "results/{table}.png",
            caption="../report/plot.rst",
            category="Plots",
            labels={"table": "{table}", "file": "plot"},
        ),
        html=report(
            "results/{table}.html",
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{table}", "file": "table, LaTeX, curves"},
        ),
        curves="results/{table}_curves.png",
        md=report(
            "results/{table}.md",
            caption="../report/summary.rst",
            category="Summary",
            labels={"table": "{table}", "file": "rank correlations"},
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
    message:
        "table {wildcards.table}: CSV, LaTeX, plot, page, summary (log: {log})"
    shell:
        "cstp table {wildcards.table} --config {input.study:q} --out-dir results > {log:q} 2>&1"


# A stamp per cell of a table, newer than every output of the runs behind it: the table job
# depends on these, so its reason in `snakemake -n` names a few stamps, not hundreds of files.
rule cell_runs:
    input:
        cell_inputs,
    output:
        touch("runs/cells/{table}/row{row}.done"),
    log:
        "logs/cells/{table}/row{row}.log",
    localrule: True
    conda:
        ENV
    params:
        cell=cell_name,
    message:
        "{params.cell}: every run behind it is done (log: {log})"
    shell:
        "echo {params.cell:q} > {log:q}"
