// Languages as the product names them everywhere: ISO-639-1 codes ("en"). OpenAI's
// verbose_json (like Whisper itself) names the detected language in English words ("english");
// those are mapped here. Whisper's list, with its two non-ISO codes put right (jw → jv, and
// haw/yue kept: ISO-639-1 has no code for Hawaiian or Cantonese).
const WHISPER_LANGUAGES: Record<string, string> = {
  english: 'en', chinese: 'zh', german: 'de', spanish: 'es', russian: 'ru', korean: 'ko', french: 'fr', japanese: 'ja',
  portuguese: 'pt', turkish: 'tr', polish: 'pl', catalan: 'ca', dutch: 'nl', arabic: 'ar', swedish: 'sv', italian: 'it',
  indonesian: 'id', hindi: 'hi', finnish: 'fi', vietnamese: 'vi', hebrew: 'he', ukrainian: 'uk', greek: 'el', malay: 'ms',
  czech: 'cs', romanian: 'ro', danish: 'da', hungarian: 'hu', tamil: 'ta', norwegian: 'no', thai: 'th', urdu: 'ur',
  croatian: 'hr', bulgarian: 'bg', lithuanian: 'lt', latin: 'la', maori: 'mi', malayalam: 'ml', welsh: 'cy', slovak: 'sk',
  telugu: 'te', persian: 'fa', latvian: 'lv', bengali: 'bn', serbian: 'sr', azerbaijani: 'az', slovenian: 'sl', kannada: 'kn',
  estonian: 'et', macedonian: 'mk', breton: 'br', basque: 'eu', icelandic: 'is', armenian: 'hy', nepali: 'ne', mongolian: 'mn',
  bosnian: 'bs', kazakh: 'kk', albanian: 'sq', swahili: 'sw', galician: 'gl', marathi: 'mr', punjabi: 'pa', sinhala: 'si',
  khmer: 'km', shona: 'sn', yoruba: 'yo', somali: 'so', afrikaans: 'af', occitan: 'oc', georgian: 'ka', belarusian: 'be',
  tajik: 'tg', sindhi: 'sd', gujarati: 'gu', amharic: 'am', yiddish: 'yi', lao: 'lo', uzbek: 'uz', faroese: 'fo',
  'haitian creole': 'ht', pashto: 'ps', turkmen: 'tk', nynorsk: 'nn', maltese: 'mt', sanskrit: 'sa', luxembourgish: 'lb',
  myanmar: 'my', tibetan: 'bo', tagalog: 'tl', malagasy: 'mg', assamese: 'as', tatar: 'tt', hawaiian: 'haw', lingala: 'ln',
  hausa: 'ha', bashkir: 'ba', javanese: 'jv', sundanese: 'su', cantonese: 'yue',
};

/** Every code the product takes for --language: Whisper's languages, by ISO-639-1 code. */
export const LANGUAGE_CODES: ReadonlySet<string> = new Set(Object.values(WHISPER_LANGUAGES));

const ALIASES: Record<string, string> = { jw: 'jv', iw: 'he', in: 'id', castilian: 'es', flemish: 'nl', moldavian: 'ro', moldovan: 'ro', valencian: 'ca', letzeburgesch: 'lb', pushto: 'ps', panjabi: 'pa', sinhalese: 'si', burmese: 'my', mandarin: 'zh', haitian: 'ht' };

/**
 * The ISO-639-1 code of a language as a provider names it ("english", "English", "en",
 * "en-US"); null when it is unknown or absent. An unknown name is returned as given, in lower
 * case, rather than dropped: the provider said something, and a reader may still use it.
 */
export function isoLanguage(language: string | null | undefined): string | null {
  if (language === null || language === undefined) return null;
  const l = language.trim().toLowerCase();
  if (l === '') return null;
  const base = l.split(/[-_]/)[0]!;
  if (LANGUAGE_CODES.has(base)) return base;
  return WHISPER_LANGUAGES[l] ?? ALIASES[l] ?? ALIASES[base] ?? l;
}
