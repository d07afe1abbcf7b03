// The two large interim files of a run, read into columns an element at a time: transcript.json's
// words for the merge, merged.json for the exports. A whole day is some 200,000 words; read with
// JSON.parse, each file would be held as text and as an object per word at once.
import { ColumnsBuilder, utterancesOf } from '../domain/columns';
import { MergeWords } from '../domain/merge';
import type { MergedView, Utterance, Word } from '../domain/types';
import { readJsonMembers } from './json-members';

/** What the merge takes from transcript.json (its segments and text are not read). */
export interface TranscriptWords {
  language: string | null | undefined;
  duration: number;
  words: MergeWords;
}

export async function readTranscriptWords(file: string): Promise<TranscriptWords> {
  const words = new MergeWords();
  const rest = await readJsonMembers(file, { each: { words: (w) => words.add(w as Word) }, skip: ['segments', 'text'] });
  return { language: rest.language as string | null | undefined, duration: rest.duration as number, words };
}

/** merged.json (written compact by the merge, or pretty-printed by earlier releases), its utterances in columns. */
export async function readMergedTranscript(file: string): Promise<MergedView> {
  const out = new ColumnsBuilder();
  const rest = await readJsonMembers(file, {
    each: {
      utterances: (element) => {
        const u = element as Utterance;
        for (const w of u.words ?? []) out.word(w.word, w.start, w.end, w.speaker);
        out.utterance(u.speaker, u.start, u.end, u.text);
      },
    },
  });
  // In the member's place, so the members keep the order they have in the file.
  rest.utterances = utterancesOf(out.done());
  return rest as MergedView;
}
