// Starts the page's wasm module; a file of its own because the server's
// Content-Security-Policy allows no inline script.
import init from "../pkg/flicktune.js";

init().catch((error) => {
  const box = document.getElementById("panic");
  box.textContent = `Flicktune could not start: ${error}`;
  box.hidden = false;
});
