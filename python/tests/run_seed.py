"""Runs a seed example as its own __main__ under a multiprocessing start
method, with the names the package generates tagged for the leak check:
    run_seed.py METHOD SCRIPT TAG
After the script, reports on stderr each segment it created and whether its
name is gone ("created NAME gone" / "created NAME left")."""
import multiprocessing
import os
import runpy
import sys

method, script, tag = sys.argv[1:4]
if method != "default":
    multiprocessing.set_start_method(method)

import smh._posix  # noqa: E402

created = []


def tagged_name():
    created.append(f"{tag}{len(created)}")
    return created[-1]


smh._posix.generated_name = tagged_name
runpy.run_path(script, run_name="__main__")
for name in created:
    gone = not os.path.exists(smh._posix.path_of(name))
    print(f"created {name} {'gone' if gone else 'left'}", file=sys.stderr)
