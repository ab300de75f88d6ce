# ruff: noqa: E501  (data: one input a line reads better than wrapped strings)
"""A corpus of hostile REPL inputs (data): what a user may type or paste, at its worst.

Each entry is (name, source, needs_interrupt): ``needs_interrupt`` inputs run until
ctrl+c. Left out on purpose: what takes the whole process down by design or holds the
interpreter inside one C call where no interrupt can land (``os._exit``, ``os.kill`` of
ourselves, ``sum(itertools.count())``, ``threading.Event().wait()``, huge ``**``), and
what changes the test process for every later test (``sys.setrecursionlimit``,
``os.chdir``, ``warnings.simplefilter('error')``).
"""

from __future__ import annotations

HOSTILE: list[tuple[str, str, bool]] = [
    # -- nesting the parser and compiler give up on --
    ("3000 tildes", "~" * 3000 + "1", False),
    ("3000 terms", "+".join(["1"] * 3000), False),
    ("3000 nots", "not " * 3000 + "x", False),
    ("3000 minus", "-" * 3000 + "1", False),
    ("3000 parens", "(" * 3000 + "1" + ")" * 3000, False),
    ("5000 open brackets", "[" * 5000, False),
    ("deep calls", "f(" * 2000 + ")" * 2000, False),
    ("deep lambdas", "lambda: " * 3000 + "1", False),
    ("many lambdas", "f = " + "lambda: " * 400 + "1", False),
    ("deep dict", "{1: " * 1000 + "1" + "}" * 1000, False),
    ("deep attribute chain", "x" + ".y" * 5000, False),
    ("deep subscripts", "x" + "[0]" * 3000, False),
    ("long and chain", " and ".join(["True"] * 5000), False),
    ("long comparison", " < ".join(["1"] * 3000), False),
    ("huge line", "x = " + "1" * 200_000, False),
    ("long string literal", "s = '" + "a" * 100_000 + "'", False),
    ("many statements", "\n".join(f"v{i} = {i}" for i in range(3000)), False),
    (
        "deep if blocks",
        "\n".join(" " * i + "if True:" for i in range(100)) + "\n" + " " * 100 + "pass",
        False,
    ),
    # -- syntax the REPL must report, not choke on --
    ("unclosed string", "'abc", False),
    ("unclosed triple string", "'''abc", False),
    ("null byte", "x = 1\x00", False),
    ("lone surrogate literal", "'\\ud800'", False),
    ("tab mix", "if True:\n\tx = 1\n        y = 2", False),
    ("top-level yield", "yield 1", False),
    ("top-level return", "return 5", False),
    ("top-level await", "await x", False),
    ("break outside loop", "break", False),
    ("nonlocal at top", "nonlocal x", False),
    ("bad decorator", "@\ndef f(): pass", False),
    ("only a backslash", "\\", False),
    ("only a comment", "# nothing here", False),
    ("unicode identifiers", "π = 3.14\nπ", False),
    ("int too long", "10 ** 100_000", False),
    ("str of huge int", "str(10 ** 5000)", False),
    # -- code that runs until ctrl+c --
    ("busy loop", "while True:\n    pass", True),
    ("sleep", "import time\ntime.sleep(30)", True),
    ("sleep in a loop", "import time\nwhile True:\n    time.sleep(0.5)", True),
    (
        "repr that loops",
        "class L:\n    def __repr__(self):\n        while True:\n            pass\nL()",
        True,
    ),
    (
        "str that loops",
        "class E(Exception):\n    def __str__(self):\n        while True:\n            pass\nraise E()",
        True,
    ),
    (
        "loop that swallows one interrupt",
        "while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        break",
        True,
    ),
    (
        "generator forever",
        "def g():\n    while True:\n        yield 1\nfor _ in g():\n    pass",
        True,
    ),
    # -- output, huge and hostile --
    ("100 MB print", "print('x' * 10**8)", False),
    ("100k lines", "for i in range(100_000):\n    print(i)", False),
    ("100 MB value", "'y' * 10**8", False),
    ("huge list value", "list(range(10**6))", False),
    ("huge bytes value", "b'\\x1b' * 10**6", False),
    ("100 MB error", "raise ValueError('y' * 10**8)", False),
    (
        "huge error notes",
        "e = ValueError('x')\nfor i in range(1000):\n    e.add_note('n' * 1000)\nraise e",
        False,
    ),
    (
        "long exception chain",
        "def f(n):\n    if n == 0:\n        raise ValueError('bottom')\n    try:\n        f(n - 1)\n    except ValueError as e:\n        raise ValueError(n) from e\nf(150)",
        False,
    ),
    ("exception group", "raise ExceptionGroup('many', [ValueError(i) for i in range(500)])", False),
    ("runtime recursion", "def f():\n    return f()\nf()", False),
    ("clear screen", "print('\\x1b[2J\\x1b[H')", False),
    ("leave alternate screen", "print('\\x1b[?1049l')", False),
    ("title", "print('\\x1b]0;pwned\\x07')", False),
    ("terminal reset", "print('\\x1bc')", False),
    ("device status query", "print('\\x1b[6n')", False),
    ("mouse off", "print('\\x1b[?1000l\\x1b[?1006l')", False),
    ("hyperlink", "print('\\x1b]8;;http://x\\x1b\\\\link\\x1b]8;;\\x1b\\\\')", False),
    ("c1 csi", "print('\\x9b2J')", False),
    ("bell and backspace", "print('\\a\\b\\b\\bX')", False),
    ("carriage returns", "print('50%\\r100%')", False),
    ("escape in repr", "class R:\n    def __repr__(self):\n        return '\\x1b[2J'\nR()", False),
    ("escape in error", "raise ValueError('\\x1b[2J\\x1b[?1049l')", False),
    ("lone surrogate print", "print('\\ud800')", False),
    ("wide characters", "print('表' * 5000)", False),
    ("combining marks", "print('e' + '\\u0301' * 5000)", False),
    ("rtl override", "print('\\u202eabc')", False),
    ("markup lookalike", "print('[bold red]not markup[/]')", False),
    ("write bytes to stdout", "import sys\nsys.stdout.write(b'x')", False),
    ("stdout set to None", "import sys\nsys.stdout = None\nprint('gone')", False),
    (
        "stderr set to None",
        "import sys\nsys.stderr = None\nimport warnings\nwarnings.warn('w')",
        False,
    ),
    # -- fd-level writes and children --
    ("os.write 1", "import os\nos.write(1, b'\\x1b[2Jfd one\\n')", False),
    ("os.write 2", "import os\nos.write(2, b'\\x1b[?1049lfd two\\n')", False),
    ("C printf", "import ctypes\nctypes.CDLL(None).printf(b'\\x1b[2Jfrom C\\n')", False),
    ("os.system", "import os\nos.system('printf \"\\\\033[2Jshell\\\\n\"')", False),
    (
        "child process",
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'print(\"\\\\x1b[2Jchild\")'])",
        False,
    ),
    ("child stderr", "import subprocess\nsubprocess.run('echo err >&2', shell=True)", False),
    ("big fd write", "import os\nos.write(1, b'z' * 10**6)", False),
    # -- threads the user starts --
    (
        "thread print",
        "import threading\nthreading.Thread(target=lambda: print('\\x1b[2Jthread')).start()",
        False,
    ),
    (
        "thread logging",
        "import threading, logging\nthreading.Thread(target=lambda: logging.getLogger('t').error('logged')).start()",
        False,
    ),
    (
        "thread warning",
        "import threading, warnings\nthreading.Thread(target=lambda: warnings.warn('thread warning')).start()",
        False,
    ),
    ("thread raising", "import threading\nthreading.Thread(target=lambda: 1 / 0).start()", False),
    (
        "many thread prints",
        "import threading\nfor i in range(50):\n    threading.Thread(target=print, args=(i,)).start()",
        False,
    ),
    # -- leaving, reading, asking --
    ("exit()", "exit()", False),
    ("quit()", "quit()", False),
    ("sys.exit", "import sys\nsys.exit(3)", False),
    ("raise SystemExit", "raise SystemExit('bye')", False),
    ("raise KeyboardInterrupt", "raise KeyboardInterrupt", False),
    ("raise GeneratorExit", "raise GeneratorExit", False),
    ("raise BaseException", "raise BaseException('base')", False),
    ("input()", "input('name? ')", False),
    ("help()", "help()", False),
    ("help(obj)", "help(len)", False),
    ("exit name", "exit", False),
    # -- hostile objects and namespaces --
    (
        "class property raises",
        "class C:\n    @property\n    def __class__(self):\n        raise RuntimeError('no class')\nc = C()",
        False,
    ),
    (
        "class property exits",
        "class X:\n    @property\n    def __class__(self):\n        raise SystemExit\nxx = X()",
        False,
    ),
    (
        "repr raises",
        "class R:\n    def __repr__(self):\n        raise RuntimeError('no repr')\nR()",
        False,
    ),
    ("repr not str", "class R:\n    def __repr__(self):\n        return 5\nR()", False),
    (
        "str raises in error",
        "class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no str')\nraise E()",
        False,
    ),
    (
        "str not str in error",
        "class E(Exception):\n    def __str__(self):\n        return 5\nraise E()",
        False,
    ),
    (
        "getattr raises",
        "class G:\n    def __getattr__(self, name):\n        raise SystemExit\ng = G()",
        False,
    ),
    (
        "dir loops",
        "class D:\n    def __dir__(self):\n        while True:\n            pass\nd = D()",
        False,
    ),
    (
        "eq raises",
        "class Q:\n    def __eq__(self, other):\n        raise RuntimeError\n    __hash__ = object.__hash__\nq = Q()",
        False,
    ),
    (
        "del prints",
        "class P:\n    def __del__(self):\n        print('deleted')\np = P()\ndel p",
        False,
    ),
    (
        "nested tensor",
        "import torch\nnt = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])",
        False,
    ),
    ("meta giant", "import torch\nm = torch.empty(10**12, device='meta')", False),
    ("sparse", "import torch\nsp = torch.ones(3, 3).to_sparse()", False),
    (
        "complex and bool",
        "import torch\ncz = torch.ones(3, dtype=torch.complex64)\nbz = torch.ones(3, dtype=torch.bool)",
        False,
    ),
    (
        "nan and inf",
        "import torch\nni = torch.tensor([float('nan'), float('inf'), -float('inf')])",
        False,
    ),
    (
        "tensor subclass",
        "import torch\nclass T(torch.Tensor):\n    pass\nts = torch.ones(2).as_subclass(T)",
        False,
    ),
    (
        "module whose parameters raise",
        "import torch\nclass M(torch.nn.Module):\n    def parameters(self, recurse=True):\n        raise RuntimeError('no')\nmm = M()",
        False,
    ),
    ("zero-dim array", "import numpy as np\nza = np.float64(3)\nea = np.empty((0, 3))", False),
    ("object array", "import numpy as np\noa = np.array([object(), None], dtype=object)", False),
    # -- last: these spoil the namespace for every input after them --
    ("non-str key", "globals()[1] = 2", False),
    ("delete torch", "del torch", False),
    ("builtins None", "__builtins__ = None", False),
    ("clear globals", "globals().clear()", False),
    ("shadow print", "print = 5", False),
]
