// Builds the dashboard bundle into ../dist (embedded by the Go package):
//   npm ci && node build.mjs
// dist/STAMP records a digest of every input (sources, package files, this
// script); the Go test TestBundleIsCurrent recomputes it so a change to the
// sources without a rebuild fails CI. Inputs: see stampFiles.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync, readdirSync, statSync, rmSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

// stampFiles are the inputs of the bundle, relative to web/, sorted.
const stampFiles = [...walk(join(here, "src")), join(here, "package.json"), join(here, "package-lock.json"), join(here, "build.mjs")]
  .map((p) => relative(here, p).split("\\").join("/"))
  .sort();

// stamp = sha256 over "path\n" + sha256hex(content) + "\n" per file.
const h = createHash("sha256");
for (const f of stampFiles) {
  h.update(f + "\n" + createHash("sha256").update(readFileSync(join(here, f))).digest("hex") + "\n");
}
const stamp = h.digest("hex");

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "assets"), { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome110", "firefox115", "safari16"],
  outfile: join(dist, "assets", "app.js"),
  legalComments: "eof",
  logLevel: "warning",
});
writeFileSync(join(dist, "assets", "app.css"), readFileSync(join(here, "src", "app.css")));
writeFileSync(join(dist, "index.html"), readFileSync(join(here, "src", "index.html"), "utf8").replaceAll("__STAMP__", stamp.slice(0, 12)));
writeFileSync(join(dist, "STAMP"), stamp + "\n");
const size = statSync(join(dist, "assets", "app.js")).size;
console.log(`dashboard bundle: ${size} bytes, stamp ${stamp.slice(0, 12)}`);
