/** The system font the report chart draws its text with. */
import path from 'node:path';
import { execa } from 'execa';
import { aptInstall, cacheRoot, canAptInstall, envAndLog, which, type ToolchainOptions } from './common.js';

/**
 * The report chart draws its text with a system font (DejaVu Sans). Without any font, labels come
 * out as empty boxes; as root with apt-get we install fonts-dejavu-core, otherwise we only warn,
 * because everything else works without it.
 */
export async function ensureChartFonts(opts: ToolchainOptions = {}): Promise<void> {
  const { env, log } = envAndLog(opts);
  const fcList = await which('fc-list', env);
  if (fcList) {
    const { stdout } = await execa(fcList, [':family=DejaVu Sans'], { env, reject: false });
    if (stdout.trim() !== '') return;
  }
  if (!(await canAptInstall(env, opts))) {
    log('Warning: no DejaVu Sans font found; the report chart needs one (Debian: apt-get install fonts-dejavu-core).');
    return;
  }
  const logFile = path.join(cacheRoot(env), 'logs', 'fonts-apt.log');
  log(`Installing fonts-dejavu-core with apt-get for the report chart; log: ${logFile}`);
  const code = await aptInstall(['fonts-dejavu-core', 'fontconfig'], logFile, env);
  if (code !== 0) log(`Warning: installing fonts failed (exit ${code}); see ${logFile}. The chart may lack text.`);
}
