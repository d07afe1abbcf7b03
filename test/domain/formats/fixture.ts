// A small two-speaker transcript that exercises every export rule: escaping,
// a cue split by duration, a cue split by length, and times past one hour.
import type { AttributedWord, MergedTranscript, Utterance } from '../../../src/domain/types';

function utterance(speaker: string, words: [string, number, number][]): Utterance {
  const attributed: AttributedWord[] = words.map(([word, start, end]) => ({ word, start, end, speaker }));
  const first = attributed[0];
  const last = attributed[attributed.length - 1];
  if (!first || !last) throw new Error('fixture utterance needs words');
  return { speaker, start: first.start, end: last.end, text: words.map((w) => w[0]).join(' '), words: attributed };
}

export const fixtureTranscript: MergedTranscript = {
  source: 'Team Meeting 2026-11-03.m4a',
  duration: 3730,
  language: 'en',
  speakers: ['SPEAKER_00', 'SPEAKER_01'],
  utterances: [
    utterance('SPEAKER_00', [
      ['Hello', 1.0, 1.4],
      ['everyone,', 1.5, 2.1],
      ['welcome', 2.3, 2.9],
      ['back.', 3.0, 4.2],
    ]),
    utterance('SPEAKER_01', [
      ['Is', 4.8, 5.0],
      ['R&D', 5.0, 5.5],
      ['>', 5.6, 5.7],
      ['sales?', 5.8, 6.25],
      ['<laughs>', 6.3, 6.9],
    ]),
    // 14.5 s long: split into cues by the 7 s limit.
    utterance('SPEAKER_00', [
      ['So', 10.0, 10.4],
      ['the', 10.5, 10.7],
      ['plan', 10.8, 11.5],
      ['for', 12.0, 12.3],
      ['next', 12.4, 12.9],
      ['quarter', 13.0, 14.0],
      ['is', 14.5, 14.8],
      ['simple:', 15.0, 16.0],
      ['we', 16.5, 16.8],
      ['ship', 17.0, 17.6],
      ['the', 17.7, 17.9],
      ['new', 18.0, 18.4],
      ['pipeline,', 18.5, 19.4],
      ['measure', 20.0, 20.6],
      ['it', 20.7, 20.9],
      ['carefully,', 21.0, 22.0],
      ['and', 22.5, 22.8],
      ['then', 23.0, 23.4],
      ['decide.', 23.6, 24.5],
    ]),
    // 6 s but 104 characters: split into cues by the 84-character limit.
    utterance('SPEAKER_01', [
      ['Internationalization', 30.0, 30.6],
      ['considerations', 30.7, 31.3],
      ['notwithstanding,', 31.4, 32.0],
      ['interoperability', 32.1, 32.7],
      ['requirements', 32.8, 33.4],
      ['overwhelmingly', 33.5, 34.1],
      ['characterize', 34.2, 34.8],
      ['this', 34.9, 35.1],
      ['undertaking.', 35.2, 36.0],
    ]),
    // Past one hour; the last end rounds to .250.
    utterance('SPEAKER_00', [
      ['That', 3725.5, 3725.8],
      ['wraps', 3725.9, 3726.3],
      ['it', 3726.4, 3726.5],
      ['up.', 3726.6, 3727.2496],
    ]),
  ],
};
