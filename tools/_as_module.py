"""`python tools/X.py` runs tool X exactly as `python -m tools.X` does, from any directory.

Run as a script, a tool's own directory heads `sys.path`, so `tools`, `components` and `policy` do
not import. Each tool that has a command line starts with

    if __name__ == "__main__" and not __package__:
        import _as_module

which finds this file in that directory (as the top-level module `_as_module`), puts the repository
root in its place, and runs the tool again as the module `tools.X`: one copy of every module, the
same arguments and help. Importing it never returns: it exits with the tool's status.
(tools/pr_comment.py has no such line: it uses the standard library only, and runs as a script
from a checkout that holds nothing else.)
"""

import runpy
import sys
from pathlib import Path

_script = Path(sys.argv[0]).resolve()
# sys.path[0] is the script's directory (tools/): how this module was found.
sys.path[0] = str(_script.parents[1])
runpy.run_module(f"tools.{_script.stem}", run_name="__main__", alter_sys=True)
sys.exit(0)
