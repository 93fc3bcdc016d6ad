"""What a file inside a source archive is, from its name and first bytes.

Used by the license-header and compiled-code checks (through
:mod:`shared.checks.source_scan`):

* :func:`is_notice` — LICENSE, NOTICE, README, CHANGES… files that carry no header (RAT's "notes");
* :func:`compiled_kind` — compiled code that has no place in a source release
  (by extension, and by the magic bytes of ELF, PE, Mach-O, Java class, WebAssembly
  and Python bytecode files whatever their name);
* :func:`is_binary_name` / :func:`looks_binary` — binaries by extension or content;
* :func:`is_source_name` — files whose format takes comments, so a license header is expected;
* :func:`is_build_file` — build-system and repository-tooling files (autotools inputs and
  outputs, CMake modules, build wrappers, CI configuration, dotfiles).
"""

from __future__ import annotations

import posixpath

__all__ = [
    "COMPILED_EXTENSIONS",
    "compiled_kind",
    "is_binary_name",
    "is_binary_named",
    "is_build_file",
    "is_build_named",
    "is_notice",
    "is_notice_named",
    "is_source_name",
    "is_source_named",
    "looks_binary",
    "name_and_ext",
]

_NOTICE_STEMS = frozenset(
    {
        "notice",
        "license",
        "licence",
        "copying",
        "copyright",
        "disclaimer",
        "disclaimer-wip",
        "readme",
        "install",
        "news",
        "author",
        "authors",
        "contributors",
        "changes",
        "changelog",
        "history",
        "keys",
        "release-notes",
        "release_notes",
        "releasenotes",
        "upgrade",
        "upgrading",
        "status",
        "third_party_notices",
        "third-party-notices",
        "building",
        "build",
        "dependencies",
        "code_of_conduct",
        "contributing",
        "security",
    }
)
_NOTICE_SUFFIXES = ("", ".txt", ".md", ".rst", ".adoc", ".html", ".htm")
_DOC_EXTENSIONS = frozenset({".md", ".markdown", ".rst", ".adoc", ".asciidoc", ".txt"})


_NOTICE_NAMES = frozenset(stem + suffix for stem in _NOTICE_STEMS for suffix in _NOTICE_SUFFIXES)
_NOTICE_PREFIXES = ("license", "licence", "notice", "copying")
_NOTICE_FOLDERS = frozenset({"licenses", "licences", "license", "notices"})


def _lower_base(path: str) -> str:
    return path[path.rfind("/") + 1 :].lower()  # posixpath.basename, lower-cased


def name_and_ext(path: str) -> tuple[str, str]:
    """The lower-cased file name of ``path`` and its extension (``posixpath.splitext``'s), as
    the functions below read them: :func:`shared.checks.header_rules.judge` computes them
    once and hands them to the ``*_named`` variants."""
    name = _lower_base(path)
    return name, posixpath.splitext(name)[1]


def is_notice(path: str) -> bool:
    """True for notice and documentation files RAT does not expect a header in.

    ``LICENSE``, ``NOTICE.txt``, ``README.md``, ``CHANGES``, ``LICENSE-binary``,
    ``licenses/LICENSE.foo``… and every ``.md`` / ``.rst`` / ``.txt`` document.
    """
    return is_notice_named(path, *name_and_ext(path))


def is_notice_named(path: str, name: str, ext: str) -> bool:
    """:func:`is_notice` given :func:`name_and_ext` of ``path``."""
    if name in _SOURCE_NAMES:
        return False
    if name in _NOTICE_NAMES:
        return True
    # LICENSE-binary, LICENSE.foo, NOTICE-bar, license_gpl.txt, licenses/… files.
    for prefix in _NOTICE_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix) and name[len(prefix)] in "-._":
            return True
    if "/" in path and not _NOTICE_FOLDERS.isdisjoint(path.lower().split("/")[:-1]):
        return True
    return ext in _DOC_EXTENSIONS


