// Every patch of the workflow code, by the change it made. A patch id is forever: once a
// release that calls `patched(id)` has shipped, the id stays until every run started before it
// has closed, then becomes `deprecatePatch(id)` for a release, then goes (README, "Changing
// workflow code"). Each entry names the release that added it.
export const PATCHES = {
  /**
   * Since the release after dbe0714: an earlier run's finished transcription chunks are reused
   * only when this run's converted audio is byte-identical to the audio they were cut from.
   */
  chunkReuseNeedsSameAudio: 'chunk-reuse-needs-same-audio',
  /**
   * Since the release after 178fb83: the export gets the run's output name, subtitle layout and
   * --overwrite, and diarization the enrolled voices' folder for --identify. Runs started earlier
   * export as they would have (default layout, the input's own name).
   */
  outputOptions: 'output-options',
  /**
   * Since the release after e85f60a: conversion, diarization and each transcription chunk are
   * told whether they may take a result from the stage cache (`reuseCached`; false with
   * --force-restart). Runs started earlier send nothing, and their activities take cached results.
   */
  stageCache: 'stage-cache',
  /**
   * Since the release after e85f60a: each transcription chunk gets the user's vocabulary prompt
   * (`--prompt`) from the run's options. Runs started earlier have none to send.
   */
  userPrompt: 'user-prompt',
} as const;
