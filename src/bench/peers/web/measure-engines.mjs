// The page's encoder against onnxruntime-web, in the same headless Chromium, on the same
// token batches (a benchmark, not a test): the plan and the L3 graph that
// `flicktune-bench engine` wrote to assets/bench/engine/, one wasm thread each (the page's
// CPU path has no threads; onnxruntime-web's need cross-origin isolation, which the page's
// server does not ask for). Rounds alternate the two; the table gives medians and the ratio.
//   cargo run --release --bin flicktune-bench -- engine   # writes the plan first
//   node src/bench/peers/web/measure-engines.mjs [--rounds 3]
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { ASSETS, startServer, waitReady, withPage } from "../../../../tests/e2e/harness.mjs";

const HERE = import.meta.dirname;
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};
const rounds = Number(arg("--rounds", 3));
const dir = join(ASSETS, "bench/engine");
const planFile = join(dir, "plan.json");
const graphFile = join(dir, "paraphrase-MiniLM-L3-v2.onnx");
if (!existsSync(planFile) || !existsSync(graphFile)) {
  console.error("run `cargo run --release --bin flicktune-bench -- engine` first: it writes the plan and the graph");
  process.exit(2);
}
if (!existsSync(join(HERE, "node_modules/onnxruntime-web"))) {
  // The pinned version, checked against package-lock.json's integrity hashes.
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--silent"], { cwd: HERE, stdio: "inherit" });
}
const plan = JSON.parse(readFileSync(planFile, "utf8"));
const tokens = plan.batches.flat().reduce((sum, s) => sum + s.length, 0);

// onnxruntime-web's files and the graph, from a second local server (the page's serves only the page).
const ORT = join(HERE, "node_modules/onnxruntime-web/dist");
const TYPES = { ".mjs": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream" };
const peerServer = createServer((req, res) => {
  const name = req.url.split("?")[0].slice(1);
  const file = name === "graph.onnx" ? graphFile : /^[\w.-]+$/.test(name) ? join(ORT, name) : null;
  if (name === "") {
    res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>onnxruntime-web</title>");
  } else if (file && existsSync(file)) {
    res.writeHead(200, { "Content-Type": TYPES[name.slice(name.lastIndexOf("."))] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => peerServer.listen(0, "127.0.0.1", ok));
const peerUrl = `http://127.0.0.1:${peerServer.address().port}/`;

/** Times every batch once in the Flicktune page; returns seconds and the first batch's vectors. */
const flicktune = (page) => page.evaluate(async (batches) => {
  const run = (batch) => window.flicktune.pooledBatch(batch.map((s) => Uint32Array.from(s)));
  await run(batches[0]);
  const start = performance.now();
  let first;
  for (const [i, batch] of batches.entries()) {
    const vectors = await run(batch);
    if (i === 0) first = vectors.map((v) => Array.from(v));
  }
  return { seconds: (performance.now() - start) / 1000, first };
}, plan.batches);

/** The same in onnxruntime-web's page, mean-pooling the graph's last hidden state as the encoder does. */
const onnxruntime = (page) => page.evaluate(async ({ batches, padId, output }) => {
  const ort = await import("/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = "/";
  window.session ??= await ort.InferenceSession.create("/graph.onnx", { executionProviders: ["wasm"] });
  const run = async (batch) => {
    const longest = Math.max(...batch.map((s) => s.length));
    const ids = new BigInt64Array(batch.length * longest).fill(BigInt(padId));
    const mask = new BigInt64Array(batch.length * longest);
    batch.forEach((s, row) => s.forEach((id, j) => { ids[row * longest + j] = BigInt(id); mask[row * longest + j] = 1n; }));
    const dims = [batch.length, longest];
    const result = await window.session.run(
      { input_ids: new ort.Tensor("int64", ids, dims), attention_mask: new ort.Tensor("int64", mask, dims) }, [output]);
    const hidden = result[output].data;
    const width = hidden.length / (batch.length * longest);
    return batch.map((s, row) => {
      const sum = new Array(width).fill(0);
      for (let j = 0; j < s.length; j++) for (let k = 0; k < width; k++) sum[k] += hidden[(row * longest + j) * width + k];
      return sum.map((x) => x / s.length);
    });
  };
  await run(batches[0]);
  const start = performance.now();
  let first;
  for (const [i, batch] of batches.entries()) {
    const vectors = await run(batch);
    if (i === 0) first = vectors;
  }
  return { seconds: (performance.now() - start) / 1000, first };
}, { batches: plan.batches, padId: plan.pad_id, output: plan.hidden_output });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const server = await startServer();
try {
  await withPage({ webgpu: false }, async (page) => {
    await page.goto(`${server.url}?model=l3`);
    await waitReady(page, 600_000);
    const peer = await page.context().newPage();
    await peer.goto(peerUrl);
    const ours = [], theirs = [];
    for (let round = 0; round < rounds; round++) {
      const a = await flicktune(page);
      const b = await onnxruntime(peer);
      if (round === 0) {
        const gap = Math.max(...a.first.flatMap((v, i) => v.map((x, k) => Math.abs(x - b.first[i][k]))));
        if (!(gap <= 1e-3)) throw new Error(`the engines disagree on the first batch by ${gap}: not the same work`);
        console.error(`same work: pooled vectors within ${gap.toExponential(1)}`);
      }
      ours.push(tokens / a.seconds);
      theirs.push(tokens / b.seconds);
    }
    const [o, t] = [median(ours), median(theirs)];
    console.log(`machine: ${cpus()[0].model}, ${cpus().length} cores; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} at the end`);
    console.log(`paraphrase-MiniLM-L3-v2 in headless Chromium (CPU, wasm, 1 thread each): ${plan.batches.length} batches, ${tokens} tokens, ${rounds} round(s), medians\n`);
    console.log("| engine | tokens/s |\n|---|---|");
    console.log(`| Flicktune's page (Burn flex, wasm SIMD) | ${o.toFixed(0)} |`);
    console.log(`| onnxruntime-web 1.30.0 (wasm) | ${t.toFixed(0)} |`);
    console.log(`| **Flicktune / onnxruntime-web** | **${(o / t).toFixed(2)}** |`);
  });
} finally {
  server.stop();
  peerServer.close();
}
