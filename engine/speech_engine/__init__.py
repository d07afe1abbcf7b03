"""speech-engine: a local speech engine (faster-whisper ASR, VAD + speaker embeddings +
clustering for diarization) behind the OpenAI transcription and pyannote.ai job contracts."""

__version__ = "0.1.0"