COMPILED_EXTENSIONS: dict[str, str] = {
    ".class": "Java bytecode",
    ".jar": "Java archive",
    ".war": "Java web archive",
    ".ear": "Java enterprise archive",
    ".aar": "Android archive",
    ".apk": "Android package",
    ".dex": "Dalvik bytecode",
    ".so": "shared library",
    ".dylib": "shared library",
    ".dll": "Windows library",
    ".exe": "Windows executable",
    ".lib": "static library",
    ".a": "static library",
    ".o": "object file",
    ".obj": "object file",
    ".ko": "kernel module",
    ".pyc": "Python bytecode",
    ".pyo": "Python bytecode",
    ".pyd": "Python extension",
    ".whl": "Python wheel",
    ".egg": "Python egg",
    ".beam": "Erlang bytecode",
    ".wasm": "WebAssembly module",
    ".node": "Node.js native addon",
    ".nupkg": "NuGet package",
    ".pdb": "debug symbols",
    ".elc": "compiled Emacs Lisp",
}
"""Extension (lower case) → what compiled code it holds."""

_VERSIONED_SO = (".so.",)

_BINARY_EXTENSIONS = frozenset(
    {
        # images, documents, media
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".bmp",
        ".ico",
        ".icns",
        ".tif",
        ".tiff",
        ".psd",
        ".webp",
        ".pdf",
        ".doc",
        ".docx",
        ".xls",
        ".xlsx",
        ".ppt",
        ".pptx",
        ".odt",
        ".odp",
        ".ods",
        ".swf",
        ".mp3",
        ".mp4",
        ".wav",
        ".ogg",
        ".avi",
        ".mov",
        ".mid",
        ".m4a",
        ".aif",
        ".wma",
        ".flac",
        ".webm",
        # fonts
        ".ttf",
        ".otf",
        ".woff",
        ".woff2",
        ".eot",
        # archives
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".zst",
        ".7z",
        ".tar",
        ".rar",
        ".lz4",
        # key stores and certificates
        ".jks",
        ".keystore",
        ".truststore",
        ".p12",
        ".pfx",
        ".der",
        ".crt",
        ".cer",
        ".pem",
        ".crl",
        ".ks",
        # data
        ".dat",
        ".bin",
        ".db",
        ".sqlite",
        ".parquet",
        ".avro",
        ".orc",
        ".arrow",
        ".feather",
        ".npy",
        ".npz",
        ".pkl",
        ".pickle",
        ".ser",
        ".idx",
        ".pack",
        ".snappy",
        ".lz",
        ".deflate",
    }
)


def _ext(name: str) -> str:
    return posixpath.splitext(name)[1]


def is_binary_name(path: str) -> bool:
    """True if the file's extension says it is binary (including compiled code)."""
    return is_binary_named(*name_and_ext(path))


def is_binary_named(name: str, ext: str) -> bool:
    """:func:`is_binary_name` given :func:`name_and_ext` of the path."""
    return (
        ext in _BINARY_EXTENSIONS
        or ext in COMPILED_EXTENSIONS
        or any(m in name for m in _VERSIONED_SO)
    )


_ODD_BYTES = bytes([*range(9), *range(14, 32), *range(0x80, 0x100)])
"""Control characters other than tab, LF, VT, FF, CR, and bytes above ASCII."""


def looks_binary(head: bytes) -> bool:
    """True if the first bytes of a file look binary: a NUL byte, or text that is not UTF-8
    and has many control characters (RAT's taste test, on the first 8 KB)."""
    sample = head[:8192]
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut multi-byte character at the very end is still text.
        if exc.start < len(sample) - 4:
            odd = len(sample) - len(sample.translate(None, _ODD_BYTES))
            return odd * 100 > len(sample) * 30
    return False


