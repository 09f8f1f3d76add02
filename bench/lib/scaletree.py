"""The benchmark's large workloads: 200,000 files and 1,000,000 entries, each one tree that is
also a git repository (one commit, one pack), generated once and cached.

The generator follows bench/run's 20,000-file one (nested folders up to 6 deep, pseudo-code
content cut from one pool, 1 % executable, symlinks, a `_salt` tree, fixed mtimes), but is
written for speed: every file is written with one open/write/futimens/close, and the same bytes
go to `git fast-import` as they are written (one pack, no index, no `git add` of 200,000
paths), which compresses on the other core meanwhile.

Nothing here talks to the network. `generate(scale, cache_dir)` returns the tree's path; a tree
whose stamp (`tree-SCALE.json` beside it: the parameters and GENERATOR_VERSION) matches is reused as is.
"""
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time

# Change whenever the generator changes what it makes: cached trees are then made anew.
GENERATOR_VERSION = 1

SCALES = {
    # The tree: the 20k workload times ten (about 1.4 GB of content, 1.9 GB on disk).
    "200k": {"files": 200_000, "dirs": 12_000, "median": 4096, "sigma": 1.0, "cap": 1 << 20,
             "symlinks": 400, "salt": 300},
    # A million entries (990,000 tiny files in 10,000 folders, the _salt tree): what grows is
    # the number of names, not the bytes (about 150 MB of content, 4 GB on disk in blocks).
    "1m": {"files": 990_000, "dirs": 10_000, "median": 96, "sigma": 0.8, "cap": 4096,
           "symlinks": 1000, "salt": 300},
}

SEED = 20240611
MTIME = 1_700_000_000
IDENTITY = "Bench <bench@example.invalid>"


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def params(scale):
    return dict(SCALES[scale], scale=scale, version=GENERATOR_VERSION, seed=SEED, mtime=MTIME)


def tree_path(scale, cache_dir):
    return os.path.join(cache_dir, f"tree-{scale}")


def is_ready(scale, cache_dir):
    stamp = tree_path(scale, cache_dir) + ".json"
    try:
        with open(stamp) as f:
            return json.load(f) == params(scale)
    except (OSError, ValueError):
        return False


def text_pool(rng, size):
    """The same pseudo-source text as bench/run's (zlib compresses it about 3x)."""
    letters = "abcdefghijklmnopqrstuvwxyz_"
    vocab = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(3000)]
    vocab += ["def", "return", "if", "else", "for", "in", "(", ")", "{", "}", "=", "==", ":", ",",
              "self", "None", "0", "1", "import", "class", "#", "let", "fn", "->", ";"]
    parts, n = [], 0
    while n < size:
        line = "    " * rng.randint(0, 4) + " ".join(rng.choices(vocab, k=rng.randint(0, 12))) + "\n"
        parts.append(line)
        n += len(line)
    return "".join(parts).encode()[:size]


class FastImport:
    """One commit streamed into `git fast-import`, file by file, as inline data."""

    def __init__(self, repo, env):
        subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True, env=env)
        subprocess.run(["git", "-C", repo, "config", "gc.auto", "0"], check=True, env=env)
        self.proc = subprocess.Popen(
            # --depth=0: no deltas. fast-import would try each blob against the one before it,
            # which costs more than all the rest here and finds nothing in unrelated files
            # (a clone of such a tree has almost none either).
            ["git", "-C", repo, "fast-import", "--quiet", "--done", "--depth=0"],
            stdin=subprocess.PIPE, env=env, bufsize=1 << 20)
        self.out = self.proc.stdin
        msg = b"Benchmark workload\n"
        self.out.write(b"commit refs/heads/main\n"
                       + f"committer {IDENTITY} {MTIME} +0000\n".encode()
                       + f"data {len(msg)}\n".encode() + msg)

    def add(self, mode, path, data):
        self.out.write(f"M {mode:o} inline {path}\ndata {len(data)}\n".encode())
        self.out.write(data)
        self.out.write(b"\n")

    def finish(self):
        self.out.write(b"\ndone\n")
        self.out.close()
        if self.proc.wait() != 0:
            raise RuntimeError(f"git fast-import exited {self.proc.returncode}")


