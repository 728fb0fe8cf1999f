"""papermill's nbclient engine for headless runs, minus nbclient's imitation of the Output widget.

To imitate a front end, nbclient sends every output an Output widget captures (the figure of an `interact`) back to
the kernel as a comm message on the shell channel while the cell still runs. Under ipykernel 7 the cell's
execute_reply then sometimes never arrives and papermill waits for it forever: notebook 00 run with its sliders
hung in about half of the runs on a busy 2-core machine, and in none of ten without the imitation. A headless run
has no front end to keep in step, so here Output widgets are left alone and what they capture lands in the cell's
own outputs.
"""

from __future__ import annotations

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger

ENGINE = "msbiqa-headless"


class HeadlessClient(PapermillNotebookClient):
    """papermill's notebook client with no widget imitated."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.widget_registry = {}


class HeadlessEngine(NBClientEngine):
    """papermill's nbclient engine, executing with HeadlessClient."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        stdout_file=None,
        stderr_file=None,
        start_timeout=60,
        execution_timeout=None,
        **kwargs,
    ):
        kwargs = {k: v for k, v in kwargs.items() if k not in ("input_path", "timeout", "startup_timeout")}
        client = HeadlessClient(
            nb_man,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            **kwargs,
        )
        return client.execute()


papermill_engines.register(ENGINE, HeadlessEngine)
