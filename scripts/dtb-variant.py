#!/usr/bin/env python3
"""Make a variant of a flattened device tree, to boot the kernel on a machine
QEMU cannot describe by itself.

    scripts/dtb-variant.py IN.dtb OUT.dtb [--disable HARTID]... [--no-mmu HARTID]...

--disable sets status = "disabled" on /cpus/cpu@HARTID; --no-mmu deletes its
mmu-type (a hart that cannot run S-mode). Get IN.dtb from QEMU with
`-machine virt,dumpdtb=IN.dtb` and the same -smp and -m; boot with -dtb OUT.dtb.
"""
import argparse
import struct

BEGIN, END, PROP, NOP, FDT_END = 1, 2, 3, 4, 9


class Node:
    def __init__(self, name):
        self.name, self.props, self.children = name, [], []


def parse(blob):
    (magic, total, off_struct, off_strings, off_rsv, version, last, boot_cpu, size_strings,
     size_struct) = struct.unpack(">10I", blob[:40])
    assert magic == 0xD00DFEED, "not a device tree"
    rsv = []
    off = off_rsv
    while True:
        a, s = struct.unpack(">QQ", blob[off:off + 16])
        off += 16
        if a == 0 and s == 0:
            break
        rsv.append((a, s))
    strings = blob[off_strings:off_strings + size_strings]
    p = off_struct
    stack, root = [], None
    while True:
        (tok,) = struct.unpack(">I", blob[p:p + 4])
        p += 4
        if tok == BEGIN:
            e = blob.index(b"\0", p)
            node = Node(blob[p:e].decode())
            p = (e + 1 + 3) & ~3
            if stack:
                stack[-1].children.append(node)
            else:
                root = node
            stack.append(node)
        elif tok == END:
            stack.pop()
        elif tok == PROP:
            length, nameoff = struct.unpack(">II", blob[p:p + 8])
            p += 8
            name = strings[nameoff:strings.index(b"\0", nameoff)].decode()
            stack[-1].props.append([name, blob[p:p + length]])
            p = (p + length + 3) & ~3
        elif tok == NOP:
            pass
        elif tok == FDT_END:
            break
        else:
            raise ValueError("bad token %d" % tok)
    return root, rsv, boot_cpu


def serialize(root, rsv, boot_cpu):
    strings, offsets = bytearray(), {}
    out = bytearray()

    def name_off(n):
        if n not in offsets:
            offsets[n] = len(strings)
            strings.extend(n.encode() + b"\0")
        return offsets[n]

    def emit(node):
        out.extend(struct.pack(">I", BEGIN))
        name = node.name.encode() + b"\0"
        out.extend(name + b"\0" * (-len(name) % 4))
        for n, v in node.props:
            out.extend(struct.pack(">III", PROP, len(v), name_off(n)))
            out.extend(v + b"\0" * (-len(v) % 4))
        for c in node.children:
            emit(c)
        out.extend(struct.pack(">I", END))

    emit(root)
    out.extend(struct.pack(">I", FDT_END))
    rsvmap = b"".join(struct.pack(">QQ", a, s) for a, s in rsv + [(0, 0)])
    off_rsv = 40
    off_struct = off_rsv + len(rsvmap)
    off_strings = off_struct + len(out)
    total = off_strings + len(strings)
    header = struct.pack(">10I", 0xD00DFEED, total, off_struct, off_strings, off_rsv, 17, 16,
                         boot_cpu, len(strings), len(out))
    return header + rsvmap + bytes(out) + bytes(strings)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--disable", type=int, action="append", default=[])
    ap.add_argument("--no-mmu", type=int, action="append", default=[])
    a = ap.parse_args()
    root, rsv, boot_cpu = parse(open(a.inp, "rb").read())
    cpus = next(c for c in root.children if c.name == "cpus")
    found = set()
    for cpu in cpus.children:
        if not cpu.name.startswith("cpu@"):
            continue
        hart = int(cpu.name[4:], 16)
        if hart in a.disable:
            cpu.props = [p for p in cpu.props if p[0] != "status"] + [["status", b"disabled\0"]]
            found.add(hart)
        if hart in a.no_mmu:
            cpu.props = [p for p in cpu.props if p[0] != "mmu-type"]
            found.add(hart)
    missing = set(a.disable + a.no_mmu) - found
    if missing:
        ap.error("no /cpus/cpu@N for hart(s) %s" % sorted(missing))
    open(a.out, "wb").write(serialize(root, rsv, boot_cpu))


if __name__ == "__main__":
    main()