def generate(scale, cache_dir, env):
    """Makes the tree for `scale` under cache_dir unless it is there already; returns its path."""
    path = tree_path(scale, cache_dir)
    if is_ready(scale, cache_dir):
        return path
    p = params(scale)
    free = shutil.disk_usage(cache_dir if os.path.isdir(cache_dir) else "/").free / 1e9
    need = {"200k": 5, "1m": 6}.get(scale, 1)
    if free < need + 5:
        raise RuntimeError(f"the {scale} workload needs about {need} GB and {cache_dir} has "
                           f"{free:.0f} GB free: free some space or pass --cache-dir")
    log(f"generating the {scale} workload in {path} (a few minutes, once)")
    t0 = time.monotonic()
    shutil.rmtree(path, ignore_errors=True)
    if os.path.exists(path + ".json"):
        os.unlink(path + ".json")
    os.makedirs(path)
    os.umask(0o022)
    rng = random.Random(SEED)
    pool = text_pool(rng, 4 << 20)
    words = sorted({w.decode() for w in re.findall(rb"[a-z_]{3,10}", pool[:200_000])})

    dirs = [("src", 1), ("lib", 1), ("tests", 1), ("docs", 1), ("tools", 1), ("web", 1)]
    seen = set(d for d, _ in dirs)
    while len(dirs) < p["dirs"]:
        parent, depth = rng.choice(dirs)
        if depth >= 6:
            continue
        d = f"{parent}/{rng.choice(words)}"
        if d in seen:
            continue
        seen.add(d)
        dirs.append((d, depth + 1))
    salt_roles = words[:30]
    salt_dirs = ["_salt"] + [f"_salt/{r}" for r in salt_roles] + [f"_salt/{r}/files" for r in salt_roles]
    all_dirs = [d for d, _ in dirs] + salt_dirs
    for d in all_dirs:  # parents come before their children
        os.mkdir(os.path.join(path, d))
    exts = [".py", ".py", ".py", ".js", ".rs", ".c", ".h", ".md", ".txt", ".yaml", ".json", ".html"]

    git = FastImport(path, env)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    log_median = math.log(p["median"])

    def write_files(rel_dirs, n_files, median_log, files_out):
        names = set()
        while len(files_out) < n_files:
            name = f"{rng.choice(rel_dirs)}/{rng.choice(words)}{rng.choice(exts)}"
            if name in names or name in seen:
                continue
            names.add(name)
            size = max(0, min(p["cap"], int(rng.lognormvariate(median_log, p["sigma"]))))
            off = rng.randrange(len(pool) - size)
            data = pool[off:off + size]
            mode = 0o755 if rng.random() < 0.01 else 0o644
            fd = os.open(os.path.join(path, name), flags, mode)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.utime(fd, (MTIME, MTIME))
            finally:
                os.close(fd)
            git.add(0o100000 | mode, name, data)
            files_out.append(name)
            if len(files_out) % 100_000 == 0:
                log(f"{scale}: {len(files_out)} files ({time.monotonic() - t0:.0f} s)")

    source_files = []
    write_files([d for d, _ in dirs], p["files"], log_median, source_files)
    for i in range(p["symlinks"]):
        target = rng.choice(source_files)
        link = f"{os.path.dirname(target)}/link{i}-{os.path.basename(target)}"
        os.symlink(os.path.basename(target), os.path.join(path, link))
        os.utime(os.path.join(path, link), (MTIME, MTIME), follow_symlinks=False)
        git.add(0o120000, link, os.path.basename(target).encode())
    salt_files = []
    write_files(salt_dirs, p["salt"], math.log(1024), salt_files)
    top = ("base:\n  '*':\n" + "".join(f"    - {r}\n" for r in salt_roles)).encode()
    with open(os.path.join(path, "_salt", "top.sls"), "wb") as f:
        f.write(top)
    os.utime(os.path.join(path, "_salt", "top.sls"), (MTIME, MTIME))
    git.add(0o100644, "_salt/top.sls", top)
    git.finish()
    # An index as `git checkout` leaves one, so that `git status` in the tree says it is clean.
    subprocess.run(["git", "-C", path, "read-tree", "HEAD"], check=True, env=env)
    for d in reversed(all_dirs):  # children first: setting a child's mtime is no change to its parent
        os.utime(os.path.join(path, d), (MTIME, MTIME))
    os.utime(path, (MTIME, MTIME))
    # The stamp sits beside the tree, not in it (it would be bundled).
    with open(path + ".json", "w") as f:
        json.dump(p, f)
    log(f"{scale} workload ready in {time.monotonic() - t0:.0f} s")
    return path


if __name__ == "__main__":
    # bench/lib/scaletree.py SCALE CACHE_DIR: generate one tree (bench/run does this itself).
    env = dict(os.environ, LC_ALL="C", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
    print(generate(sys.argv[1], sys.argv[2], env))
