import assert from 'node:assert/strict';
import { DEFAULT_PRICES, diarizationCost, estimateCost, formatMoney, mergePrices, summarizeUsage, transcriptionCost } from '../../src/domain/usage';

describe('usage and cost', () => {
  it('sums what a run paid from its stage metadata; reused stages cost nothing', () => {
    const u = summarizeUsage({
      conversion: { reused_from: 'speech-a-1' },
      diarization: { provider: 'pyannote', model: 'precision-2', audio_seconds: 7200, jobs: 1 },
      transcription: { provider: 'openai', model: 'whisper-1', requests: 12, audio_seconds_sent: 7200, usage_seconds: 7206, chunks: 16, reused_chunks: 4 },
    });
    assert.equal(u.conversion.reusedFrom, 'speech-a-1');
    assert.equal(u.diarization.jobs, 1);
    const cost = estimateCost(DEFAULT_PRICES, u);
    // whisper-1: billed seconds at $0.006/min; pyannote: one job of 2 h at the table's hourly price.
    const whisper = (7206 / 60) * 0.006;
    const pyannote = (7200 * DEFAULT_PRICES.pyannote['precision-2']!.per_hour!) / 3600;
    assert.ok(Math.abs(cost.total - (whisper + pyannote)) < 1e-9, String(cost.total));
    assert.equal(cost.priceDate, DEFAULT_PRICES.date);

    const reused = summarizeUsage({ diarization: { provider: 'pyannote', model: 'precision-2', audio_seconds: 7200, jobs: 1, reused_from: 'speech-a-1' } });
    assert.equal(reused.diarization.jobs, 0);
    assert.equal(estimateCost(DEFAULT_PRICES, reused).total, 0);
  });

  it('bills pyannote.ai per job with its minimum, and counts a job paid twice', () => {
    const line = diarizationCost(DEFAULT_PRICES, 'pyannote', 'precision-2', 5.2, 2)!;
    assert.equal(line.amount, (2 * 20 * DEFAULT_PRICES.pyannote['precision-2']!.per_hour!) / 3600);
    assert.match(line.basis, /2 jobs × 20 s/);
    assert.equal(diarizationCost(DEFAULT_PRICES, 'local', 'local', 3600, 1)!.amount, 0);
  });

  it('prices tokens when the service reported them, dated snapshots like their model, unknown models as unknown', () => {
    const tokens = transcriptionCost(DEFAULT_PRICES, { provider: 'openai', model: 'gpt-4o-mini-transcribe-2025-12-15', requests: 2, audioSecondsSent: 600, usageSeconds: 0, inputTokens: 1_000_000, outputTokens: 100_000 })!;
    assert.equal(tokens.amount, 3 + 0.5);
    const unknown = transcriptionCost(DEFAULT_PRICES, { provider: 'openai', model: 'whisper-large-v3', requests: 1, audioSecondsSent: 60, usageSeconds: 0, inputTokens: 0, outputTokens: 0 })!;
    assert.equal(unknown.amount, null);
    const est = estimateCost(DEFAULT_PRICES, summarizeUsage({ transcription: { provider: 'openai', model: 'whisper-large-v3', requests: 1, audio_seconds_sent: 60 } }));
    assert.equal(est.incomplete, true);
  });

  it('takes a user price table over the shipped one, and refuses a malformed one with the field named', () => {
    const mine = mergePrices(DEFAULT_PRICES, { date: '2027-01-01', openai: { 'whisper-1': { per_minute: 0.01 } } }, 'prices.json');
    assert.equal(mine.date, '2027-01-01');
    assert.equal(mine.openai['whisper-1']!.per_minute, 0.01);
    assert.ok(mine.pyannote['precision-2'], 'the rest of the shipped table stays');
    assert.throws(() => mergePrices(DEFAULT_PRICES, { openai: { 'whisper-1': { per_minute: 'cheap' } } }, 'prices.json'), /prices\.json: openai\.whisper-1\.per_minute/);
  });

  it('formats small amounts with enough digits to tell them apart', () => {
    assert.equal(formatMoney(0, 'USD'), '$0.00');
    assert.equal(formatMoney(0.0123, 'USD'), '$0.0123');
    assert.equal(formatMoney(12.5, 'EUR'), '12.50 EUR');
  });
});
