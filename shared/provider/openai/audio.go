package openai

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/transcript"
)

// verboseAnswer is whisper's verbose_json (times in seconds).
type verboseAnswer struct {
	Task     string  `json:"task"`
	Language string  `json:"language"` // a name, e.g. "english"
	Duration float64 `json:"duration"`
	Text     string  `json:"text"`
	Segments []struct {
		ID           int     `json:"id"`
		Start        float64 `json:"start"`
		End          float64 `json:"end"`
		Text         string  `json:"text"`
		AvgLogprob   float64 `json:"avg_logprob"`
		NoSpeechProb float64 `json:"no_speech_prob"`
	} `json:"segments"`
	Words []struct {
		Word  string  `json:"word"`
		Start float64 `json:"start"`
		End   float64 `json:"end"`
	} `json:"words"`
	Usage *audioUsage `json:"usage"`
}

// jsonAnswer is the json format, all the gpt-4o transcribe models give.
type jsonAnswer struct {
	Text  string      `json:"text"`
	Usage *audioUsage `json:"usage"`
}

// diarizedAnswer is the diarizing model's diarized_json: segments timed
// and labelled by speaker, no word timings.
type diarizedAnswer struct {
	Text     string            `json:"text"`
	Segments []diarizedSegment `json:"segments"`
	Usage    *audioUsage       `json:"usage"`
}

type diarizedSegment struct {
	Speaker string  `json:"speaker"`
	Start   float64 `json:"start"`
	End     float64 `json:"end"`
	Text    string  `json:"text"`
}

// diarizedTranscript keeps the segments' times and spreads each
// segment's words over it (so the words' timings are estimates, and the
// transcript says so). The duration is the file's, or the last segment's
// end when the file does not say.
func diarizedTranscript(language string, d diarizedAnswer, audio []byte) (*transcript.Transcript, bool) {
	tr := &transcript.Transcript{Language: language, Text: d.Text, EstimatedTimings: true}
	for _, s := range d.Segments {
		tr.Segments = append(tr.Segments, transcript.Segment{Start: s.Start, End: s.End, Text: s.Text})
		for _, w := range transcript.Spread(language, s.Text, max(s.End-s.Start, 0)).Words {
			w.Start += s.Start
			w.End += s.Start
			tr.Words = append(tr.Words, w)
		}
		tr.DurationSeconds = max(tr.DurationSeconds, s.End)
	}
	measured := tr.DurationSeconds > 0
	if dur, ok := wavDuration(audio); ok {
		tr.DurationSeconds, measured = max(tr.DurationSeconds, dur), true
	}
	if len(tr.Words) == 0 {
		dur := tr.DurationSeconds
		if dur == 0 {
			dur = float64(len(strings.Fields(d.Text))) / wordsPerSecond
		}
		return transcript.Spread(language, d.Text, dur), measured
	}
	return tr.Normalize(), measured
}

// audioUsage is {"type": "duration", "seconds"} (whisper) or {"type":
// "tokens", "input_tokens", ...} (gpt-4o transcribe).
type audioUsage struct {
	Type         string  `json:"type"`
	Seconds      float64 `json:"seconds,omitempty"`
	InputTokens  int     `json:"input_tokens,omitempty"`
	OutputTokens int     `json:"output_tokens,omitempty"`
	TotalTokens  int     `json:"total_tokens,omitempty"`
}

// wordsPerSecond estimates the length of speech whose duration neither
// the answer nor the file says: a conversational pace.
const wordsPerSecond = 2.5

// audioForm is the multipart form of a transcription, as sent.
type audioForm struct {
	Model          string
	Language       string
	Prompt         string
	ResponseFormat string
	Granularities  []string
	Chunking       string
}

func buildAudioForm(m *audioModel, language, promptText string) audioForm {
	f := audioForm{Model: m.name, Language: isoLanguage(language), Prompt: promptText}
	if m.family == FamilyWhisper {
		f.ResponseFormat = "verbose_json"
		f.Granularities = []string{"word", "segment"}
	} else {
		f.ResponseFormat = "json"
		if strings.Contains(m.name, "diarize") {
			// The diarizing model answers timed segments by speaker, takes
			// no prompt, and wants a chunking strategy for audio over 30 s.
			f.ResponseFormat = "diarized_json"
			f.Prompt = ""
			f.Chunking = "auto"
		}
	}
	return f
}

