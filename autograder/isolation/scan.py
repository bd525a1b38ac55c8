"""Static scan of a submitted notebook for code that tries to get around the grader.

    scan_notebook(path_or_nb, assignment=None) -> [{"cell_id", "line", "rule", "excerpt"}, ...]
    scan_source(code, cell_id="") -> same, for one cell
    flags(findings) -> ["suspicious: <rule>", ...]   (sorted, one per rule)

The scan only *detects*: a finding becomes a "suspicious: <rule>" flag for a human to
review and never changes a score (the sandbox is what *prevents*; see THREAT_MODEL.md).
So it aims at few false positives on ordinary NumPy code rather than at catching every
obfuscation: a determined student can hide from any static scan, which is why nothing
here is trusted for safety.

Cells are parsed with ``ast`` after IPython syntax (magics, ``!`` shell escapes) is
turned into findings and blanked; a cell that still does not parse is matched line by
line with regular expressions instead.  Names are resolved through the cell's imports
(``from os import _exit as q; q(1)`` is ``os._exit``), per cell and across the notebook.

With ``assignment``, cells that are byte-for-byte the released version of one of the
assignment's locked cells (``source/<id>/<id>.ipynb`` minus hidden tests) are skipped:
they are the instructor's code, and nbgrader restores them anyway.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Modules whose mere import is out of place in a from-scratch NumPy assignment.
SUSPICIOUS_MODULES = {
    "subprocess": "subprocess", "pty": "subprocess", "multiprocessing": "multiprocessing",
    "signal": "signal", "sqlite3": "sqlite3", "socket": "network", "urllib": "network",
    "http": "network", "requests": "network", "ctypes": "ctypes", "cffi": "ctypes",
    "importlib": "importlib", "builtins": "builtins", "marshal": "dynamic-code",
    "threading": "threads", "_thread": "threads", "atexit": "atexit",
    # a network trained by a library, not from scratch (sklearn's MLPClassifier is exactly 784-128-10 ReLU)
    "sklearn": "ml-library", "torch": "ml-library", "tensorflow": "ml-library", "keras": "ml-library",
    "jax": "ml-library", "scipy": "ml-library", "xgboost": "ml-library", "lightgbm": "ml-library",
}

# What an assignment's code may import at all: the standard library, NumPy, nnkit and what
# nnkit's plots and widgets use.  Anything else is flagged (`disallowed-import`), and most of
# it is not even installed in the sandbox's own environment (requirements-sandbox.txt).
ALLOWED_MODULES = set(sys.stdlib_module_names) | {
    "numpy", "nnkit", "matplotlib", "mpl_toolkits", "IPython", "ipywidgets", "tqdm", "__future__"}

# Fully qualified callables/attributes (after alias resolution) and their rule.
SUSPICIOUS_NAMES = {
    "os._exit": "process-exit", "sys.exit": "process-exit", "exit": "process-exit", "quit": "process-exit",
    "os.abort": "process-exit",
    "os.kill": "process-control", "os.killpg": "process-control", "os.system": "os-system",
    "os.popen": "os-system", "os.fork": "fork", "os.forkpty": "fork", "os.setsid": "process-control",
    "sys.settrace": "trace-hook", "sys.setprofile": "trace-hook", "threading.settrace": "trace-hook",
    "sys.excepthook": "excepthook", "sys.displayhook": "excepthook", "sys.modules": "sys-modules",
    "sys._getframe": "frame-introspection", "inspect.currentframe": "frame-introspection",
    "inspect.stack": "frame-introspection", "inspect.getouterframes": "frame-introspection",
    "inspect.trace": "frame-introspection", "inspect.getsource": "frame-introspection",
    "gc.get_objects": "gc", "gc.get_referrers": "gc", "gc.get_referents": "gc",
    "exec": "dynamic-code", "eval": "dynamic-code", "compile": "dynamic-code",
    "types.FunctionType": "dynamic-code", "types.CodeType": "dynamic-code",
    "__import__": "dunder-import", "__builtins__": "builtins", "globals": "namespace-tamper",
    "breakpoint": "process-control", "get_ipython": "ipython-api",
    "os.environ": "environment-probe", "os.getenv": "environment-probe", "os.putenv": "environment-probe",
    "sys.argv": "environment-probe",  # names the grader's request and output folder
}
PREFIX_RULES = (("os.exec", "os-system"), ("os.spawn", "os-system"), ("os.posix_spawn", "os-system"))

# Attribute names that are IPython's hooks, whatever object they are reached through.
IPYTHON_ATTRIBUTES = {
    "input_transformers_cleanup": "ipython-input-transformer",
    "input_transformers_post": "ipython-input-transformer",
    "ast_transformers": "ipython-input-transformer",
    "post_run_cell": "ipython-event-hook",
    "pre_run_cell": "ipython-event-hook", "post_execute": "ipython-event-hook",
    "pre_execute": "ipython-event-hook",
    "set_custom_exc": "ipython-custom-exc", "showtraceback": "ipython-showtraceback",
    "showsyntaxerror": "ipython-showtraceback", "_showtraceback": "ipython-showtraceback",
    "run_cell": "ipython-run-cell", "run_cell_async": "ipython-run-cell",
    "run_line_magic": "ipython-run-cell", "run_cell_magic": "ipython-run-cell",
    "register_magic_function": "ipython-run-cell",
    # frames and code objects: ways to reach the grader's variables and functions
    "f_back": "frame-introspection", "f_globals": "frame-introspection",
    "f_locals": "frame-introspection", "tb_frame": "frame-introspection",
    "gi_frame": "frame-introspection", "__globals__": "frame-introspection",
    "__code__": "frame-introspection", "__subclasses__": "frame-introspection",
    "__builtins__": "builtins",
}
# String constants that only make sense as an IPython event name.
IPYTHON_STRINGS = {"post_run_cell", "pre_run_cell", "post_execute", "pre_execute"}

COMPARISON_DUNDERS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"}
CONVERSION_DUNDERS = {"__bool__", "__float__", "__int__", "__index__", "__complex__", "__abs__"}
NUMPY_PROTOCOL_DUNDERS = {"__array__", "__array_ufunc__", "__array_function__", "__array_priority__",
                          "__array_wrap__", "__array_finalize__", "__instancecheck__", "__subclasscheck__"}
NUMERIC_BASES = {"float", "int", "complex", "bool", "numpy.ndarray", "numpy.float64", "numpy.float32",
                 "numpy.floating", "numpy.number", "numpy.generic", "numpy.bool_", "numpy.ma.MaskedArray"}

# Modules whose attributes a notebook must never reassign (checks and reference code use them).
PROTECTED_MODULES = ("numpy", "nnkit", "math", "builtins", "sys", "os", "random", "IPython")

# Decoders: exec/eval of what they return is obfuscated code.
DECODERS = ("base64.", "zlib.", "codecs.", "binascii.", "marshal.", "bz2.", "lzma.", "bytes.fromhex")

# Calls that read files; a literal path argument outside the notebook's folder is flagged.
FILE_CALLS = {"open", "io.open", "os.open", "os.listdir", "os.scandir", "os.walk", "glob.glob",
              "glob.iglob", "pathlib.Path", "numpy.load", "numpy.loadtxt", "numpy.genfromtxt",
              "numpy.fromfile", "numpy.memmap", "shutil.copy", "shutil.copyfile", "shutil.copytree"}
FILE_METHODS = {"read_text", "read_bytes", "open", "iterdir", "glob", "rglob"}
# A literal longer than this (characters; a tenth of it in list elements) is embedded data, not code.
LARGE_LITERAL = 20_000
# A string constant that is a path of two or more parts from the root, the home folder or the
# parent folder: the notebook's own files never need one.
ABSOLUTE_PATH = re.compile(r"^(?:/|~/|\.\./)(?:[\w.*-]+/)+[\w.*-]*$")

# IPython magics that run code other than the cell's Python (or read files).
SHELL_MAGICS = {"system", "sx", "bash", "sh", "script", "perl", "ruby", "python", "python2", "python3",
                "pypy", "run", "load", "writefile", "env", "javascript", "js", "html", "capture",
                "macro", "store", "load_ext", "alias", "sc", "debug", "pdb", "prun", "file", "pycat",
                "cd", "bookmark", "reset", "xdel", "config"}
CELL_MAGIC_PYTHON_BODY = {"time", "timeit", "capture", "prun"}

# Regex fallback for cells that do not parse: a coarse net over the same rules.
REGEX_RULES = [
    (rule, re.compile(pattern)) for rule, pattern in [
        ("ipython-input-transformer", r"input_transformers_(cleanup|post)|ast_transformers"),
        ("ipython-event-hook", r"events\s*\.\s*register|post_run_cell|pre_run_cell"),
        ("ipython-custom-exc", r"set_custom_exc"),
        ("ipython-showtraceback", r"showtraceback|showsyntaxerror"),
        ("ipython-run-cell", r"\brun_cell\b"),
        ("trace-hook", r"\bset(trace|profile)\s*\("),
        ("excepthook", r"excepthook|displayhook"),
        ("comparison-override", r"def\s+__(eq|ne|lt|le|gt|ge)__"),
        ("conversion-override", r"def\s+__(bool|float|int|index)__"),
        ("numeric-subclass", r"class\s+\w+\s*\(\s*(float|int|(np|numpy)\.ndarray)\b"),
        ("process-exit", r"\bos\s*\.\s*_exit|\bsys\s*\.\s*exit\b"),
        ("process-control", r"\bos\s*\.\s*kill"),
        ("os-system", r"\bos\s*\.\s*(system|popen|exec\w*|spawn\w*)\b"),
        ("fork", r"\bos\s*\.\s*fork"),
        ("subprocess", r"\bsubprocess\b"),
        ("multiprocessing", r"\bmultiprocessing\b"),
        ("signal", r"\bimport\s+signal\b|\bsignal\s*\.\s*\w+\s*\("),
        ("sqlite3", r"\bsqlite3\b"),
        ("network", r"\bsocket\b|\burllib\b|\brequests\b"),
        ("ctypes", r"\bctypes\b|\bcffi\b"),
        ("dynamic-code", r"(?<![\w.])(exec|eval|compile)\s*\("),
        ("dunder-import", r"__import__"),
        ("importlib", r"\bimportlib\b"),
        ("builtins", r"__builtins__|\bbuiltins\s*\."),
        ("ipython-api", r"get_ipython\s*\("),
        ("monkeypatch", r"^\s*(np|numpy|nnkit)(\.\w+)+\s*=[^=]"),
        ("setattr-module", r"setattr\s*\(\s*(np|numpy|nnkit|sys|os|builtins)\b"),
        ("gc", r"\bgc\s*\.\s*get_(objects|referrers|referents)"),
        ("frame-introspection", r"_getframe|currentframe|\bf_back\b|\bf_globals\b|__globals__"),
        ("path-outside-folder", r"""open\s*\(\s*[rbf]*['"](/|\.\.|~)"""),
        ("environment-probe", r"\bos\s*\.\s*(environ|getenv)"),
    ]
]


