# A Python workload that allocates a lot, for bench/preload-check.sh: dicts,
# lists, strings, bytes, sets, big and small, across threads; prints a
# checksum that must not depend on the allocator. Run with PYTHONMALLOC=malloc
# so every object goes through malloc (pymalloc would hide most of them).
import hashlib, json, random, threading, zlib

rng = random.Random(1234)
h = hashlib.sha256()

# Many small objects: a dict of lists of strings, grown and shrunk.
table = {}
for i in range(60000):
    key = "k%06d" % rng.randrange(20000)
    table.setdefault(key, []).append(str(i) * rng.randrange(1, 8))
    if i % 7 == 0 and table:
        table.pop(next(iter(table)), None)
for k in sorted(table):
    h.update(k.encode())
    h.update(",".join(table[k]).encode())

# Big and growing buffers: realloc paths, sizes up to megabytes.
buf = bytearray()
for i in range(2000):
    buf += bytes([i % 251]) * rng.randrange(1, 3000)
h.update(zlib.compress(bytes(buf)))
big = [bytes(rng.randrange(256) for _ in range(64)) * rng.randrange(1, 2000) for _ in range(300)]
h.update(b"".join(sorted(big)))

# JSON round trip of a nested structure; sets; string building.
doc = {"rows": [{"id": i, "name": "n%d" % i, "tags": sorted({str(i % 13), str(i % 7)})}
                for i in range(20000)]}
text = json.dumps(doc, sort_keys=True)
h.update(text.encode())
h.update(str(sum(len(r["tags"]) for r in json.loads(text)["rows"])).encode())

# Threads: each builds and frees its own objects; lists cross threads.
results = [None] * 4


def worker(n):
    local = [("%d-%d" % (n, i)) * (i % 5 + 1) for i in range(30000)]
    results[n] = hashlib.md5("".join(local).encode()).hexdigest()


threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
h.update("".join(results).encode())
print("python checksum", h.hexdigest())
