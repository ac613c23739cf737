"""Only the optional C extensions are declared here; everything else is in pyproject.toml.

Both are optional: where no C compiler is available, the install still succeeds and veil uses
their pure-Python routes instead, which give the same answers (tests compare them):
- veil.audit._multiscan, the audit's scan kernel (else numpy; veil.audit.multiscan.BACKEND);
- veil.engine.fast._parse, the fast path's parse of explicit VR element streams (else
  parse.py's loop; veil.engine.fast.parse.BACKEND).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "veil.audit._multiscan",
            sources=["src/veil/audit/_multiscan.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
        Extension(
            "veil.engine.fast._parse",
            sources=["src/veil/engine/fast/_parse.c"],
            extra_compile_args=["-O3"],
            optional=True,
        ),
    ]
)