class _Visitor(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases  # local name -> fully qualified name, shared across cells
        self.found: list[tuple[int, str]] = []

    # -- helpers
    def flag(self, node, rule):
        self.found.append((getattr(node, "lineno", 1), rule))

    def qualname(self, node) -> str | None:
        """`np.testing.assert_allclose` -> 'numpy.testing.assert_allclose'; None if not a plain chain."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython":
            parts.append("get_ipython()")
        elif isinstance(node, ast.Name):
            parts.append(self.aliases.get(node.id, node.id))
        else:
            return None
        return ".".join(reversed(parts))

    def name_rule(self, name: str | None) -> str | None:
        if name is None:
            return None
        if name in SUSPICIOUS_NAMES:
            return SUSPICIOUS_NAMES[name]
        for prefix, rule in PREFIX_RULES:
            if name.startswith(prefix):
                return rule
        return None

    def is_protected_module(self, name: str | None) -> bool:
        return name is not None and name.split(".")[0] in PROTECTED_MODULES

    # -- imports
    def check_module(self, node, top: str) -> None:
        if top in SUSPICIOUS_MODULES:
            self.flag(node, SUSPICIOUS_MODULES[top])
        elif top and top not in ALLOWED_MODULES:
            self.flag(node, "disallowed-import")

    def visit_Import(self, node):
        for alias in node.names:
            top = alias.name.split(".")[0]
            self.check_module(node, top)
            self.aliases[alias.asname or top] = alias.name if alias.asname else top

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if not node.level:
            self.check_module(node, module.split(".")[0])
        if node.level:
            self.flag(node, "relative-import")
        for alias in node.names:
            full = f"{module}.{alias.name}"
            if alias.name == "*":
                continue
            self.aliases[alias.asname or alias.name] = full
            rule = self.name_rule(full)
            if rule:
                self.flag(node, rule)

    # -- names and attributes
    def visit_Name(self, node):
        if node.id in ("exec", "eval", "compile", "__import__", "__builtins__", "globals", "breakpoint",
                       "get_ipython", "exit", "quit") and node.id not in self.aliases:
            # Referenced at all (called, aliased, passed around): out of place here.
            self.flag(node, SUSPICIOUS_NAMES[node.id])
        elif node.id in self.aliases:
            rule = self.name_rule(self.aliases[node.id])
            if rule:
                self.flag(node, rule)

    def visit_Attribute(self, node):
        rule = IPYTHON_ATTRIBUTES.get(node.attr) or self.name_rule(self.qualname(node))
        if node.attr == "register" and isinstance(node.value, ast.Attribute) and node.value.attr == "events":
            rule = "ipython-event-hook"  # shell.events.register(...), however `shell` was reached
        if rule:
            self.flag(node, rule)
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and node.value in IPYTHON_STRINGS:
            self.flag(node, "ipython-event-hook")
        if isinstance(node.value, (str, bytes)) and len(node.value) > LARGE_LITERAL:
            self.flag(node, "large-literal")      # embedded data: pretrained weights, test labels
        if isinstance(node.value, str) and (ABSOLUTE_PATH.match(node.value) or "gradebook.db" in node.value):
            # a path kept in a variable first (`for p in ["/.../gradebook.db", ...]: open(p)`)
            self.flag(node, "path-outside-folder")

    # -- assignments: monkeypatching
    def check_target(self, target):
        if isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self.check_target(element)
        elif isinstance(target, ast.Attribute):
            base = self.qualname(target.value)
            if base and base.split(".")[0] in ("builtins", "__builtins__"):
                self.flag(target, "builtins")
            elif self.is_protected_module(base):
                self.flag(target, "monkeypatch")
            if target.attr == "__class__":
                self.flag(target, "class-swap")
        elif isinstance(target, ast.Subscript):
            base = self.qualname(target.value)
            if base in ("sys.modules", "__builtins__", "builtins.__dict__") or (
                    isinstance(target.value, ast.Call) and self.qualname(target.value.func) == "globals"):
                self.flag(target, "namespace-tamper")

    def visit_Assign(self, node):
        for target in node.targets:
            self.check_target(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self.check_target(node.target)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self.check_target(node.target)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self.check_target(target)
        self.generic_visit(node)

    # -- calls
    def visit_Call(self, node):
        name = self.qualname(node.func)
        if name in ("setattr", "delattr") and node.args:
            target = self.qualname(node.args[0])
            if self.is_protected_module(target) or (target and target in self.aliases.values()):
                self.flag(node, "setattr-module")
        if name in ("exec", "eval", "compile") or (name or "").endswith(".exec"):
            if any(self.is_decoder(inner) for arg in node.args for inner in ast.walk(arg)):
                self.flag(node, "obfuscated-code")
        if name in FILE_CALLS or (isinstance(node.func, ast.Attribute) and node.func.attr in FILE_METHODS):
            for arg in node.args[:1]:
                if self.outside_folder(arg):
                    self.flag(node, "path-outside-folder")
        self.generic_visit(node)

    def is_decoder(self, node) -> bool:
        if not isinstance(node, ast.Call):
            return False
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("decode", "fromhex"):
            return True
        name = self.qualname(node.func) or ""
        return name.startswith(DECODERS)

    @staticmethod
    def outside_folder(node) -> bool:
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            text = str(node.values[0].value)
        if not text:
            return False
        return text.startswith(("/", "~", "\\")) or ".." in re.split(r"[/\\]", text)

    def visit_List(self, node):
        if len(node.elts) > LARGE_LITERAL // 10:
            self.flag(node, "large-literal")
        self.generic_visit(node)

    visit_Tuple = visit_Set = visit_List

    def visit_FunctionDef(self, node):
        if node.name in IPYTHON_STRINGS or node.name in ("load_ipython_extension", "unload_ipython_extension"):
            self.flag(node, "ipython-event-hook")  # named for IPython to call back
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    # -- classes: overridden comparisons, numeric subclasses
    def visit_ClassDef(self, node):
        for base in node.bases:
            name = self.qualname(base)
            if name in NUMERIC_BASES:
                self.flag(base, "numeric-subclass")
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [item.name]
            elif isinstance(item, ast.Assign):
                names = [t.id for t in item.targets if isinstance(t, ast.Name)]
            else:
                names = []
            for member in names:
                if member in COMPARISON_DUNDERS:
                    self.flag(item, "comparison-override")
                elif member in CONVERSION_DUNDERS:
                    self.flag(item, "conversion-override")
                elif member in NUMPY_PROTOCOL_DUNDERS:
                    self.flag(item, "numpy-protocol-override")
        if node.keywords:
            self.flag(node, "metaclass")
        self.generic_visit(node)


_MAGIC_LINE = re.compile(r"^(\s*)(?:\w+\s*=\s*)?(!|%{1,2})(?!=)\s*(\w*)")


def _strip_ipython(code: str) -> tuple[str, list[tuple[int, str]]]:
    """Blank IPython-only syntax (keeping line numbers), reporting what it would have run.
    Only called on cells that are not plain Python, so `!=` or `%` continuing an
    expression on a new line is never mistaken for a magic."""
    found = []
    lines = code.split("\n")
    first = lines[0].strip()
    if first.startswith("%%"):
        magic = (first[2:].split() or [""])[0]
        if magic not in CELL_MAGIC_PYTHON_BODY:
            found.append((1, f"ipython-magic-{magic or 'cell'}"))
            return "", found  # the body is not Python (bash, html, writefile, ...)
        lines[0] = ""
    for number, line in enumerate(lines, 1):
        match = _MAGIC_LINE.match(line)
        if not match:
            continue
        sigil, magic = match.group(2), match.group(3)
        if sigil == "!":
            found.append((number, "shell-escape"))
        elif magic in SHELL_MAGICS:
            found.append((number, f"ipython-magic-{magic}"))
        lines[number - 1] = match.group(1) + "pass"
    return "\n".join(lines), found


def scan_source(code: str, cell_id: str = "", aliases: dict | None = None) -> list[dict]:
    """Findings for one cell's code (aliases carry imports over from earlier cells)."""
    aliases = {} if aliases is None else aliases
    python, found = code, []
    try:
        tree = ast.parse(python)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        python, found = _strip_ipython(code)
        try:
            tree = ast.parse(python)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            tree = None
    if tree is not None:
        visitor = _Visitor(aliases)
        try:
            visitor.visit(tree)
            found += visitor.found
        except RecursionError:  # nested deeper than Python's stack: a cell built to break us
            tree = None
            found.append((1, "unscannable"))
    if tree is None:
        for number, line in enumerate(python.split("\n"), 1):
            for rule, pattern in REGEX_RULES:
                if pattern.search(line):
                    found.append((number, rule))
    source_lines = code.split("\n")
    findings, seen = [], set()
    for line, rule in sorted(found):
        if (line, rule) in seen:
            continue
        seen.add((line, rule))
        excerpt = source_lines[line - 1].strip() if 0 < line <= len(source_lines) else ""
        findings.append({"cell_id": cell_id, "line": line, "rule": rule,
                         "excerpt": excerpt[:117] + "..." if len(excerpt) > 120 else excerpt})
    return findings


def _cell_source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


def released_locked_sources(assignment: str) -> set[str]:
    """Sources of the assignment's locked cells as students receive them (hidden tests cut)."""
    path = REPO_ROOT / "source" / assignment / f"{assignment}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(f"no source notebook for assignment {assignment!r}: {path}")
    sources = set()
    for cell in json.loads(path.read_text()).get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") == "code" and meta.get("locked") and not meta.get("solution"):
            sources.add(_HIDDEN.sub("", _cell_source(cell)).strip())
    return sources


def scan_notebook(notebook, assignment: str | None = None) -> list[dict]:
    """Findings for every code cell of a notebook (a path, or an already-loaded dict)."""
    if isinstance(notebook, (str, Path)):
        notebook = json.loads(Path(notebook).read_text(encoding="utf-8"))
    trusted = set()
    if assignment:
        try:
            trusted = released_locked_sources(assignment)
        except FileNotFoundError as exc:
            # Scanning more cells than needed only risks extra flags for a human: go on, loudly.
            print(f"WARNING: scan: {exc}; scanning every cell, locked ones included", file=sys.stderr)
    aliases: dict[str, str] = {}
    findings = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        code = _cell_source(cell)
        cell_id = str(cell.get("id") or cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                      or f"cell-{index}")
        if code.strip() in trusted:
            # Still learn its imports, so later student cells resolve `np` and friends.
            scan_source(code, cell_id, aliases)
            continue
        findings += scan_source(code, cell_id, aliases)
    return findings


def flags(findings: list[dict]) -> list[str]:
    """One "suspicious: <rule>" flag per rule found, for the report; scores never change."""
    return [f"suspicious: {rule}" for rule in sorted({f["rule"] for f in findings})]


if __name__ == "__main__":
    for finding in scan_notebook(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None):
        print(f"{finding['cell_id']}:{finding['line']}: {finding['rule']}: {finding['excerpt']}")
