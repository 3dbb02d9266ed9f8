"""Orders a WebAssembly module's functions so that it compresses better.

gzip (deflate) finds repeats only within the last 32 KB it read, and the
module's functions come in the order the compiler emitted them, so two
functions with the same shape (two async state machines, two argument
conversions) often sit too far apart for the second to be coded as a copy
of the first. `compression_order` lays the functions out greedily, each
followed by the one that adds the fewest compressed bytes after it; the
build then names them in that order and lets binaryen's
`--reorder-functions-by-name` move them, which renumbers every call, table
entry and export to match. What the functions do is untouched. Brotli,
which CDNs also serve, gains too (docs/size.md).

Deterministic: the same module gives the same order wherever the same
zlib compresses (the figures the build reports depend on zlib already).
"""

import zlib

# The orders the build tries, each a (candidates, recent) pair: at each
# step, `candidates` functions, the most alike in their byte patterns to
# the last `recent` placed, are each compressed after what is already
# placed. The greedy walk is chaotic: a change anywhere in the module, or
# a setting one step off, moves the result by up to 0.3 KB either way,
# with no setting best on every module. So the build keeps the smallest
# of four (scripts/build.py, `order_functions`), two at a time on two
# cores; each is some 13 s. 40 candidates alike to the last function
# alone came out 0.4 KB larger on three builds, and 20, 160 or 400 no
# better.
SETTINGS = ((80, 8), (80, 10), (60, 8), (100, 8))


def leb(data: bytes, i: int):
    """An unsigned LEB128 at `i`: (value, next index)."""
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def sections(wasm: bytes):
    """(id, start, payload start, end) of each section."""
    i, out = 8, []
    while i < len(wasm):
        sid = wasm[i]
        size, j = leb(wasm, i + 1)
        out.append((sid, i, j, j + size))
        i = j + size
    return out


def imports(wasm: bytes) -> list:
    """The (module, name, kind) of each entry of the import section (kind
    0 is a function, 1 a table, 2 a memory, 3 a global)."""
    found = []
    for sid, _, start, _ in sections(wasm):
        if sid != 2:
            continue
        n, i = leb(wasm, start)
        for _ in range(n):
            pair = []
            for _ in range(2):  # module and name
                size, i = leb(wasm, i)
                pair.append(wasm[i : i + size].decode())
                i += size
            kind, i = wasm[i], i + 1
            if kind == 0:  # function: type index
                _, i = leb(wasm, i)
            elif kind == 1:  # table: element type, limits
                flags, i = wasm[i + 1], i + 2
                for _ in range(1 + (flags & 1)):
                    _, i = leb(wasm, i)
            elif kind == 2:  # memory: limits
                flags, i = wasm[i], i + 1
                for _ in range(1 + (flags & 1)):
                    _, i = leb(wasm, i)
            elif kind == 3:  # global: value type, mutability
                i += 2
            else:
                raise ValueError(f"import of kind {kind} in {pair}: not one wasm-bindgen emits")
            found.append((*pair, kind))
    return found


def function_bodies(wasm: bytes) -> list:
    for sid, _, start, _ in sections(wasm):
        if sid == 10:
            n, i = leb(wasm, start)
            bodies = []
            for _ in range(n):
                size, i = leb(wasm, i)
                bodies.append(wasm[i : i + size])
                i += size
            return bodies
    return []


def _patterns(body: bytes) -> set:
    """The body's 4-byte sequences, hashed (crc32: stable across runs)."""
    return {zlib.crc32(body[i : i + 4]) for i in range(max(1, len(body) - 3))}


def compression_order(bodies: list, candidates: int, recent: int) -> list:
    """The indices of `bodies` in a greedy order for deflate: starting from
    the largest, each next body is, of the `candidates` whose byte patterns
    the last `recent` placed share most, the one that costs the fewest
    compressed bytes per byte after everything placed so far."""
    patterns = [_patterns(b) for b in bodies]
    # A small sample of each body's patterns (the lowest hashes) to rank
    # the candidates cheaply.
    samples = [set(sorted(p)[:48]) for p in patterns]
    left = set(range(len(bodies)))
    current = max(left, key=lambda i: (len(bodies[i]), -i))
    order = [current]
    left.remove(current)
    placed = zlib.compressobj(9)
    placed.compress(bodies[current])
    while left:
        seen = set().union(*(patterns[i] for i in order[-recent:]))
        alike = lambda j: len(samples[j] & seen) / max(1, len(samples[j]))
        tried = sorted(left, key=lambda j: (-alike(j), j))[:candidates]
        base = len(placed.copy().flush())
        best, best_cost = None, None
        for j in tried:
            trial = placed.copy()
            cost = (len(trial.compress(bodies[j])) + len(trial.flush()) - base) / max(1, len(bodies[j]))
            if best_cost is None or cost < best_cost:
                best, best_cost = j, cost
        current = best
        order.append(current)
        left.remove(current)
        placed.compress(bodies[current])
    return order


def named_in_order(wasm: bytes, order: list) -> bytes:
    """The module with a name section (replacing any) that names its
    defined functions so that sorting by name gives `order`."""
    imported = sum(1 for _, _, kind in imports(wasm) if kind == 0)
    out = bytearray(wasm[:8])
    for sid, start, payload, end in sections(wasm):
        if sid == 0:
            size, i = leb(wasm, payload)
            if wasm[i : i + size] == b"name":
                continue
        out += wasm[start:end]
    names = bytearray(uleb(len(order)))
    for rank, f in sorted(enumerate(order), key=lambda p: p[1]):
        name = b"f%06d" % rank
        names += uleb(imported + f) + uleb(len(name)) + name
    payload = uleb(4) + b"name" + b"\x01" + uleb(len(names)) + names
    out += b"\x00" + uleb(len(payload)) + payload
    return bytes(out)
