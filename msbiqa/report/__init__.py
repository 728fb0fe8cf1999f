"""Presentation: tables (CSV + Markdown, captions' notes, values shown with their intervals), figures, and the
radius visualisation of notebook 00. The numbers come from `msbiqa.statistics`."""
