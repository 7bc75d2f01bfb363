# Configuration of the IPython kernels that execute the chapters during the
# build. `make` installs this file into the virtual environment, as
# .venv/etc/ipython/ipython_kernel_config.py, the environment-wide location
# that every IPython kernel of that environment reads.
#
# The kernel's own log (not the chapters' output: a warning raised by a
# chapter's code still reaches the cell, and the strict build) shows errors
# only. Its one warning in a build is "Kernel is running over TCP without
# encryption": the notebook executor (nbclient, through myst-nb) always
# connects on the loopback interface of the building machine with a
# connection file readable by its owner only, and offers no setting for the
# IPC transport or for CurveZMQ keys, so the warning says nothing about the
# book and appeared once per chapter.
c = get_config()  # noqa: F821 (provided by IPython when it loads this file)
c.IPKernelApp.log_level = "ERROR"
