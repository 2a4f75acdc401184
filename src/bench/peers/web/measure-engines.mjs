// The page's encoders against onnxruntime-web, in the same headless Chromium, on the same
// token batches (a benchmark, not a test): the plans and graphs (L3's from its wheel, e5's
// written from its weights and checked) that `flicktune-bench engine` wrote to
// assets/bench/engine/. The page runs its CPU path in one and in two engine workers
// (`?workers=N`: Burn's wasm backend has no threads, a second worker is the second core);
// onnxruntime-web runs with one and two wasm threads (its threads need cross-origin
// isolation: its page here sends the headers for it). Rounds alternate the engines; the
// tables give medians and the ratios, and the wasm memory each side holds.
//   cargo run --release --bin flicktune-bench -- engine   # writes the plans and graphs first
//   node src/bench/peers/web/measure-engines.mjs [--rounds 3] [--models l3,e5]
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
const models = arg("--models", "l3,e5").split(",");
const dir = join(ASSETS, "bench/engine");
const NAMES = { l3: "paraphrase-MiniLM-L3-v2", e5: "multilingual-e5-small" };
for (const model of models) {
  if (!NAMES[model]) throw new Error(`no peer graph for ${model}: use l3 or e5`);
  if (!existsSync(join(dir, `${model}.plan.json`)) || !existsSync(join(dir, `${model}.onnx`))) {
    console.error(`run \`cargo run --release --bin flicktune-bench -- engine --models ${model}\` first: it writes the plan and the graph`);
    process.exit(2);
  }
}
if (!existsSync(join(HERE, "node_modules/onnxruntime-web"))) {
  // The pinned version, checked against package-lock.json's integrity hashes.
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--silent"], { cwd: HERE, stdio: "inherit" });
}

// onnxruntime-web's files and the graph, from a second local server (the page's serves only the page).
const ORT = join(HERE, "node_modules/onnxruntime-web/dist");
const TYPES = { ".mjs": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream" };
const peerServer = createServer((req, res) => {
  const name = req.url.split("?")[0].slice(1);
  const graph = /^graph-(\w+)\.onnx$/.exec(name);
  const file = graph && NAMES[graph[1]] ? join(dir, `${graph[1]}.onnx`) : /^[\w.-]+$/.test(name) ? join(ORT, name) : null;
  // Cross-origin isolation, which onnxruntime-web's threads (SharedArrayBuffer) need.
  const isolated = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };
  if (name === "") {
    res.writeHead(200, { ...isolated, "Content-Type": "text/html" }).end("<!doctype html><title>onnxruntime-web</title>");
  } else if (file && existsSync(file)) {
    res.writeHead(200, { ...isolated, "Content-Type": TYPES[name.slice(name.lastIndexOf("."))] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  } else {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => peerServer.listen(0, "127.0.0.1", ok));
const peerUrl = `http://127.0.0.1:${peerServer.address().port}/`;

/** Times every batch once in the Flicktune page; returns seconds and the first batch's vectors. */
const flicktune = (page, plan) => page.evaluate(async (batches) => {
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
const onnxruntime = (page, plan, model, threads) => page.evaluate(async ({ batches, padId, output, model, threads }) => {
  const ort = await import("/ort.wasm.min.mjs");
  if (threads > 1 && !self.crossOriginIsolated) throw new Error("onnxruntime-web's threads need cross-origin isolation");
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = "/";
  window.sessions ??= {};
  window.sessions[model] ??= await ort.InferenceSession.create(`/graph-${model}.onnx`, { executionProviders: ["wasm"] });
  const run = async (batch) => {
    const longest = Math.max(...batch.map((s) => s.length));
    const ids = new BigInt64Array(batch.length * longest).fill(BigInt(padId));
    const mask = new BigInt64Array(batch.length * longest);
    batch.forEach((s, row) => s.forEach((id, j) => { ids[row * longest + j] = BigInt(id); mask[row * longest + j] = 1n; }));
    const dims = [batch.length, longest];
    const result = await window.sessions[model].run(
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
}, { batches: plan.batches, padId: plan.pad_id, output: plan.hidden_output, model, threads });

/** A page of the engine, loaded, with `workers` engine workers all holding the encoder. */
async function enginePage(context, url, model, workers) {
  const page = await context.newPage();
  await page.goto(`${url}?model=${model}&workers=${workers}`);
  await waitReady(page, 600_000);
  // The second worker loads after the page is ready: wait until it holds the encoder too.
  await page.waitForFunction(async (n) => (await window.flicktune.memory()).workers.length === n, workers,
    { timeout: 600_000, polling: 1000 });
  return page;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mib = (bytes) => `${Math.round(bytes / 2 ** 20)} MiB`;
const COUNTS = [1, 2];

/** One encoder's table: the page in 1 and 2 workers against onnxruntime-web on 1 and 2 threads. */
async function measure(context, server, model) {
  const plan = JSON.parse(readFileSync(join(dir, `${model}.plan.json`), "utf8"));
  const tokens = plan.batches.flat().reduce((sum, s) => sum + s.length, 0);
  const ours = {}, theirs = {};
  for (const n of COUNTS) {
    ours[n] = { page: await enginePage(context, server.url, model, n), rates: [] };
    theirs[n] = { page: await context.newPage(), rates: [] };
    await theirs[n].page.goto(peerUrl);
  }
  for (let round = 0; round < rounds; round++) {
    for (const n of COUNTS) {
      const a = await flicktune(ours[n].page, plan);
      const b = await onnxruntime(theirs[n].page, plan, model, n);
      if (round === 0) {
        const gap = Math.max(...a.first.flatMap((v, i) => v.map((x, k) => Math.abs(x - b.first[i][k]))));
        if (!(gap <= 1e-3)) throw new Error(`${model}: the engines disagree on the first batch by ${gap}: not the same work`);
        console.error(`${model}, ${n} worker(s)/thread(s): same work (pooled vectors within ${gap.toExponential(1)})`);
      }
      ours[n].rates.push(tokens / a.seconds);
      theirs[n].rates.push(tokens / b.seconds);
    }
  }
  const memory = {};
  for (const n of COUNTS) {
    memory[n] = await ours[n].page.evaluate(() => window.flicktune.memory());
    await ours[n].page.close();
    await theirs[n].page.close();
  }
  console.log(`\n${NAMES[model]}, ${plan.batches.length} batches, ${tokens} tokens (the same ids in both engines):\n`);
  console.log("| workers / threads | Flicktune's page tokens/s | onnxruntime-web 1.30.0 tokens/s | Flicktune / onnxruntime-web | Flicktune's wasm memory: page; each worker |");
  console.log("|---|---|---|---|---|");
  for (const n of COUNTS) {
    const [o, t] = [median(ours[n].rates), median(theirs[n].rates)];
    const m = memory[n];
    console.log(`| ${n} | ${o.toFixed(0)} | ${t.toFixed(0)} | **${(o / t).toFixed(2)}** | ${mib(m.page)}; ${m.workers.map(mib).join(", ")} |`);
  }
}

const server = await startServer();
try {
  await withPage({ webgpu: false }, async (first) => {
    console.log(`machine: ${cpus()[0].model}, ${cpus().length} cores; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} at the start`);
    console.log(`headless Chromium, CPU path, ${rounds} round(s), medians`);
    for (const model of models) await measure(first.context(), server, model);
  });
} finally {
  server.stop();
  peerServer.close();
}