func (p *Provider) transcribe(ctx context.Context, req provider.Request) (*provider.Result, error) {
	in, err := task.DecodeInput(req.Type, req.Input)
	if err != nil {
		return nil, provider.NewRejected("invalid_input", "the task's input is not the expected JSON: "+err.Error(), err)
	}
	var language, promptText string
	switch in := in.(type) {
	case *task.TranscriptionInput:
		language, promptText = in.Language, in.Prompt
	case *task.SubtitleInput:
		language, promptText = in.Language, in.Prompt
	}
	var refused task.FieldErrors
	checkLanguage(language, func(field, format string, args ...any) {
		refused = append(refused, task.FieldError{Field: task.FieldPath("input_data", field), Message: fmt.Sprintf(format, args...)})
	})
	if len(refused) > 0 {
		return nil, provider.NewRejected("unsupported_input", refused.Error(), refused)
	}
	// OpenAI takes no URL: the bytes are uploaded, a public URL's fetched
	// first through the guard.
	data, ct, err := p.fetch.Media(ctx, req.Media, MaxAudioBytes)
	if err != nil {
		return nil, fmt.Errorf("read the audio: %w", err)
	}
	form := buildAudioForm(p.audio, language, promptText)
	body, contentType, err := encodeAudioForm(form, fileName(req.Media, ct), ct, data)
	if err != nil {
		return nil, err
	}
	a, err := p.client.Do(ctx, httpapi.Call{Method: http.MethodPost, Path: "audio/transcriptions", Body: bytes.NewReader(body), ContentType: contentType})
	if err != nil {
		return nil, fmt.Errorf("transcribe: %w", err)
	}
	res := &provider.Result{Extra: map[string]any{"model": p.audio.name}}
	if id := a.Header.Get("X-Request-Id"); id != "" {
		res.Extra["request_id"] = id
	}
	var (
		tr       *transcript.Transcript
		measured bool // the duration is the audio's, not an estimate
		usage    *audioUsage
	)
	if form.ResponseFormat == "verbose_json" {
		var v verboseAnswer
		if err := a.Decode(p.name, &v); err != nil {
			return nil, err
		}
		usage = v.Usage
		tr = &transcript.Transcript{Language: isoLanguage(language), DurationSeconds: v.Duration, Text: v.Text}
		if tr.Language == "" {
			tr.Language = whisperLanguages[strings.ToLower(v.Language)]
		}
		if v.Language != "" {
			res.Extra["detected_language"] = v.Language
		}
		for _, s := range v.Segments {
			tr.Segments = append(tr.Segments, transcript.Segment{Start: s.Start, End: s.End, Text: s.Text})
		}
		for _, w := range v.Words {
			tr.Words = append(tr.Words, transcript.Word{Word: w.Word, Start: w.Start, End: w.End, Confidence: 1})
		}
		measured = v.Duration > 0
		tr.Normalize()
		if len(tr.Words) == 0 && tr.Text != "" {
			// A compatible server that ignored the word granularity: its
			// segments' words are spread over them, as the diarizing
			// model's are.
			d := diarizedAnswer{Text: v.Text}
			for _, s := range v.Segments {
				d.Segments = append(d.Segments, diarizedSegment{Start: s.Start, End: s.End, Text: s.Text})
			}
			lang := tr.Language
			var segMeasured bool
			tr, segMeasured = diarizedTranscript(lang, d, data)
			tr.DurationSeconds = max(tr.DurationSeconds, v.Duration)
			measured = measured || segMeasured
		}
	} else if form.ResponseFormat == "diarized_json" {
		var d diarizedAnswer
		if err := a.Decode(p.name, &d); err != nil {
			return nil, err
		}
		usage = d.Usage
		tr, measured = diarizedTranscript(isoLanguage(language), d, data)
		if !measured {
			res.Extra["duration_estimated"] = true
		}
		if len(d.Segments) > 0 {
			speakers := make([]map[string]any, 0, len(d.Segments))
			for _, s := range d.Segments {
				speakers = append(speakers, map[string]any{"speaker": s.Speaker, "start": s.Start, "end": s.End})
			}
			res.Extra["speakers"] = speakers
		}
	} else {
		var j jsonAnswer
		if err := a.Decode(p.name, &j); err != nil {
			return nil, err
		}
		usage = j.Usage
		duration := 0.0
		switch {
		case j.Usage != nil && j.Usage.Type == "duration" && j.Usage.Seconds > 0:
			duration, measured = j.Usage.Seconds, true
		default:
			if d, ok := wavDuration(data); ok {
				duration, measured = d, true
			}
		}
		if !measured {
			duration = float64(len(strings.Fields(j.Text))) / wordsPerSecond
			res.Extra["duration_estimated"] = true
		}
		// The model gives no timings: the words are spread over the audio
		// by their length, and the transcript says so.
		tr = transcript.Spread(isoLanguage(language), j.Text, duration)
	}
	if usage != nil {
		res.Extra["usage"] = usage
	}
	if tr.Text == "" {
		return nil, provider.NewRejected("no_speech", p.name+" heard no speech in the audio", nil)
	}
	res.Transcript = tr
	res.Text = tr.Text
	if measured {
		res.Cost = p.audioCost(tr.DurationSeconds)
	}
	return res, nil
}

