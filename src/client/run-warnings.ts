// What a completed run's result needs said beside its outputs, for `speech run` and `speech show`:
// read from the merge stage's metadata (in the workflow result and the state record alike), so
// runs completed by earlier releases are told the same.

/** Said when the transcript holds no words: silence, music or noise only. */
export const NO_SPEECH_WARNING = 'no speech was found: the transcript is empty (the audio holds only silence, noise or sounds other than speech)';

/** The warnings of a run, from its merge result's metadata (none before the merge). */
export function runWarnings(mergeMetadata: Record<string, unknown> | undefined | null): string[] {
  if (!mergeMetadata) return [];
  return mergeMetadata.utterances === 0 ? [NO_SPEECH_WARNING] : [];
}
