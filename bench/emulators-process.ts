// One provider emulator as its own process for the benchmark, so its CPU work (reading
// and analysing the audio of every request) runs neither on the event loop that measures
// nor on the other provider's: real providers do not share one Node thread either.
// Unlike test/emulators/cli.ts it takes the OpenAI body cap and a latency model per provider.
// Usage:
//   tsx bench/emulators-process.ts openai '{"latency":{"fixedMs":300,"perAudioSecondMs":5},"maxBodyBytes":314572800}'
//   tsx bench/emulators-process.ts pyannote '{"latency":{"fixedMs":1500,"perAudioSecondMs":0.5}}'
// Prints one JSON line {"url":…,"origin":…} on stdout, then serves until SIGTERM/SIGINT or
// until its stdin closes (the parent died).
import { startOpenAIEmulator, startPyannoteEmulator, type OpenAIEmulatorOptions, type PyannoteEmulatorOptions } from '../test/emulators';

async function main(): Promise<void> {
  const which = process.argv[2];
  const opts = JSON.parse(process.argv[3] ?? '{}') as OpenAIEmulatorOptions & PyannoteEmulatorOptions;
  let emu: { url: string; close(): Promise<void> };
  let origin: string;
  if (which === 'openai') {
    const e = await startOpenAIEmulator(opts);
    emu = e;
    origin = e.origin;
  } else if (which === 'pyannote') {
    const e = await startPyannoteEmulator(opts);
    emu = e;
    origin = e.url;
  } else {
    throw new Error(`first argument must be openai or pyannote, got ${String(which)}`);
  }
  process.stdout.write(`${JSON.stringify({ url: emu.url, origin })}\n`);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    emu.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

main().catch((err) => {
  console.error(`bench emulator: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
