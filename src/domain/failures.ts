// One vocabulary of failure types, shared by activities (which raise them), the
// workflow (which decides retry policy by them) and the CLI (which explains them).

export const Failure = {
  /** The input has no audio stream, is empty, truncated or not media at all. */
  InvalidMedia: 'InvalidMedia',
  /** The input is media, but of a kind the pipeline cannot take (e.g. too long for the provider). */
  UnsupportedFormat: 'UnsupportedFormat',
  /** The input file named on the command line does not exist or cannot be read (removed or moved during the run, too). */
  InputMissing: 'InputMissing',
  /**
   * The input file is not the one the run was started for: its bytes (size, modification time
   * or content) changed after `speech run` hashed it. Its results would mix two recordings.
   */
  InputChanged: 'InputChanged',
  /** A key or setting the stage needs is not configured on the worker. */
  ConfigMissing: 'ConfigMissing',
  /** The provider rejected the key (401/403). */
  ProviderAuth: 'ProviderAuth',
  /** The provider rejected the request as malformed (400/404/413/422). */
  ProviderBadRequest: 'ProviderBadRequest',
  /** The account has no quota or budget left (429 insufficient_quota, 402). */
  ProviderQuotaExceeded: 'ProviderQuotaExceeded',
  /** 429 rate limit: retried after Retry-After. */
  ProviderRateLimited: 'ProviderRateLimited',
  /** 5xx, timeouts and network errors: retried with backoff. */
  ProviderUnavailable: 'ProviderUnavailable',
  /** The provider accepted the work but reported that it failed (e.g. a failed diarization job). */
  ProviderJobFailed: 'ProviderJobFailed',
  /** The provider answered with something that does not match its contract. */
  ProviderProtocol: 'ProviderProtocol',
  /** A recorded artifact is gone or does not match its sha256. */
  ArtifactMissing: 'ArtifactMissing',
  ArtifactCorrupt: 'ArtifactCorrupt',
  /** An output file exists that this run did not write (another run's, or edited since): never replaced without --overwrite. */
  OutputExists: 'OutputExists',
  /**
   * A folder the run writes to (DATA_DIR or the output folder) has no space (ENOSPC) or no quota
   * (EDQUOT) left. Not retried: a full disk does not empty itself within a retry's backoff, and
   * the finished stages are kept for the run after space is freed.
   */
  DiskFull: 'DiskFull',
} as const;
export type FailureType = (typeof Failure)[keyof typeof Failure];

/** Failures that no retry can fix: the workflow fails the run at once. */
export const NON_RETRYABLE_FAILURES: FailureType[] = [
  Failure.InvalidMedia,
  Failure.UnsupportedFormat,
  Failure.InputMissing,
  Failure.InputChanged,
  Failure.ConfigMissing,
  Failure.ProviderAuth,
  Failure.ProviderBadRequest,
  Failure.ProviderQuotaExceeded,
  Failure.ProviderJobFailed,
  Failure.ArtifactMissing,
  Failure.ArtifactCorrupt,
  Failure.OutputExists,
  Failure.DiskFull,
];
