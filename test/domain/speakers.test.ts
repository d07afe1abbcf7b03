import assert from 'node:assert/strict';
import { displayTranscript, parseRenames, summariseSpeakers, withNames } from '../../src/domain/speakers';
import type { MergedTranscript, Utterance } from '../../src/domain/types';

function utterance(speaker: string, start: number, text: string): Utterance {
  const words = text.split(' ').map((word, i) => ({ word, start: start + i * 0.5, end: start + i * 0.5 + 0.4, speaker }));
  return { speaker, start, end: words[words.length - 1]!.end, text, words };
}

const meeting: MergedTranscript = {
  source: 'meeting.wav',
  duration: 30,
  language: 'en',
  speakers: ['SPEAKER_00', 'SPEAKER_01', 'SPEAKER_02'],
  utterances: [
    utterance('SPEAKER_00', 0, 'Good morning everyone'),
    utterance('SPEAKER_01', 3, 'Thanks for having me here today with all of you and the team'),
    utterance('SPEAKER_00', 12, 'Let us start'),
    utterance('SPEAKER_02', 15, 'Hello'),
  ],
  identification: [
    { speaker: 'SPEAKER_00', match: 'Alice', score: 91 },
    { speaker: 'SPEAKER_01', match: null, score: 40 },
  ],
};

describe('speaker names', () => {
  it('takes identified voices, with the user\'s names over them', () => {
    const named = withNames(meeting, { SPEAKER_01: 'Bob', SPEAKER_09: 'Ghost' });
    assert.deepEqual(named.speakerNames, { SPEAKER_00: 'Alice', SPEAKER_01: 'Bob' });
    assert.deepEqual(withNames(meeting, { SPEAKER_00: 'Alicia' }).speakerNames, { SPEAKER_00: 'Alicia' });
  });

  it('shows names everywhere a reader looks, and keeps two speakers given one name apart', () => {
    const shown = displayTranscript(withNames(meeting, { SPEAKER_01: 'Alice' }));
    assert.deepEqual(shown.speakers, ['Alice', 'Alice (SPEAKER_01)', 'SPEAKER_02']);
    const utterances = [...shown.utterances];
    assert.deepEqual(utterances.map((u) => u.speaker), ['Alice', 'Alice (SPEAKER_01)', 'Alice', 'SPEAKER_02']);
    assert.ok(utterances.every((u) => u.words.every((w) => w.speaker === u.speaker)));
  });

  it('summarises each speaker: talk time, first words, where to listen, the voice match', () => {
    const [a, b, c] = summariseSpeakers(withNames(meeting, {}));
    assert.equal(a!.name, 'Alice');
    assert.equal(a!.utterances, 2);
    assert.equal(a!.words, 6);
    assert.equal(a!.firstWords, 'Good morning everyone');
    assert.deepEqual(a!.listenAt, [0, 12]);
    assert.deepEqual(a!.match, { speaker: 'SPEAKER_00', match: 'Alice', score: 91 });
    assert.equal(b!.name, null);
    assert.match(b!.firstWords, / …$/, 'long first utterances are cut');
    assert.equal(c!.match, null);
    assert.ok(Math.abs(b!.talkSeconds - (meeting.utterances[1]!.end - 3)) < 1e-9);
  });

  it('parses renames by label or by current name, and reports every problem at once', () => {
    const named = withNames(meeting, {});
    assert.deepEqual(parseRenames(['SPEAKER_01=Bob Smith', 'Alice=Alice Jones', 'SPEAKER_02='], named), {
      renames: { SPEAKER_01: 'Bob Smith', SPEAKER_00: 'Alice Jones', SPEAKER_02: null },
      problems: [],
    });
    const bad = parseRenames(['SPEAKER_05=X', 'nonsense', 'SPEAKER_00=a\nb', 'SPEAKER_01=B', 'SPEAKER_01=C'], named);
    assert.equal(bad.problems.length, 4, bad.problems.join('\n'));
    assert.match(bad.problems[0]!, /"SPEAKER_05" is not a speaker of this run \(speakers: SPEAKER_00 \(Alice\), SPEAKER_01, SPEAKER_02\)/);
    assert.match(bad.problems[1]!, /not LABEL=Name/);
    assert.match(bad.problems[2]!, /one line/);
    assert.match(bad.problems[3]!, /SPEAKER_01 is renamed twice/);
    assert.match(parseRenames([], named).problems[0]!, /at least one speaker/);
  });
});
