"""Show the source of anything in nnkit, so students can read the library
they installed without looking for files on disk."""
from __future__ import annotations

import inspect


def show_source(obj) -> str:
    """Print (and return) the source code of a class, function or module.

    ``nnkit.show_source(nnkit.Module)`` shows the base class every layer
    derives from; in Jupyter the code is syntax-highlighted.
    """
    try:
        text = inspect.getsource(obj)
        where = inspect.getsourcefile(obj) or "?"
    except (TypeError, OSError) as err:
        raise TypeError(f"no Python source is available for {obj!r} ({err})") from None
    title = f"# {getattr(obj, '__qualname__', getattr(obj, '__name__', repr(obj)))}  ({where})\n"
    try:
        from IPython import get_ipython
        from IPython.display import Code, display

        if get_ipython() is not None:
            display(Code(title + text, language="python"))
            return text
    except ImportError:
        pass
    print(title + text)
    return text
