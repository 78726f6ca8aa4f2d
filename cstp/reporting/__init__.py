"""Reporting: a table's finished runs read back and rendered (CSV, LaTeX, plot, HTML page, summary)
through `report.write_table`, and the paper's figures drawn (`figure_plots`)."""
