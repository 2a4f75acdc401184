// Screenshots of every view at a desktop's and a phone's width, after 20 labels (CPU
// path), for a person to look at: `node tests/e2e/screenshots.mjs [OUT_DIR]`.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { labelWithButtons, ready, startServer, withPage } from "./harness.mjs";

const out = process.argv[2] ?? "screenshots";
mkdirSync(out, { recursive: true });
const server = await startServer();
try {
  await withPage({ webgpu: false }, async (page) => {
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(server.url);
    await ready(page, 180_000);
    await labelWithButtons(page, 20, { waitForRetrain: true });
    await page.waitForFunction(() => window.flicktune?.comparison?.labels === 20, null, { timeout: 180_000 });
    const movie = await page.evaluate(() => window.flicktune.comparison.reviews[0].movie);
    const views = { label: "", movies: "movies", movie: `movies/${movie}`, compare: "compare", disagreements: "disagreements" };
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width > 500 ? 900 : 844 });
      for (const [name, path] of Object.entries(views)) {
        await page.goto(server.url + path);
        await page.waitForFunction(() => window.flicktune?.comparison?.labels === 20, null, { timeout: 180_000 });
        await page.waitForTimeout(500);
        await page.screenshot({ path: join(out, `${name}-${width}.png`), fullPage: false });
      }
    }
  });
} finally {
  server.stop();
}
console.log(`screenshots in ${out}/`);
