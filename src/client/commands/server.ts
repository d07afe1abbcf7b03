// `speech server start|stop|status`: the embedded Temporal dev server under DATA_DIR.
import { loadConfig } from '../../config';
import { cliVersion, isServing, readServerInfo, serverAlive, startDevServer, stopDevServer, uiPortFor } from '../dev-server';
import { EXIT, UsageError } from '../errors';
import { printJson } from '../output';

export async function serverCommand(action: string, flags: { json?: boolean; headless?: boolean }): Promise<number> {
  const config = loadConfig();
  const { address, namespace } = config.temporal;
  const say = (l: string) => {
    if (!flags.json) console.log(l);
  };
  switch (action) {
    case 'start': {
      if (await isServing(address, namespace)) {
        const info = readServerInfo(config.dataDir);
        if (flags.json) printJson({ ok: true, running: true, started: false, address, pid: info?.pid ?? null });
        else say(`A Temporal server already answers on ${address}.`);
        return EXIT.ok;
      }
      const info = await startDevServer({ dataDir: config.dataDir, address, namespace, cliPath: config.temporal.cliPath, headless: flags.headless ?? false });
      if (flags.json) printJson({ ok: true, running: true, started: true, ...info });
      else {
        say(`Temporal dev server started (pid ${info.pid}) on ${address}.`);
        if (info.uiUrl) say(`Web UI: ${info.uiUrl}`);
        say(`Database: ${info.dbFile}`);
        say(`Log: ${info.logFile}`);
      }
      return EXIT.ok;
    }
    case 'stop': {
      const stopped = await stopDevServer(config.dataDir);
      if (flags.json) printJson({ ok: true, stopped });
      else say(stopped ? 'Temporal dev server stopped.' : 'No embedded dev server was running for this DATA_DIR.');
      return EXIT.ok;
    }
    case 'status': {
      const info = readServerInfo(config.dataDir);
      const serving = await isServing(address, namespace);
      const status = {
        address,
        namespace,
        serving,
        embedded: info && serverAlive(info) ? { pid: info.pid, db_file: info.dbFile, log_file: info.logFile } : null,
        web_ui: serving ? config.temporal.uiUrl ?? `http://localhost:${uiPortFor(address)}` : null,
        cli: cliVersion(config.temporal.cliPath),
      };
      if (flags.json) printJson({ ok: true, ...status });
      else {
        say(`${address} (${namespace}): ${serving ? 'serving' : 'not answering'}`);
        say(status.embedded ? `embedded dev server pid ${status.embedded.pid}, database ${status.embedded.db_file}` : 'no embedded dev server started from this DATA_DIR');
        if (status.web_ui) say(`Web UI: ${status.web_ui}`);
        say(`temporal CLI: ${status.cli ?? 'not found'}`);
      }
      return serving ? EXIT.ok : EXIT.failed;
    }
    default:
      throw new UsageError(`unknown server action "${action}"`, 'use: speech server start | stop | status');
  }
}
