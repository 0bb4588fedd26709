#!/usr/bin/env python3
"""Flash and RAM of the size firmwares, and what lockorder's firmwares add, by crate and symbol.

usage: size-report.py ELF_DIR LOG_DIR

ELF_DIR holds size_base, size_mutex, size_lockorder and size_static (release builds); LOG_DIR
holds their QEMU output as NAME.log (the lockorder ones report the heap they use). Needs
binutils' `size` and `nm`, which read an ARM ELF on any host.
"""
import collections
import re
import subprocess
import sys

FIRMWARES = ["size_base", "size_mutex", "size_lockorder", "size_static"]
FLASH = {".vector_table", ".text", ".rodata", ".data", ".gnu.sgstubs"}
RAM = {".data", ".bss", ".uninit"}


def sections(elf):
    out = subprocess.run(["size", "-A", elf], check=True, capture_output=True, text=True).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].startswith("."):
            sizes[parts[0]] = int(parts[1])
    return sizes


def symbols(elf):
    """Demangled symbol name (hash stripped) -> total size, for code, read-only data and RAM."""
    out = subprocess.run(
        ["nm", "-C", "-S", "--size-sort", "-t", "d", elf],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    sizes = collections.Counter()
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) != 4 or parts[2] not in "tTrRbBdD":
            continue
        sizes[(parts[2].lower(), parts[3])] += int(parts[1])
    return sizes


def crate(name):
    """The crate a symbol belongs to, roughly: drop_in_place<X> is X's, <X as Y>::f is X's."""
    m = re.match(r"core::ptr::drop_in_place<(.*)>$", name)
    if m:
        name = m.group(1)
    name = name.lstrip("<&*")
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    if m:
        return m.group(1)
    if name.startswith(("__aeabi", "mem")):
        return "compiler_builtins"
    return "(other)"


def heap_arena(syms):
    return sum(size for (kind, name), size in syms.items() if "HEAP_MEM" in name)


def main():
    elf_dir, log_dir = sys.argv[1], sys.argv[2]
    rows = {}
    for fw in FIRMWARES:
        elf = f"{elf_dir}/{fw}"
        sec = sections(elf)
        syms = symbols(elf)
        arena = heap_arena(syms)
        flash = sum(sec.get(s, 0) for s in FLASH)
        ram = sum(sec.get(s, 0) for s in RAM) - arena
        log = open(f"{log_dir}/{fw}.log").read()
        m = re.search(r"heap in use: (\d+) bytes", log)
        rows[fw] = (flash, ram, arena, int(m.group(1)) if m else 0, syms)

    base_flash, base_ram = rows["size_base"][0], rows["size_base"][1]
    print("| firmware | flash (bytes) | static RAM (bytes) | heap arena | heap in use |")
    print("|---|---:|---:|---:|---:|")
    for fw in FIRMWARES:
        flash, ram, arena, used, _ = rows[fw]
        d_flash = f" (+{flash - base_flash})" if fw != "size_base" else ""
        d_ram = f" (+{ram - base_ram})" if fw != "size_base" else ""
        print(f"| {fw} | {flash}{d_flash} | {ram}{d_ram} | {arena} | {used} |")
    print()
    print("flash = .vector_table + .text + .rodata + .data; static RAM = .data + .bss + .uninit")
    print("without the heap arena; heap in use is measured on the MCU after the run.")

    for fw in ["size_lockorder", "size_static"]:
        breakdown(fw, rows["size_base"][4], rows[fw][4])


def breakdown(fw, base, lo):
    """What firmware `fw` adds over size_base, by crate and by symbol."""
    growth = collections.Counter()
    by_symbol = collections.Counter()
    for key, size in lo.items():
        if key[0] == "b":
            continue
        delta = size - base.get(key, 0)
        if delta:
            growth[crate(key[1])] += delta
            by_symbol[key[1]] += delta
    for key, size in base.items():
        if key[0] != "b" and key not in lo:
            growth[crate(key[1])] -= size
    print()
    print(f"Flash that {fw} adds over size_base, by crate (symbols after LTO: code")
    print("inlined into a caller counts for the caller's crate, e.g. the tasks' polls):")
    for name, size in growth.most_common():
        if size:
            print(f"  {size:7d}  {name}")
    print(f"  {sum(growth.values()):7d}  total of symbol sizes")
    print()
    print(f"Largest symbols {fw} adds or grows:")
    for name, size in by_symbol.most_common(25):
        print(f"  {size:7d}  {name}")


if __name__ == "__main__":
    main()
