// Page figures for the README (a benchmark, not a test): time from navigation to ready,
// cold and warm cache, and in-page embedding throughput, on the CPU path and on
// Chromium's WebGPU adapter (SwiftShader: software, not GPU speed). Beside each figure:
// the main thread's long tasks (over 50 ms, the browser's long-task observer) in that
// phase, which is what a Web Worker for the engine would take away (issue 17).
// `--workers N` asks the page for N engine workers on the CPU path (default: the page's
// own choice, two on two cores); embedding is measured once every worker holds the encoder.
// The wasm memory of the page and of each worker is printed once every worker holds the
// encoder, and after training.
//   node tests/e2e/measure.mjs [--texts 40] [--gpu-texts 8] [--paths cpu,webgpu] [--workers N]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ROOT, labelWithButtons, observeLongTasks, ready, startServer, stopAutoRetrain, takeLongTasks, train, waitReady, withPage,
} from "./harness.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};
const n = Number(arg("--texts", 40));
// SwiftShader (software WebGPU) runs at tens of tokens per second: measure fewer texts there.
const gpuN = Number(arg("--gpu-texts", 8));
const paths = arg("--paths", "cpu,webgpu").split(",");
const workers = arg("--workers", null);
const assets = process.env.FLICKTUNE_ASSETS ?? join(ROOT, "assets");
const sample = readFileSync(join(assets, "data/imdb/sample.jsonl"), "utf8")
  .trim().split("\n").map((l) => JSON.parse(l).text);

const longTasks = async (page) => {
  const tasks = await takeLongTasks(page);
  const total = tasks.reduce((a, b) => a + b, 0);
  return `${tasks.length} long tasks, longest ${Math.round(Math.max(0, ...tasks))} ms, ${(total / 1000).toFixed(1)} s in all`;
};

const server = await startServer();
try {
  for (const path of paths) {
    const webgpu = path === "webgpu";
    const texts = sample.slice(0, webgpu ? gpuN : n);
    await withPage({ webgpu }, async (page) => {
      await page.addInitScript(observeLongTasks);
      const times = [];
      for (const visit of ["cold", "warm"]) {
        const start = Date.now();
        await (visit === "cold" ? page.goto(server.url + (workers ? `?workers=${workers}` : "")) : page.reload());
        await waitReady(page, 600_000);
        times.push(`${visit} ${((Date.now() - start) / 1000).toFixed(1)} s`);
      }
      const atReady = await longTasks(page);
      // The helper workers load after ready, in the background: measure once they hold the encoder.
      await ready(page, 600_000);
      const expected = webgpu ? 1 : Number(workers ?? ((await page.evaluate(() => navigator.hardwareConcurrency)) >= 2 ? 2 : 1));
      await page.waitForFunction(async (n) => (await window.flicktune.memory()).workers.length === n, expected,
        { timeout: 600_000, polling: 500 });
      await longTasks(page);
      const mib = (bytes) => `${Math.round(bytes / 2 ** 20)} MiB`;
      const memory = async () => {
        const m = await page.evaluate(() => window.flicktune.memory());
        return { count: m.workers.length, text: `page ${mib(m.page)}; worker(s) ${m.workers.map(mib).join(", ")}` };
      };
      const { count, text: memoryAtLoad } = await memory();
      const backend = await page.evaluate(() => window.flicktune.backend());
      const adapter = await page.getByTestId("backend").locator("..").textContent();
      const result = await page.evaluate(async (texts) => {
        const tokens = await window.flicktune.countTokens(texts);
        const start = performance.now();
        await window.flicktune.embed(texts);
        return { tokens, seconds: (performance.now() - start) / 1000 };
      }, texts);
      const inEmbedding = await longTasks(page);
      // What classifying one pasted review costs: reading it (the classifier itself is a dot product).
      const one = sample.find((t) => {
        const c = t.split(/\s+/).length;
        return c > 200 && c < 260;
      });
      const single = await page.evaluate(async (text) => {
        const tokens = await window.flicktune.countTokens([text]);
        const start = performance.now();
        await window.flicktune.embed([text]);
        return { tokens, seconds: (performance.now() - start) / 1000 };
      }, one);
      const inOne = await longTasks(page);
      // Labelling 20 reviews and training on them, once the sample is read: on the CPU path
      // only, since SwiftShader takes hours to read the sample.
      let inTraining = "not measured on this path";
      let memoryAfterTraining = inTraining;
      if (!webgpu) {
        await ready(page, 600_000);
        await stopAutoRetrain(page);
        await longTasks(page);
        await labelWithButtons(page, 20);
        const status = await train(page, 600_000);
        inTraining = `(${status}) ${await longTasks(page)}`;
        memoryAfterTraining = (await memory()).text;
      }
      console.log(`${backend}, ${count} engine worker(s) (${adapter.trim()}): navigation to ready ${times.join(", ")}; ` +
        `embed ${texts.length} reviews, ${result.tokens} tokens in ${result.seconds.toFixed(1)} s = ` +
        `${Math.round(result.tokens / result.seconds)} tokens/s; one review of ${single.tokens} tokens ` +
        `in ${single.seconds.toFixed(2)} s`);
      console.log(`  main thread: warm load to ready: ${atReady}; embedding: ${inEmbedding}; one review: ${inOne}; ` +
        `labelling 20 and training: ${inTraining}`);
      console.log(`  wasm memory: the encoder loaded: ${memoryAtLoad}; after training: ${memoryAfterTraining}`);
    });
  }
} finally {
  server.stop();
}
