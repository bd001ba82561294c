"""PyTorch training, timed on request, so `nnbench train` can alternate it with our trainer in
one run (the VM is noisy: only ratios measured side by side mean anything).

Protocol (one line each way): nnbench writes `MODEL BATCH THREADS MIN_SECONDS`; the worker
answers `SAMPLES_PER_S ADAM` (the faster of Adam and Adam(fused=True), and which it was), or
`error: ...`. On start it prints `ready torch VERSION` or `unavailable: REASON` and exits.

The models and the loop are bench/anchors' (models.py, train_bench.py): 20,000 seeded
synthetic rows, Adam lr 1e-3, MSE (M2: cross-entropy on logits; M4: batch norm and dropout
0.2 in training mode), a random permutation per epoch, the first epoch excluded, then epochs
until MIN_SECONDS and at least 2.
"""
import os
import sys
import time

ANCHORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "anchors")
sys.path.insert(0, os.environ.get("NNSERVE_ANCHORS", ANCHORS))
try:
    import torch
    import train_bench
except ImportError as error:  # the caller falls back to the recorded anchor figures
    print(f"unavailable: {error} (pip install torch; bench/anchors)", flush=True)
    sys.exit(0)

NAMES = {"M1": "m1_housing", "M2": "m2_mnist", "M3": "m3_large", "M4": "m4_widedeep"}
ROWS = 20000


def samples_per_second(name, batch, threads, min_seconds, fused):
    torch.set_num_threads(threads)
    model, optimizer, loss, x, y = train_bench.setup(name, batch, {"fused": True} if fused else {}, ROWS, 1234)
    generator = torch.Generator().manual_seed(99)
    train_bench.run_epoch(model, optimizer, loss, x, y, batch, generator)
    samples, epochs, start = 0, 0, time.perf_counter()
    while True:
        done, _ = train_bench.run_epoch(model, optimizer, loss, x, y, batch, generator)
        samples += done
        epochs += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and epochs >= 2:
            return samples / elapsed


def main():
    print(f"ready torch {torch.__version__}", flush=True)
    for line in sys.stdin:
        try:
            model, batch, threads, min_seconds = line.split()
            results = []
            for fused, label in ((False, "adam"), (True, "fused")):
                try:
                    results.append((samples_per_second(NAMES[model], int(batch), int(threads), float(min_seconds), fused), label))
                except RuntimeError:  # a torch build without fused Adam for this device keeps the plain figure
                    pass
            best = max(results)
            print(f"{best[0]} {best[1]}", flush=True)
        except Exception as error:  # one bad request must not end the worker
            print(f"error: {error}", flush=True)


if __name__ == "__main__":
    main()
