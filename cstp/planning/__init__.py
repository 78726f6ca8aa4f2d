"""Planning: the config turned into a study (`config`), its cells and their typed specs (`cells`),
every run of every table (`plan`), and what Snakemake needs to run them (`rules`, `resources`,
`code`, `figures`); `status` and `estimate` read a plan without running it.

Torch-free, so that Snakemake plans the whole DAG while it parses the Snakefile.
"""
