// The Textflix views in headless Chromium (CPU path): each view by its URL and by the
// menu, back/forward and reload keeping the view; after 20 labels the movies are scored
// by the person's own classifier; a movie page's highlights and classifications;
// labelling a critic's review from there; Compare's contenders; Disagreements checked
// against the contenders' own predictions (read through `window.flicktune.comparison`);
// and catalogue text carrying markup staying text in every view.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PAYLOAD, assertNothingInjected, labelWithButtons, ready, startServer, withPage } from "./harness.mjs";
let server;

before(async () => { server = await startServer(); });
after(() => server.stop());

/** Serves the catalogue with every payload in its first movie's title, plot and first review. */
async function withHostileCatalogue(page) {
  await page.route("**/data/catalogue.json", async (route) => {
    const response = await route.fetch();
    const catalogue = await response.json();
    const movie = catalogue.movies[0];
    movie.title = `${PAYLOAD} ${movie.title}`;
    movie.plot = `${PAYLOAD} ${movie.plot}`;
    // The review's sentence ranges are bytes of its text: shift them past the prefix.
    const review = movie.reviews[0];
    const prefix = `${PAYLOAD} `;
    review.text = prefix + review.text;
    review.sentences.forEach((s, i) => {
      if (i > 0) s.start += prefix.length;
      s.end += prefix.length;
    });
    // A body of its own (the server's may be compressed), with the server's type.
    await route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(catalogue) });
  });
}

/** Waits for the contenders' scores after `labels` labels. */
async function comparisonAfter(page, labels) {
  await page.waitForFunction((n) => window.flicktune?.comparison?.labels === n, labels, { timeout: 180_000 });
  return page.evaluate(() => window.flicktune.comparison);
}

