package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"

	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/subtitle"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/transcript"
	"github.com/videoai/mediatasks/shared/workflow"
)

// FormatterProvider is the provider a subtitle task made from another
// task's transcript shows: the platform's own formatter, with no call to
// any provider.
const FormatterProvider = "formatter"

// maxTranscriptBytes bounds a transcript file read back for subtitles.
const maxTranscriptBytes = 64 << 20

// transcriptSource is the transcription task a subtitle task formats, or
// "" when it transcribes audio of its own.
func transcriptSource(t *task.Task) string {
	if in, ok := inputOf(t).(*task.SubtitleInput); ok {
		return in.TranscriptionTaskID
	}
	return ""
}

// formatTranscript makes a subtitle task from the transcript of one of its
// user's completed transcription tasks: the formatter alone, no provider.
func (a *Actions) formatTranscript(ctx context.Context, t *task.Task, source string, run task.Run) (workflow.Step, error) {
	f, err := a.sourceFile(ctx, t, source, "transcription")
	if err != nil {
		return workflow.Step{}, err
	}
	tr, err := a.readTranscript(ctx, f)
	if err != nil {
		return workflow.Step{}, err
	}
	id := t.ID
	t, err = a.app.StartAttemptFor(ctx, id, run, FormatterProvider, nil)
	if errors.Is(err, task.ErrClaimed) {
		return a.claimedElsewhere(ctx, id, run)
	}
	if end, err := terminal(err); err != nil || end {
		return a.endedOr(ctx, id, err)
	}
	return a.stage(ctx, t, FormatterProvider, &provider.Result{Transcript: tr})
}

// readTranscript reads a transcript file back.
func (a *Actions) readTranscript(ctx context.Context, f task.File) (*transcript.Transcript, error) {
	if f.ContentType != transcript.ContentType || f.Key == "" {
		return nil, providerError("", provider.NewRejected("not_a_transcript", "the transcription task's first file is "+f.ContentType+", not a transcript", nil))
	}
	rc, _, err := a.blobs.Get(ctx, f.Key)
	if err != nil {
		return nil, fmt.Errorf("read transcript %s: %w", f.Key, err)
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, maxTranscriptBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read transcript %s: %w", f.Key, err)
	}
	var tr transcript.Transcript
	if len(body) > maxTranscriptBytes || json.Unmarshal(body, &tr) != nil {
		return nil, providerError("", provider.NewRejected("not_a_transcript", "the transcription task's transcript cannot be read", nil))
	}
	return &tr, nil
}

// transcriptFiles writes a provider's transcript as the task's files, so
// that every provider's look the same: for a transcription the transcript
// JSON; for a subtitle task the subtitles the formatter makes of its words,
// then the transcript.
func (a *Actions) transcriptFiles(t *task.Task, res *provider.Result) (*provider.Result, error) {
	tr := res.Transcript.Normalize()
	body, err := tr.Encode()
	if err != nil {
		return nil, fmt.Errorf("transcript of task %s: %w", t.ID, err)
	}
	out := *res
	out.Transcript = nil
	out.Text = tr.Text
	out.Extra = maps.Clone(res.Extra)
	if out.Extra == nil {
		out.Extra = map[string]any{}
	}
	out.Extra["duration_seconds"] = tr.DurationSeconds
	if tr.Language != "" {
		out.Extra["language"] = tr.Language
	}
	if tr.EstimatedTimings {
		out.Extra["estimated_timings"] = true
	}
	files := []provider.File{{ContentType: transcript.ContentType, Ext: ".json", Data: body}}
	if in, ok := inputOf(t).(*task.SubtitleInput); ok {
		subs, err := a.subtitleFile(tr, in, out.Extra)
		if err != nil {
			return nil, fmt.Errorf("subtitles of task %s: %w", t.ID, err)
		}
		files = append([]provider.File{subs}, files...)
	}
	out.Files = append(files, res.Files...)
	return &out, nil
}

// subtitleFile formats the transcript by the platform's rules and the
// task's format and line length, and says so in extra.
func (a *Actions) subtitleFile(tr *transcript.Transcript, in *task.SubtitleInput, extra map[string]any) (provider.File, error) {
	in.SetDefaults()
	o := a.subtitles
	o.MaxLineChars = *in.MaxLineChars
	write := map[string]func(io.Writer, []subtitle.Cue) error{subtitle.FormatSRT: subtitle.WriteSRT, subtitle.FormatVTT: subtitle.WriteVTT}[in.Format]
	if err := o.Validate(); err != nil || write == nil {
		return provider.File{}, providerError("", provider.NewRejected("invalid_input",
			fmt.Sprintf("subtitles as %q with lines of %d: %v", in.Format, o.MaxLineChars, err), err))
	}
	cues := subtitle.Cues(tr, o)
	var b bytes.Buffer
	if err := write(&b, cues); err != nil {
		return provider.File{}, err
	}
	extra["format"], extra["cues"], extra["max_line_chars"] = in.Format, len(cues), o.MaxLineChars
	return provider.File{ContentType: subtitle.ContentType(in.Format), Ext: "." + in.Format, Data: b.Bytes()}, nil
}