// audioCost is the price of seconds of audio at the model's list price
// per minute (or the configured one); nil when neither is known.
func (p *Provider) audioCost(seconds float64) *provider.Cost {
	list, known := audioPrices[p.audio.name]
	if _, set := p.s.Price[AudioMinutePrice]; !known && !set {
		return nil
	}
	return &provider.Cost{USD: p.s.PriceOf(AudioMinutePrice, list) * seconds / 60, PriceVersion: PriceVersion}
}

// encodeAudioForm writes the multipart body.
func encodeAudioForm(f audioForm, name, ct string, data []byte) ([]byte, string, error) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	part, err := w.CreatePart(h)
	if err != nil {
		return nil, "", fmt.Errorf("encode the audio upload: %w", err)
	}
	if _, err := part.Write(data); err != nil {
		return nil, "", fmt.Errorf("encode the audio upload: %w", err)
	}
	fields := [][2]string{{"model", f.Model}, {"response_format", f.ResponseFormat}}
	if f.Language != "" {
		fields = append(fields, [2]string{"language", f.Language})
	}
	if f.Prompt != "" {
		fields = append(fields, [2]string{"prompt", f.Prompt})
	}
	for _, g := range f.Granularities {
		fields = append(fields, [2]string{"timestamp_granularities[]", g})
	}
	if f.Chunking != "" {
		fields = append(fields, [2]string{"chunking_strategy", f.Chunking})
	}
	for _, kv := range fields {
		if err := w.WriteField(kv[0], kv[1]); err != nil {
			return nil, "", fmt.Errorf("encode the audio upload: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("encode the audio upload: %w", err)
	}
	return b.Bytes(), w.FormDataContentType(), nil
}

// audioExts are the file extensions the API reads the format from.
var audioExts = map[string]bool{".flac": true, ".mp3": true, ".mp4": true, ".mpeg": true, ".mpga": true, ".m4a": true, ".ogg": true, ".wav": true, ".webm": true}

// fileName is the upload's file name: OpenAI tells the format by its
// extension, so it must be one of audioExts where that can be known.
func fileName(m *provider.Media, ct string) string {
	if m != nil && m.Name != "" && audioExts[strings.ToLower(path.Ext(m.Name))] {
		return path.Base(m.Name)
	}
	if m != nil {
		if u, err := url.Parse(m.URL); err == nil && audioExts[strings.ToLower(path.Ext(u.Path))] {
			return path.Base(u.Path)
		}
	}
	ext := map[string]string{
		"audio/mpeg": ".mp3", "audio/mp3": ".mp3", "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/wave": ".wav",
		"audio/flac": ".flac", "audio/x-flac": ".flac", "audio/ogg": ".ogg", "application/ogg": ".ogg", "audio/webm": ".webm",
		"video/webm": ".webm", "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "video/mp4": ".mp4", "video/mpeg": ".mpeg",
	}[strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))]
	if ext == "" {
		ext = ".mp3"
	}
	return "audio" + ext
}

// wavDuration reads a WAV file's length from its header.
func wavDuration(data []byte) (float64, bool) {
	if len(data) < 12 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WAVE" {
		return 0, false
	}
	var byteRate uint32
	for off := 12; off+8 <= len(data); {
		id, size := string(data[off:off+4]), binary.LittleEndian.Uint32(data[off+4:off+8])
		body := off + 8
		switch id {
		case "fmt ":
			if body+12 > len(data) {
				return 0, false
			}
			byteRate = binary.LittleEndian.Uint32(data[body+8 : body+12])
		case "data":
			if byteRate == 0 {
				return 0, false
			}
			// A streamed WAV may say 0 or 0xFFFFFFFF: count what is there.
			n := uint64(size)
			if rest := uint64(len(data) - body); n == 0 || n > rest {
				n = rest
			}
			return float64(n) / float64(byteRate), true
		}
		off = body + int(size) + int(size&1)
		if off < body { // overflow on a bad size
			return 0, false
		}
	}
	return 0, false
}

// whisperLanguages maps the language names verbose_json answers with to
// ISO 639-1 codes (the common ones; another is kept in Extra only).
var whisperLanguages = map[string]string{
	"english": "en", "german": "de", "french": "fr", "spanish": "es", "italian": "it", "portuguese": "pt",
	"dutch": "nl", "polish": "pl", "russian": "ru", "ukrainian": "uk", "czech": "cs", "slovak": "sk",
	"swedish": "sv", "norwegian": "no", "danish": "da", "finnish": "fi", "greek": "el", "turkish": "tr",
	"arabic": "ar", "hebrew": "he", "persian": "fa", "hindi": "hi", "bengali": "bn", "urdu": "ur",
	"chinese": "zh", "japanese": "ja", "korean": "ko", "vietnamese": "vi", "thai": "th", "indonesian": "id",
	"malay": "ms", "romanian": "ro", "hungarian": "hu", "bulgarian": "bg", "croatian": "hr", "serbian": "sr",
	"catalan": "ca", "tamil": "ta", "telugu": "te", "swahili": "sw", "tagalog": "tl", "welsh": "cy",
}
