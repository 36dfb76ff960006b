"""Build the Cython protocol core into the extension module ``psqlpy.protocol``.

``PSQLPY_DEBUG=1`` builds with bounds checks, line tracing and annotated HTML
(``make debug``); the default build is the fast one.
"""
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("PSQLPY_DEBUG") == "1"

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "cdivision": True,
    "embedsignature": True,
    "linetrace": DEBUG,
    "profile": DEBUG,
}
macros = [("CYTHON_TRACE", "1"), ("CYTHON_TRACE_NOGIL", "1")] if DEBUG else []
# The release build carries no debug info (4 MB of it otherwise: Python's own
# CFLAGS ask for -g) and is stripped at link time.
cflags = ["-O0", "-g"] if DEBUG else ["-O2", "-g0"]
ldflags = [] if DEBUG else ["-Wl,--strip-all"]

extensions = [
    Extension(
        "psqlpy.protocol",
        ["protocol/protocol.pyx"],
        include_dirs=["protocol"],
        define_macros=macros,
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives=directives,
        annotate=DEBUG or os.environ.get("PSQLPY_ANNOTATE") == "1",
        include_path=["protocol"],
    )
)
