"""Only the optional C scan kernel is declared here; everything else is in pyproject.toml.

The extension is optional: where no C compiler is available, the install still succeeds and
the audit uses its numpy scan instead (veil.audit.multiscan says which one is in use).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "veil.audit._multiscan",
            sources=["src/veil/audit/_multiscan.c"],
            extra_compile_args=["-O3"],
            optional=True,
        )
    ]
)
