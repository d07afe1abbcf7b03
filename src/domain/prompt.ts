// The prompt a transcription request carries: the closing words of the chunk before it.
import type { Transcript } from './types';

/** gpt-4o-transcribe-diarize rejects a prompt; the other OpenAI models take one. */
export function acceptsPrompt(model: string): boolean {
  return !/diarize/i.test(model);
}

/** The last ~200 characters of the previous chunk, cut at a word boundary. */
export function promptFrom(previous: Transcript): string | null {
  const text = previous.text.trim();
  if (!text) return null;
  if (text.length <= 200) return text;
  const tail = text.slice(-200);
  const space = tail.indexOf(' ');
  return space >= 0 ? tail.slice(space + 1) : tail;
}

/**
 * What a chunk request is prompted with: the user's vocabulary first, then the previous chunk's
 * closing words (whisper weighs the end of a prompt most, and keeps its last ~224 tokens).
 */
export function combinePrompt(user: string | null | undefined, previous: string | null): string | null {
  const u = user?.trim() ? user.trim() : null;
  if (u && previous) return `${u} ${previous}`;
  return u ?? previous;
}
