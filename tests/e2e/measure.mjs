// Page figures for the README (a benchmark, not a test): time from navigation to ready,
// cold and warm cache, and in-page embedding throughput, on the CPU path and on
// Chromium's WebGPU adapter (SwiftShader: software, not GPU speed).
//   node tests/e2e/measure.mjs [--texts 40] [--gpu-texts 8] [--paths cpu,webgpu]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startServer, waitReady, withPage } from "./harness.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};
const n = Number(arg("--texts", 40));
// SwiftShader (software WebGPU) runs at tens of tokens per second: measure fewer texts there.
const gpuN = Number(arg("--gpu-texts", 8));
const paths = arg("--paths", "cpu,webgpu").split(",");
const assets = process.env.FLICKTUNE_ASSETS ?? join(ROOT, "assets");
const sample = readFileSync(join(assets, "data/imdb/sample.jsonl"), "utf8")
  .trim().split("\n").map((l) => JSON.parse(l).text);

const server = await startServer();
try {
  for (const path of paths) {
    const webgpu = path === "webgpu";
    const texts = sample.slice(0, webgpu ? gpuN : n);
    await withPage({ webgpu }, async (page) => {
      const times = [];
      for (const visit of ["cold", "warm"]) {
        const start = Date.now();
        await (visit === "cold" ? page.goto(server.url) : page.reload());
        await waitReady(page, 600_000);
        times.push(`${visit} ${((Date.now() - start) / 1000).toFixed(1)} s`);
      }
      const backend = await page.evaluate(() => window.flicktune.backend());
      const adapter = await page.getByTestId("backend").locator("..").textContent();
      const result = await page.evaluate(async (texts) => {
        const tokens = window.flicktune.countTokens(texts);
        const start = performance.now();
        await window.flicktune.embed(texts);
        return { tokens, seconds: (performance.now() - start) / 1000 };
      }, texts);
      // What classifying one pasted review costs: reading it (the classifier itself is a dot product).
      const one = sample.find((t) => {
        const c = t.split(/\s+/).length;
        return c > 200 && c < 260;
      });
      const single = await page.evaluate(async (text) => {
        const tokens = window.flicktune.countTokens([text]);
        const start = performance.now();
        await window.flicktune.embed([text]);
        return { tokens, seconds: (performance.now() - start) / 1000 };
      }, one);
      console.log(`${backend} (${adapter.trim()}): navigation to ready ${times.join(", ")}; ` +
        `embed ${texts.length} reviews, ${result.tokens} tokens in ${result.seconds.toFixed(1)} s = ` +
        `${Math.round(result.tokens / result.seconds)} tokens/s; one review of ${single.tokens} tokens ` +
        `in ${single.seconds.toFixed(2)} s`);
    });
  }
} finally {
  server.stop();
}