test("the views: movies scored by your classifier, a movie, compare, disagreements", { timeout: 900_000 }, async () => {
  await withPage({ webgpu: false }, async (page) => {
    const dialogs = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    await withHostileCatalogue(page);

    // By URL, before any label: the movies are there, and the page says what to do next.
    await page.goto(`${server.url}movies`);
    await page.getByTestId("movies-view").waitFor();
    await page.getByTestId("needs-labels").waitFor({ timeout: 180_000 });
    const movies = await page.getByTestId("movie-row").count();
    assert.ok(movies >= 100, `${movies} movies listed`);
    assert.ok((await page.getByTestId("movie-list").textContent()).includes(PAYLOAD), "the title's markup is text");
    await assertNothingInjected(page, "movies");

    // By the menu: label and train, as the loop does.
    await page.getByTestId("nav").getByRole("link", { name: "Label & train" }).click();
    await page.getByTestId("label-view").waitFor();
    assert.equal(new URL(page.url()).pathname, "/");
    await ready(page, 180_000);
    await labelWithButtons(page, 20, { waitForRetrain: true });
    const scores = await comparisonAfter(page, 20);
    // What the labels alone bought, beside the recipe's accuracy: the encoder-features contender's.
    const alone = page.getByTestId("labels-alone-accuracy");
    await alone.waitFor();
    assert.equal(await alone.textContent(), `${(100 * scores.heldout.encoder).toFixed(1)}%`);
    console.log(`Label & train says: ${await page.getByTestId("labels-alone").textContent()}`);
    assert.equal(scores.shown, "recipe", "the movies are scored by the page's own classifier");
    assert.ok(scores.reviews.length > 4000, `${scores.reviews.length} critics' reviews scored`);
    for (const key of ["nbsvm", "word-vectors", "encoder", "recipe"]) {
      assert.ok(scores.reviews.every((r) => typeof r.positive[key] === "number"), `${key} scored every review`);
      assert.ok(scores.heldout[key] > 0 && scores.heldout[key] <= 1, `${key} held-out ${scores.heldout[key]}`);
    }
    console.log(`held-out accuracy at 20 labels: ${JSON.stringify(scores.heldout)}; critics: ${JSON.stringify(scores.critics)}`);
    console.log(`cpu path: baselines trained in ${scores.seconds.train.toFixed(2)} s; every contender scored the held-out sample and ${scores.reviews.length} critics' reviews in ${scores.seconds.score.toFixed(2)} s`);

    await page.getByTestId("nav").getByRole("link", { name: "Movies" }).click();
    await page.getByTestId("movies-view").waitFor();
    await page.locator(".share[data-testid=share-yours]").first().waitFor();
    assert.equal(await page.locator(".share[data-testid=share-yours]").count(), movies, "every movie has your classifier's share");
    // The first row's share is the share of its reviews the classifier calls positive.
    const first = page.getByTestId("movie-row").first();
    const slug = new URL(await first.getByRole("link").getAttribute("href"), server.url).pathname.split("/").pop();
    const own = scores.reviews.filter((r) => r.movie === slug && !r.labelled);
    const share = Math.round((100 * own.filter((r) => r.positive.recipe >= 0.5).length) / own.length);
    assert.match(await first.getByTestId("share-yours").textContent(), new RegExp(`your classifier: ${share}% positive`));
    // Search narrows the list; sorting keeps every movie.
    await page.getByTestId("movie-search").fill("the");
    const found = await page.getByTestId("movie-row").count();
    assert.ok(found > 0 && found < movies, `${found} titles with "the"`);
    await page.getByTestId("movie-search").fill("");
    await page.getByTestId("movie-sort").selectOption("reviews");
    assert.equal(await page.getByTestId("movie-row").count(), movies);

    // The movie with markup in it, by its link.
    const hostile = scores.reviews[0].movie;
    await page.goto(`${server.url}movies/${hostile}`);
    await page.getByTestId("movie-view").waitFor();
    await page.getByTestId("critic-review").first().waitFor({ timeout: 180_000 });
    await page.getByTestId("movie-highlights").waitFor({ timeout: 180_000 });
    assert.ok((await page.getByTestId("movie-title").textContent()).includes(PAYLOAD));
    assert.ok((await page.getByTestId("movie-plot").textContent()).includes(PAYLOAD));
    const reviews = await page.getByTestId("critic-review").count();
    assert.equal(reviews, scores.reviews.filter((r) => r.movie === hostile).length);
    assert.match(await page.getByTestId("movie-summary").textContent(), /^\d+ reviews · \d+ positive \(\d+%\)/);
    const highlights = await page.locator("[data-testid=movie-highlights] .sentence").count();
    assert.ok(highlights >= 2, `${highlights} highlighted sentences`);
    const lines = await page.getByTestId("critic-review-line").allTextContents();
    assert.ok(lines.every((l) => /^classification: (positive|negative) · \d+% certainty · critics: (fresh|rotten) · (accurate|inaccurate) classification$/.test(l)), lines[0]);
    await assertNothingInjected(page, "movie");

    // Labelling a critic's review from here: it trains the classifier and leaves the scored set.
    await page.getByTestId("critic-label-positive").first().click();
    await page.getByTestId("movie-labelled-note").waitFor({ timeout: 180_000 });
    await comparisonAfter(page, 21);
    assert.match(await page.getByTestId("critic-review-line").filter({ hasText: "you labelled it" }).first().textContent(), /you labelled it positive/);

    // A reload keeps the view and the label.
    await page.reload();
    await page.getByTestId("movie-view").waitFor();
    await page.getByTestId("movie-labelled-note").waitFor({ timeout: 180_000 });

    // Compare, by the menu; back and forward move between the views.
    await page.getByTestId("nav").getByRole("link", { name: "Compare" }).click();
    await page.getByTestId("compare-table").waitFor({ timeout: 180_000 });
    const latest = await comparisonAfter(page, 21);
    for (const key of ["nbsvm", "recipe"]) {
      const cell = await page.getByTestId(`compare-row-${key}`).getByTestId("heldout").textContent();
      assert.equal(cell, `${(100 * latest.heldout[key]).toFixed(1)}%`, `${key}'s held-out accuracy`);
    }
    assert.ok((await page.getByTestId("compare-movies").textContent()).includes(PAYLOAD));
    await assertNothingInjected(page, "compare");
    await page.goBack();
    await page.getByTestId("movie-view").waitFor();
    await page.goForward();
    await page.getByTestId("compare-view").waitFor();

    // Disagreements: exactly the reviews where NB-SVM and the transfer model differ.
    await page.getByTestId("nav").getByRole("link", { name: "Disagreements" }).click();
    await page.getByTestId("disagreement-summary").waitFor({ timeout: 180_000 });
    const differ = latest.reviews
      .map((r, i) => [r, i])
      .filter(([r]) => !r.labelled && (r.positive.nbsvm >= 0.5) !== (r.positive[latest.shown] >= 0.5));
    assert.ok(differ.length > 0, "the two disagree somewhere");
    assert.match(await page.getByTestId("disagreement-summary").textContent(), new RegExp(`disagree on ${differ.length} of`));
    const listed = await page.getByTestId("disagreement").evaluateAll((items) => items.map((li) => Number(li.dataset.index)));
    const expected = new Set(differ.map(([, i]) => i));
    assert.ok(listed.length > 0 && listed.every((i) => expected.has(i)), "every listed review is a disagreement");
    await assertNothingInjected(page, "disagreements");

    // Every view by its URL too.
    for (const [path, view] of [["compare", "compare-table"], ["disagreements", "disagreement-summary"], ["", "label-view"]]) {
      await page.goto(server.url + path);
      await page.getByTestId(view).waitFor({ timeout: 180_000 });
      await assertNothingInjected(page, path || "label & train");
    }

    // After a reload each view shows the saved classifier's results at once: the scores
    // are kept with the labels, classifier and catalogue they came from (docs/speed.md).
    for (const [path, shown] of [
      ["movies", ".share[data-testid=share-yours]"], [`movies/${slug}`, "[data-testid=movie-highlights]"],
      ["compare", "[data-testid=compare-row-recipe] [data-testid=heldout]"], ["disagreements", "[data-testid=disagreement-summary]"],
    ]) {
      await page.goto(server.url + path);
      // Ready as `window.flicktune` says it: the status line is Label & train's only.
      await page.waitForFunction(() => window.flicktune?.ready(), null, { timeout: 180_000 });
      const readyAt = Date.now();
      await page.locator(shown).first().waitFor({ timeout: 180_000 });
      const seconds = (Date.now() - readyAt) / 1000;
      console.log(`after a reload on /${path}: the saved classifier's results ${seconds.toFixed(2)} s after ready`);
      assert.ok(seconds < 8, `/${path} took ${seconds} s after ready (it used to retrain and rescore everything first)`);
    }

    // Unknown movie: said, with a way back.
    await page.goto(`${server.url}movies/no_such_movie`);
    await page.getByTestId("movie-missing").filter({ hasText: "No movie by that name" }).waitFor({ timeout: 180_000 });
    assert.deepEqual(dialogs, [], "no dialog opened by injected markup");
  });
});