def _is_pe(head: bytes) -> bool:
    if len(head) < 0x40 or head[:2] != b"MZ":
        return False
    offset = int.from_bytes(head[0x3C:0x40], "little")
    return offset + 4 <= len(head) and head[offset : offset + 4] == b"PE\x00\x00"


_MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")


_FIXED_MAGICS = {
    b"\x7fELF": "ELF binary",
    b"\x00asm": "WebAssembly module",
    **dict.fromkeys(_MACHO_MAGICS, "Mach-O binary"),
}


def _magic_kind(head: bytes) -> str | None:
    fixed = _FIXED_MAGICS.get(head[:4])
    if fixed is not None:
        return fixed
    if _is_pe(head):
        return "Windows executable"
    if head[:4] == b"\xca\xfe\xba\xbe":
        # Java class files and Mach-O universal binaries share this magic: the next
        # 4 bytes are a class-file version (major ≥ 45) or a small architecture count.
        major = int.from_bytes(head[6:8], "big") if len(head) >= 8 else 0
        return "Java bytecode" if major >= 45 else "Mach-O universal binary"
    if len(head) >= 8 and head[2:4] == b"\r\n":
        # CPython bytecode: a 2-byte little-endian magic number (3000-3999 for Python 3,
        # 62211 for 2.7) then b"\r\n". Text never starts with those control bytes.
        magic = int.from_bytes(head[:2], "little")
        if 3000 <= magic < 4000 or magic == 62211:
            return "Python bytecode"
    return None


def compiled_kind(path: str, head: bytes) -> str | None:
    """What compiled code the file is (``"Java bytecode"``, ``"ELF binary"``…), or ``None``."""
    name = _lower_base(path)
    by_magic = _magic_kind(head)
    if by_magic is not None:
        return by_magic
    ext = _ext(name)
    if ext in COMPILED_EXTENSIONS:
        return COMPILED_EXTENSIONS[ext]
    if any(m in name for m in _VERSIONED_SO):
        return "shared library"
    return None


_SOURCE_EXTENSIONS = frozenset(
    {
        # C family, JVM, .NET, systems
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".cxx",
        ".hpp",
        ".hh",
        ".hxx",
        ".ipp",
        ".inl",
        ".m",
        ".mm",
        ".java",
        ".kt",
        ".kts",
        ".scala",
        ".sc",
        ".groovy",
        ".gradle",
        ".clj",
        ".cljs",
        ".cljc",
        ".cs",
        ".fs",
        ".fsx",
        ".vb",
        ".swift",
        ".go",
        ".rs",
        ".zig",
        ".d",
        ".cu",
        ".cuh",
        # scripting
        ".py",
        ".pyx",
        ".pxd",
        ".pxi",
        ".pyi",
        ".rb",
        ".pl",
        ".pm",
        ".php",
        ".lua",
        ".r",
        ".jl",
        ".erl",
        ".hrl",
        ".ex",
        ".exs",
        ".hs",
        ".ml",
        ".mli",
        ".dart",
        ".tcl",
        ".awk",
        ".sh",
        ".bash",
        ".zsh",
        ".ksh",
        ".fish",
        ".bat",
        ".cmd",
        ".ps1",
        ".psm1",
        # web
        ".js",
        ".mjs",
        ".cjs",
        ".jsx",
        ".ts",
        ".tsx",
        ".mts",
        ".cts",
        ".vue",
        ".svelte",
        ".css",
        ".scss",
        ".sass",
        ".less",
        ".html",
        ".htm",
        ".xhtml",
        ".jsp",
        ".jspf",
        ".ftl",
        ".vm",
        ".jinja",
        ".j2",
        ".mustache",
        ".hbs",
        ".tmpl",
        # data definitions and build files that take comments
        ".xml",
        ".xsd",
        ".xsl",
        ".xslt",
        ".wsdl",
        ".dtd",
        ".svg",
        ".proto",
        ".thrift",
        ".fbs",
        ".avdl",
        ".g4",
        ".y",
        ".l",
        ".sql",
        ".cql",
        ".hql",
        ".graphql",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".conf",
        ".properties",
        ".cmake",
        ".mk",
        ".am",
        ".ac",
        ".m4",
        ".bzl",
        ".bazel",
        ".tf",
        ".hcl",
        ".nix",
        ".s",
        ".asm",
        ".pom",
    }
)
_SOURCE_NAMES = frozenset(
    {
        "makefile",
        "gnumakefile",
        "dockerfile",
        "containerfile",
        "jenkinsfile",
        "vagrantfile",
        "rakefile",
        "gemfile",
        "cmakelists.txt",
        "workspace",
        "build.bazel",
        "sconstruct",
        "sconscript",
    }
)


