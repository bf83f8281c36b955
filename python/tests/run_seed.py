"""Runs a seed example as its own __main__ under a multiprocessing start
method, with the names the package generates tagged for the leak check:
    run_seed.py METHOD SCRIPT TAG
After the script, reports on stderr each segment it created and whether its
name is gone ("created NAME gone" / "created NAME left")."""
import multiprocessing
import os
import runpy
import sys
import types

method, script, tag = sys.argv[1:4]
if method != "default":
    multiprocessing.set_start_method(method)

import smh._handlee  # noqa: E402

created = []
core = smh._handlee._core


class TaggedHandle:
    """smh._core.Handle, whose create() names what it would have generated."""

    @staticmethod
    def create(name, *args, **kwargs):
        if name is None:
            created.append(f"{tag}{len(created)}")
            name = created[-1]
        return core.Handle.create(name, *args, **kwargs)

    attach = staticmethod(core.Handle.attach)


smh._handlee._core = types.SimpleNamespace(**{**vars(core), "Handle": TaggedHandle})
runpy.run_path(script, run_name="__main__")
for name in created:
    gone = not os.path.exists(f"/dev/shm/{name}")
    print(f"created {name} {'gone' if gone else 'left'}", file=sys.stderr)
