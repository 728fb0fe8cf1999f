"""Reporting: correlations with MOS, tables (CSV + Markdown), figures, the notebooks' shared start, and
`msbiqa reproduce`, which runs the notebooks and indexes what they wrote."""
