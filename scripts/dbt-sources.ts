/**
 * Writes dbt/models/staging/__sources.yml from the entity definitions (src/domain/dbt-sources.ts).
 *
 *   npx tsx scripts/dbt-sources.ts          regenerate the file
 *   npx tsx scripts/dbt-sources.ts --check  exit 1 when the committed file differs from the rendering (CI)
 *   --file=<path>                           another file than dbt/models/staging/__sources.yml (tests)
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SOURCES_YAML_PATH, renderSourcesYaml } from '../src/domain/dbt-sources.js';

async function main(): Promise<void> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const fileArg = process.argv.find((a) => a.startsWith('--file='));
  const file = fileArg ? path.resolve(fileArg.slice('--file='.length)) : path.join(root, SOURCES_YAML_PATH);
  const rendered = renderSourcesYaml();
  const current = await readFile(file, 'utf8').catch(() => undefined);
  if (process.argv.includes('--check')) {
    if (current !== rendered) {
      console.error(
        `${SOURCES_YAML_PATH} is out of date: run \`npx tsx scripts/dbt-sources.ts\` and commit the result.`,
      );
      process.exit(1);
    }
    console.log(`${path.relative(root, file)} is up to date.`);
    return;
  }
  if (current === rendered) {
    console.log(`${path.relative(root, file)} unchanged.`);
    return;
  }
  await writeFile(file, rendered);
  console.log(`wrote ${path.relative(root, file)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
