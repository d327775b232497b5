"""Per-call A/B of two libswiftlet builds on the LoopFormer prefill.

One bindings worker process per library, both alive at once; prefills of the 128-token prompt are
alternated A, B, A, B ... (the order flipped every other pair) on the same .swl files, so that a
change of machine load hits both alike. Prints medians of wall clock and process CPU time per
prefill (1 thread) for bf16 and q8 weights at L = 1 and L = 8. The .swl files are the ones
bench.py writes into its --workdir.

  python3 Benchmarks/loopformer/ab_prefill.py --a /work/main/build/lib/libswiftlet.so \\
      --b build/lib/libswiftlet.so --workdir /tmp/swiftlet-bench-loopformer [--reps 12]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def worker(library, workdir):
    os.environ["SWIFTLET_LIBRARY"] = library
    sys.path.insert(0, os.path.join(REPO, "Bindings", "python", "src"))
    import swiftlet as sw
    sessions = {d: sw.Model(os.path.join(workdir, f"loopformer-d1024-{d}.swl")).session(threads=1)
                for d in ("bf16", "q8")}
    ids = [(i * 7919 + 13) % 50304 for i in range(128)]  # bench.py's prompt
    print("ready", flush=True)
    for line in sys.stdin:
        d, loops = line.split()
        s, budget = sessions[d], sw.Budget(loops=int(loops))
        t, c = time.perf_counter(), time.process_time()
        s.prefill(ids, budget)
        print(json.dumps([(time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3]), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="libswiftlet.so of build A (before)")
    p.add_argument("--b", required=True, help="libswiftlet.so of build B (after)")
    p.add_argument("--workdir", default="/tmp/swiftlet-bench-loopformer")
    p.add_argument("--reps", type=int, default=12, help="pairs at L = 1 (a third of them at L = 8)")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    if "--worker" in sys.argv:
        i = sys.argv.index("--worker")
        return worker(sys.argv[i + 1], sys.argv[i + 2])
    args = p.parse_args()
    libs = {"A": args.a, "B": args.b}
    procs = {}
    for k, lib in libs.items():
        procs[k] = subprocess.Popen([sys.executable, __file__, "--worker", lib, args.workdir],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert procs[k].stdout.readline().strip() == "ready"

    def call(k, d, loops):
        procs[k].stdin.write(f"{d} {loops}\n")
        procs[k].stdin.flush()
        return json.loads(procs[k].stdout.readline())

    print("load", " ".join(open("/proc/loadavg").read().split()[:3]))
    for d in ("bf16", "q8"):
        for loops in (1, 8):
            for k in libs:
                call(k, d, loops)  # warm-up
            res = {k: [] for k in libs}
            for r in range(args.reps if loops == 1 else max(3, args.reps // 3)):
                for k in (["A", "B"] if r % 2 == 0 else ["B", "A"]):
                    res[k].append(call(k, d, loops))
            med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in res.items()}
            print(f"{d} L={loops}: A wall {med['A'][0]:.1f} ms cpu {med['A'][1]:.1f} ms, "
                  f"B wall {med['B'][0]:.1f} ms cpu {med['B'][1]:.1f} ms, "
                  f"B/A wall {med['B'][0] / med['A'][0]:.3f} cpu {med['B'][1] / med['A'][1]:.3f}", flush=True)
    print("load", " ".join(open("/proc/loadavg").read().split()[:3]))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()


if __name__ == "__main__":
    main()
