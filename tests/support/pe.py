"""A tiny Windows executable, built byte by byte: a real PE32+ (x86-64) image whose entry point
returns 0 (``xor eax, eax; ret``), with no imports. Windows loads and runs it; osslsigncode
and signify read it like any compiled program. Built here so the tests need no cross
compiler: every field is what the PE/COFF specification asks of a console program.
"""

from __future__ import annotations

import struct

__all__ = ["tiny_exe"]

FILE_ALIGNMENT = 0x200
SECTION_ALIGNMENT = 0x1000
CODE = b"\x31\xc0\xc3"  # xor eax, eax ; ret


def tiny_exe(*, dll: bool = False, marker: bytes = b"") -> bytes:
    """The bytes of the program (a DLL when ``dll``; ``marker`` goes in its data, so that
    two builds can differ)."""
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)  # e_lfanew: the PE header right after
    coff = struct.pack(
        "<HHIIIHH",
        0x8664,  # Machine: x86-64
        1,  # NumberOfSections
        0,  # TimeDateStamp (0: reproducible)
        0,
        0,  # no COFF symbol table
        240,  # SizeOfOptionalHeader (PE32+)
        0x0022 | (0x2000 if dll else 0),  # EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE (| DLL)
    )
    size_of_image = SECTION_ALIGNMENT * 2
    optional = struct.pack(
        "<HBBIIIII",
        0x20B,  # PE32+
        14,
        0,  # linker version
        FILE_ALIGNMENT,  # SizeOfCode
        0,
        0,  # initialized / uninitialized data
        SECTION_ALIGNMENT,  # AddressOfEntryPoint
        SECTION_ALIGNMENT,  # BaseOfCode
    )
    optional += struct.pack(
        "<QIIHHHHHHIIIIHHQQQQII",
        0x140000000 if not dll else 0x180000000,  # ImageBase
        SECTION_ALIGNMENT,
        FILE_ALIGNMENT,
        6,
        0,  # OS version
        0,
        0,  # image version
        6,
        0,  # subsystem version
        0,  # Win32VersionValue
        size_of_image,
        FILE_ALIGNMENT,  # SizeOfHeaders
        0,  # CheckSum (osslsigncode sets it)
        3,  # Subsystem: Windows console
        0x8160,  # DllCharacteristics: high-entropy VA, dynamic base, NX, terminal server aware
        0x100000,
        0x1000,  # stack reserve / commit
        0x100000,
        0x1000,  # heap reserve / commit
        0,  # LoaderFlags
        16,  # NumberOfRvaAndSizes
    )
    optional += bytes(16 * 8)  # the data directories, all empty (no imports, no signature yet)
    section = struct.pack(
        "<8sIIIIIIHHI",
        b".text",
        len(CODE) + len(marker),  # VirtualSize
        SECTION_ALIGNMENT,  # VirtualAddress
        FILE_ALIGNMENT,  # SizeOfRawData
        FILE_ALIGNMENT,  # PointerToRawData
        0,
        0,
        0,
        0,
        0x60000020,  # CODE | EXECUTE | READ
    )
    headers = bytes(dos) + b"PE\0\0" + coff + optional + section
    assert len(headers) <= FILE_ALIGNMENT
    body = (CODE + marker).ljust(FILE_ALIGNMENT, b"\0")
    return headers.ljust(FILE_ALIGNMENT, b"\0") + body
