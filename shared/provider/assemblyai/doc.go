// Package assemblyai is the provider adapter of AssemblyAI's pre-recorded
// speech-to-text API (https://api.assemblyai.com). It serves
// audio_transcription and subtitle_generation: both are one transcript,
// answered as Result.Transcript (the platform writes the subtitles).
//
// Configuration:
//
//	providers:
//	- name: assemblyai
//	  type: assemblyai
//	  task_types: [audio_transcription, subtitle_generation]
//	  max_concurrency: 20
//	  requests_per_minute: 300
//	  options:
//	    model: universal-3-pro          # default universal-2
//	    fallback_models: [universal-2]  # for the languages Universal-3 lacks
//	    speaker_labels: false           # true: speaker turns become segments
//	    api_key_env: ASSEMBLYAI_API_KEY # the default
//	    timeout: 60s
//	    poll_after: 3s                  # the default; e.g. 20ms against the fake
//	    price: {universal-3-pro: 0.21}  # USD per hour of audio
//
// Mapping. Audio the platform holds (req.Media not Public) is sent as
// bytes to POST /v2/upload (up to max_output_bytes, 512 MiB by default)
// and its upload_url used; a public URL is passed as audio_url. POST
// /v2/transcript gets speech_models (model, then fallback_models),
// language_code from the task's BCP 47 language (en-US en_us, en-GB
// en_uk, en-AU en_au, others their primary subtag) or
// language_detection: true when the task names none, speaker_labels, and
// the task's prompt as vocabulary: a list (split at commas, semicolons,
// line breaks) becomes keyterms_prompt (at most 1000 terms of 6 words; a
// longer phrase is cut into terms of 6 words); prose (a part of more than
// 6 words) becomes prompt, a prompt of context, for the Universal-3
// family, which alone takes one. GET /v2/transcript/{id} is polled every
// 3 s (poll_after): queued, processing (progress 0.5), completed or error. Words come
// in milliseconds and are given in seconds with their confidence;
// utterances (with speaker_labels) become segments, otherwise the
// transcript's sentences; language_code becomes the ISO 639-1 language;
// Extra holds transcript_id, speech_model, confidence,
// language_confidence, duration_seconds and speakers.
//
// Refusals. CheckInput names input_data.language when none of the speech
// models transcribes it: the Universal-3 family takes en, es, pt, fr, de
// and it; Universal-2 the 99 languages AssemblyAI lists; an unknown model
// name gets Universal-3's few. Errors {"error": "..."} are classified by
// status (429 throttled with Retry-After, 5xx transient, 401 and 403 the
// account's); a message about the balance or payment is a quota problem.
// A transcript that ends in error is transient when AssemblyAI names its
// own trouble (internal error, timeout), otherwise a fault of the request
// (no audio in the file, a URL it cannot download). AssemblyAI has no
// safety refusal for speech.
//
// Cancel. AssemblyAI cannot stop a transcript: Cancel sends DELETE
// /v2/transcript/{id}, which redacts a finished transcript, best effort;
// a running job goes on and is billed, and a refusal to delete it (or a
// transcript already gone) is not an error.
//
// Costs (price list assemblyai-2026-12, USD per hour of audio, billed per
// second of audio_duration; failed jobs are free): universal-2 (and its
// old name universal) 0.15, universal-3-pro and universal-3-5-pro 0.21. The model priced is
// speech_model_used when AssemblyAI says which, else the first. A model
// of unknown price has no cost unless price names it.
//
// Callbacks (a provider.Caller): with Request.Callback the create sends
// webhook_url and the job's secret as the CallbackHeader auth header;
// VerifyCallback compares it in constant time and names the transcript
// id, final on completed or error.
package assemblyai