def is_source_name(path: str) -> bool:
    """True for files whose format takes comments: code, markup, build and config files.

    JSON, CSV, plain-text data and the like cannot carry a header and are not
    expected to (RAT treats JSON as binary data for the same reason).
    """
    return is_source_named(*name_and_ext(path))


def is_source_named(name: str, ext: str) -> bool:
    """:func:`is_source_name` given :func:`name_and_ext` of the path."""
    if name in _SOURCE_NAMES or name.startswith(("dockerfile.", "makefile.")):
        return True
    return ext in _SOURCE_EXTENSIONS


_BUILD_NAMES = frozenset(
    {
        # autotools: inputs, outputs and the helper scripts they install
        "configure",
        "configure.ac",
        "configure.in",
        "aclocal.m4",
        "acinclude.m4",
        "config.guess",
        "config.sub",
        "config.rpath",
        "ltmain.sh",
        "libtool",
        "install-sh",
        "install.sh",
        "mkinstalldirs",
        "depcomp",
        "missing",
        "compile",
        "ar-lib",
        "ylwrap",
        "py-compile",
        "test-driver",
        "autogen.sh",
        "bootstrap.sh",
        "buildconf",
        "buildconf.bat",
        # wrappers that build tools write into a project
        "mvnw",
        "mvnw.cmd",
        "gradlew",
        "gradlew.bat",
        # CI and repository configuration
        "jenkinsfile",
        "appveyor.yml",
        "azure-pipelines.yml",
        "codecov.yml",
        "renovate.json",
    }
)
_BUILD_EXTENSIONS = frozenset(
    {
        ".m4",  # autoconf macros
        ".am",  # automake
        ".in",  # configure templates: Makefile.in, config.h.in, *.pc.in, foo.conf.in
        ".cmake",
        ".mak",
        ".dsp",
        ".dsw",
        ".vcproj",
        ".vcxproj",
        ".filters",
        ".sln",
        ".def",
        ".rc",
        ".iml",
    }
)
_BUILD_FOLDERS = frozenset({".github", ".circleci", ".mvn", ".idea", ".settings", ".vscode"})


def is_build_file(path: str) -> bool:
    """True for build-system and repository-tooling files: autotools inputs, outputs and
    helper scripts (``configure``, ``Makefile.in``, ``*.m4``, ``config.guess``…), CMake
    modules, Windows project files, build-tool wrappers (``mvnw``, ``gradlew``), CI
    configuration (``.github/``, ``.travis.yml``…) and dotfiles (``.gitignore``…).

    The ASF's header policy asks for headers on source files; these are the build's
    machinery, often generated or copied from the tool, and RAT users exclude them.
    """
    return is_build_named(path, *name_and_ext(path))


def is_build_named(path: str, name: str, ext: str) -> bool:
    """:func:`is_build_file` given :func:`name_and_ext` of ``path``."""
    if name in _BUILD_NAMES or name.startswith("."):
        return True
    if "/" in path and not _BUILD_FOLDERS.isdisjoint(path.split("/")[:-1]):
        return True
    if name.startswith("makefile"):
        return name != "makefile"  # Makefile.in, Makefile.win, makefile.vc; not Makefile
    return ext in _BUILD_EXTENSIONS
