// `speech engine start|stop|status`: the local speech engine under DATA_DIR (transcription and
// diarization with no key; see engine/README.md).
import { loadConfig } from '../../config';
import { describeProviders, engineAlive, engineHealth, ensureEngine, readEngineInfo, stopEngine } from '../../local-engine';
import { EXIT, UsageError } from '../errors';
import { printJson } from '../output';

export async function engineCommand(action: string, flags: { json?: boolean }): Promise<number> {
  const config = loadConfig();
  const say = (l: string) => {
    if (!flags.json) console.log(l);
  };
  switch (action) {
    case 'start': {
      const before = readEngineInfo(config.dataDir);
      const info = await ensureEngine(config, say);
      const started = !before || before.pid !== info.pid;
      if (flags.json) printJson({ ok: true, running: true, started, ...info });
      else {
        say(started ? `Local speech engine started (pid ${info.pid}) on ${info.url}.` : `The local speech engine already runs (pid ${info.pid}) on ${info.url}.`);
        say(`Model: faster-whisper ${info.asrModel} on ${info.device} (${info.computeType}); jobs in ${info.dataDir}; log ${info.logFile}`);
        say(`Stages with this configuration: ${describeProviders(config, info)}.`);
      }
      return EXIT.ok;
    }
    case 'stop': {
      const stopped = await stopEngine(config.dataDir);
      if (flags.json) printJson({ ok: true, stopped });
      else say(stopped ? 'Local speech engine stopped (accepted diarization jobs stay on disk and finish after the next start).' : 'No local speech engine was running for this DATA_DIR.');
      return EXIT.ok;
    }
    case 'status': {
      const info = readEngineInfo(config.dataDir);
      const alive = info !== null && engineAlive(info);
      const health = alive ? await engineHealth(info.url) : null;
      const status = {
        running: health !== null,
        url: health ? info!.url : null,
        pid: health ? info!.pid : null,
        health,
        log_file: info?.logFile ?? null,
        stages: { transcription: config.providers.transcription, diarization: config.providers.diarization },
        installed_python: config.local.python,
      };
      if (flags.json) printJson({ ok: true, ...status });
      else {
        say(health ? `Local speech engine running (pid ${info!.pid}) on ${info!.url}: faster-whisper ${health.asr_model} on ${health.device} (${health.compute_type}, ${health.threads} threads).` : 'No local speech engine is running for this DATA_DIR; `speech run` starts one when a stage needs it.');
        say(`Stages with this configuration: ${describeProviders(config, health ? info : null)}.`);
      }
      return health ? EXIT.ok : EXIT.failed;
    }
    default:
      throw new UsageError(`unknown engine action "${action}"`, 'use: speech engine start | stop | status');
  }
}
