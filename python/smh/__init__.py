"""smh: typed arrays in named shared-memory segments, shared with C++.

The Python face of the header-only C++ library smh (same segments, same
layout, same ownership and the same errors), with the API of the Python
module shared_memory_handler it descends from:

    from smh import SharedMemoryHandlee

    class MySharedMemory(SharedMemoryHandlee):
        def __init__(self, length):
            super().__init__(length, struct="i")

    shm = MySharedMemory(10)          # creates /dev/shm/smh-<16 hex>; owns it
    shm[0] = (42,)                    # tuples in and out, with struct semantics
    Process(target=work, args=(shm,)) # pickled by name: the child attaches
    del shm                           # the owner removes the name

Linux only (segments are files in /dev/shm). See README.md, "From Python".
"""
from ._errors import Error, errc
from ._handlee import SharedMemoryHandlee
from ._layout import fnv1a_64
from ._posix import MAX_NAME_LENGTH, name_problem
from ._termination import cleanup_on_termination, remove_owned_segments
from ._types import element_type

__version__ = "0.1.0"
__all__ = ["SharedMemoryHandlee", "Error", "errc", "cleanup_on_termination",
           "remove_owned_segments", "element_type", "name_problem", "fnv1a_64",
           "MAX_NAME_LENGTH", "type_name_of"]


def type_name_of(struct=None, atomic=False):
    """The type name a segment of format `struct` stores, i.e. what C++ must
    call its element type (smh::element_type_name) to attach to it."""
    return element_type(struct, atomic=atomic).type_name
