// The page's encoder against onnxruntime-web, in the same headless Chromium, on the same
// token batches (a benchmark, not a test): the plan and the L3 graph that
// `flicktune-bench engine` wrote to assets/bench/engine/. The page runs its CPU path in
// one and in two engine workers (`?workers=N`: Burn's wasm backend has no threads, a
// second worker is the second core); onnxruntime-web runs with one and two wasm threads
// (its threads need cross-origin isolation: its page here sends the headers for it).
// Then e5, which has no ONNX graph to compare with, in one and two workers on the same
// reviews. Rounds alternate the engines; the tables give medians and the ratios.
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
const onnxruntime = (page, threads) => page.evaluate(async ({ batches, padId, output, threads }) => {
  const ort = await import("/ort.wasm.min.mjs");
  if (threads > 1 && !self.crossOriginIsolated) throw new Error("onnxruntime-web's threads need cross-origin isolation");
  ort.env.wasm.numThreads = threads;
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
}, { batches: plan.batches, padId: plan.pad_id, output: plan.hidden_output, threads });

/** Tokens per second of `flicktune.embed` over `texts` in the page (after one warm-up call). */
const embedding = (page, texts) => page.evaluate(async (texts) => {
  await window.flicktune.embed(texts.slice(0, 2));
  const tokens = await window.flicktune.countTokens(texts);
  const start = performance.now();
  await window.flicktune.embed(texts);
  return tokens / ((performance.now() - start) / 1000);
}, texts);

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
const COUNTS = [1, 2];
const texts = readFileSync(join(ASSETS, "data/imdb/sample.jsonl"), "utf8").trim().split("\n")
  .slice(0, plan.batches.flat().length).map((l) => JSON.parse(l).text);
const server = await startServer();
try {
  await withPage({ webgpu: false }, async (first) => {
    const context = first.context();
    const ours = {}, theirs = {}, e5 = {};
    for (const n of COUNTS) {
      ours[n] = { page: await enginePage(context, server.url, "l3", n), rates: [] };
      theirs[n] = { page: await context.newPage(), rates: [] };
      await theirs[n].page.goto(peerUrl);
    }
    for (let round = 0; round < rounds; round++) {
      for (const n of COUNTS) {
        const a = await flicktune(ours[n].page);
        const b = await onnxruntime(theirs[n].page, n);
        if (round === 0) {
          const gap = Math.max(...a.first.flatMap((v, i) => v.map((x, k) => Math.abs(x - b.first[i][k]))));
          if (!(gap <= 1e-3)) throw new Error(`the engines disagree on the first batch by ${gap}: not the same work`);
          console.error(`${n} worker(s)/thread(s): same work (pooled vectors within ${gap.toExponential(1)})`);
        }
        ours[n].rates.push(tokens / a.seconds);
        theirs[n].rates.push(tokens / b.seconds);
      }
    }
    for (const n of COUNTS) await ours[n].page.close();
    for (const n of COUNTS) e5[n] = { page: await enginePage(context, server.url, "e5", n), rates: [] };
    for (let round = 0; round < rounds; round++) {
      for (const n of COUNTS) e5[n].rates.push(await embedding(e5[n].page, texts));
    }
    const memory = {};
    for (const n of COUNTS) memory[n] = await e5[n].page.evaluate(() => window.flicktune.memory());
    const mib = (bytes) => `${Math.round(bytes / 2 ** 20)} MiB`;

    console.log(`machine: ${cpus()[0].model}, ${cpus().length} cores; load average ${loadavg().map((x) => x.toFixed(2)).join(" ")} at the end`);
    console.log(`headless Chromium, CPU path, ${rounds} round(s), medians\n`);
    console.log(`paraphrase-MiniLM-L3-v2, ${plan.batches.length} batches, ${tokens} tokens (the same ids in both engines):\n`);
    console.log("| workers / threads | Flicktune's page tokens/s | onnxruntime-web 1.30.0 tokens/s | Flicktune / onnxruntime-web |");
    console.log("|---|---|---|---|");
    for (const n of COUNTS) {
      const [o, t] = [median(ours[n].rates), median(theirs[n].rates)];
      console.log(`| ${n} | ${o.toFixed(0)} | ${t.toFixed(0)} | **${(o / t).toFixed(2)}** |`);
    }
    console.log(`\nmultilingual-e5-small (no ONNX graph of it to compare with), flicktune.embed of ${texts.length} reviews:\n`);
    console.log("| workers | tokens/s | wasm memory: page, each worker |\n|---|---|---|");
    for (const n of COUNTS) {
      console.log(`| ${n} | ${median(e5[n].rates).toFixed(0)} | ${mib(memory[n].page)}; ${memory[n].workers.map(mib).join(", ")} |`);
    }
  });
} finally {
  server.stop();
  peerServer.close();
}
