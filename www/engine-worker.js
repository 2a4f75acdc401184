// The engine's Web Worker: the page's own wasm module with its worker entry point
// (src/app/services/engine/worker.rs), answering the page's requests for the encoder's
// work. The page's first message hands over the module it compiled, so nothing is
// downloaded or compiled twice; requests that arrive while it starts wait for it.
import init, { startWorker } from "../pkg/flicktune.js";

// The page shows what the security policy refused here (a worker's refusals never reach
// the page's console by themselves).
self.addEventListener("securitypolicyviolation", (e) => {
  self.postMessage({ refused: `${e.violatedDirective} refused ${e.blockedURI || "inline code"}` });
});

const early = [];
let starting = false;
self.onmessage = (event) => {
  if (starting || !event.data?.module) {
    early.push(event);
    return;
  }
  starting = true;
  init({ module_or_path: event.data.module })
    .then(() => {
      startWorker(); // from here on the module answers messages itself
      for (const waiting of early) self.onmessage(waiting);
    })
    .catch((error) => self.postMessage({ fatal: `the engine could not start: ${error}` }));
};
