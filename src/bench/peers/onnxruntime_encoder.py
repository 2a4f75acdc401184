"""onnxruntime's side of `flicktune-bench engine`: the same padded token batches through
an ONNX encoder graph, timed, on a given number of threads.

Usage: python onnxruntime_encoder.py GRAPH PLAN THREADS [pooled]
PLAN is the bench's JSON ({"pad_id", "hidden_output", "batches": [[ids...], ...]}).
Prints one JSON line: {"seconds": wall time for every batch once, "first_batch": the
mean-pooled hidden states of the first batch, for the bench to check it is the same work};
with `pooled`, no timing but {"pooled": every sequence's mean-pooled hidden state, in order}
(the bench checks a graph it wrote against reference embeddings with it).
"""

import json
import sys
import time

import numpy as np
import onnxruntime as ort


def padded(batch, pad_id):
    longest = max(len(s) for s in batch)
    ids = np.full((len(batch), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(batch), longest), dtype=np.int64)
    for row, sequence in enumerate(batch):
        ids[row, : len(sequence)] = sequence
        mask[row, : len(sequence)] = 1
    return ids, mask


def main():
    graph, plan_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(plan_path) as f:
        plan = json.load(f)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    inputs = [padded(batch, plan["pad_id"]) for batch in plan["batches"]]
    output = [plan["hidden_output"]]

    def pooled(ids, mask):
        (hidden,) = session.run(output, {"input_ids": ids, "attention_mask": mask})
        weights = mask[:, :, None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / weights.sum(axis=1)

    if sys.argv[4:] == ["pooled"]:
        vectors = [row.tolist() for ids, mask in inputs for row in pooled(ids, mask)]
        print(json.dumps({"pooled": vectors}))
        return

    pooled(*inputs[0])  # warm-up: the first run plans the graph
    start = time.perf_counter()
    first = [pooled(ids, mask) for ids, mask in inputs][0]
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "first_batch": first.tolist()}))


if __name__ == "__main__":
    main()
