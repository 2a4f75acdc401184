// ULMFiT's training figures in the page (a benchmark, not a test): the AWD-LSTM tuned to
// the page's whole review sample, then the classifier trained on N labelled sample reviews,
// in the engine's worker, as Compare does; then the held-out sample reviews scored. On
// the CPU path and on Chromium's WebGPU adapter (SwiftShader here: software, not GPU speed).
//   node tests/e2e/measure-ulmfit.mjs [--paths cpu,webgpu] [--labels 100] [--unlabelled 300]
//        [--max-tokens 200] [--min-stage-steps 20] [--heldout 200]
// --unlabelled N tunes the language model to the sample's first N reviews only, and
// --max-tokens / --min-stage-steps shorten the classifier's run below the page's settings
// (shorter runs, for SwiftShader).
// The labelled reviews are the sample's first N/2 positive and N/2 negative ones; the
// held-out ones are the 200 after them (100 of each; --heldout N: N). Nothing from `test` is read.
import { SAMPLE, startServer, waitReady, withPage } from "./harness.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : process.argv[i + 1];
};
const paths = arg("--paths", "cpu,webgpu").split(",");
const sizes = arg("--labels", "100").split(",").map(Number);

const positive = SAMPLE.filter((r) => r.label === 1), negative = SAMPLE.filter((r) => r.label === 0);
const sample = SAMPLE.slice(0, Number(arg("--unlabelled", SAMPLE.length))).map((r) => r.text);
const settings = {};
if (process.argv.includes("--max-tokens")) settings.maxTokens = Number(arg("--max-tokens"));
if (process.argv.includes("--min-stage-steps")) settings.minStageSteps = Number(arg("--min-stage-steps"));
const heldoutEach = Number(arg("--heldout", 200)) / 2;

const server = await startServer();
try {
  for (const path of paths) {
    await withPage({ webgpu: path === "webgpu" }, async (page) => {
      // L3 loads fastest; the language model does not depend on the encoder.
      await page.goto(`${server.url}?model=l3`);
      await waitReady(page, 600_000);
      const backend = await page.evaluate(() => window.flicktune.backend());
      for (const n of sizes) {
        const labelled = [...positive.slice(0, n / 2), ...negative.slice(0, n / 2)];
        const heldout = [...positive.slice(n / 2, n / 2 + heldoutEach), ...negative.slice(n / 2, n / 2 + heldoutEach)];
        const trained = await page.evaluate(
          async ([labelled, sample, settings]) => window.flicktune.trainUlmfit(labelled, sample, settings),
          [labelled, sample, settings],
        );
        const started = Date.now();
        const p = await page.evaluate(
          async (texts) => Array.from(await window.flicktune.ulmfitPositive(texts)),
          heldout.map((r) => r.text),
        );
        const scoring = (Date.now() - started) / 1000;
        const right = p.filter((x, i) => (x >= 0.5) === (heldout[i].label === 1)).length;
        console.log(
          `${backend}${backend === "webgpu" ? " (SwiftShader)" : ""}, ULMFiT on ${n} labels ${JSON.stringify(settings)}: ` +
            `language model tuned to ${sample.length} sample reviews in ${trained.tuningSeconds.toFixed(1)} s, ` +
            `classifier (${trained.steps} steps) in ${trained.trainingSeconds.toFixed(1)} s; ` +
            `${heldout.length} held-out sample reviews scored in ${scoring.toFixed(1)} s, ` +
            `accuracy ${(100 * right / heldout.length).toFixed(1)}%`,
        );
      }
    });
  }
} finally {
  server.stop();
}
