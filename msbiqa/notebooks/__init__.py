"""The notebook runner: what every numbered notebook does first and last (`session`), `msbiqa reproduce`, which
executes them with papermill and indexes what they wrote (`reproduce`), and its headless engine (`headless`)."""
