// Starts the page's wasm module; a file of its own because the server's
// Content-Security-Policy allows no inline script. The engine's Web Worker starts the
// same module with its own entry point (www/engine-worker.js).
import init, { startPage } from "../pkg/flicktune.js";

init()
  .then(() => startPage())
  .catch((error) => {
    const box = document.getElementById("panic");
    box.textContent = `Flicktune could not start: ${error}`;
    box.hidden = false;
  });
