package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	mt "github.com/videoai/mediatasks/client"
)

const submitUsage = `mediatasks submit image|video|transcribe|subtitles [flags] [--wait]

Submits a task and prints its id (--json: the task). With --wait, follows it
to its end with a progress bar on a terminal, prints it, and exits 1 when it
failed or was canceled. --file uploads a local file first: the audio to
transcribe or subtitle, or the first frame of a video.

  image:      --prompt (required) --negative-prompt --size --n --style
  video:      --prompt (required) --image-url | --image-task | --file, --duration --aspect-ratio
  transcribe: --audio-url | --file, --language --prompt
  subtitles:  --audio-url | --file | --transcription-task, --format --language --max-line-chars --prompt
  all:        --provider --priority --webhook --metadata k=v ... --prompt-mode --template --param k=v ...
` + remoteEnvHelp

// pairs is a repeated k=v flag.
type pairs map[string]string

func (p pairs) String() string { return "" }

func (p pairs) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	if _, dup := p[k]; dup {
		return fmt.Errorf("%q given twice", k)
	}
	p[k] = v
	return nil
}

// submitFlags says which flags each kind takes, beyond those all take.
var submitFlags = map[string][]string{
	"image":      {"prompt", "negative-prompt", "size", "n", "style"},
	"video":      {"prompt", "image-url", "image-task", "file", "duration", "aspect-ratio"},
	"transcribe": {"audio-url", "file", "language", "prompt"},
	"subtitles":  {"audio-url", "file", "transcription-task", "format", "language", "max-line-chars", "prompt"},
}

var commonSubmitFlags = []string{"url", "key", "key-file", "json", "provider", "priority", "webhook", "metadata",
	"prompt-mode", "template", "param", "wait"}

func submitCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("submit", submitUsage, stdout)
	rf := addRemoteFlags(fs, getenv)
	var (
		prompt, negative, size, style, imageURL, imageTask, audioURL, transTask string
		format, language, provider, priority, webhook, file, mode, template     string
		aspect                                                                  string
		n, duration, maxLine                                                    int
		wait                                                                    bool
	)
	metadata, params := pairs{}, pairs{}
	fs.StringVar(&prompt, "prompt", "", "the prompt (image, video); vocabulary and context (transcribe, subtitles)")
	fs.StringVar(&negative, "negative-prompt", "", "what the image should not show")
	fs.StringVar(&size, "size", "", "image size: 256x256, 512x512, 1024x1024, 1792x1024 or 1024x1792")
	fs.IntVar(&n, "n", 0, "images to make, 1 to 4")
	fs.StringVar(&style, "style", "", "image style")
	fs.IntVar(&duration, "duration", 0, "video length in seconds, 1 to 20")
	fs.StringVar(&aspect, "aspect-ratio", "", "video aspect ratio: 16:9, 9:16 or 1:1")
	fs.StringVar(&imageURL, "image-url", "", "the video's first frame, by URL")
	fs.StringVar(&imageTask, "image-task", "", "the video's first frame, from an image task of yours")
	fs.StringVar(&audioURL, "audio-url", "", "the audio, by URL")
	fs.StringVar(&transTask, "transcription-task", "", "subtitles from a transcription task of yours")
	fs.StringVar(&format, "format", "", "subtitle format: srt or vtt")
	fs.StringVar(&language, "language", "", "the audio's language (en, fr ...)")
	fs.IntVar(&maxLine, "max-line-chars", 0, "subtitle line length, 20 to 80")
	fs.StringVar(&file, "file", "", "a local file to upload first: the audio, or the video's first frame")
	fs.StringVar(&provider, "provider", "", "pin a provider (no failover)")
	fs.StringVar(&priority, "priority", "", "high, normal or low")
	fs.StringVar(&webhook, "webhook", "", "a URL to send the task's webhooks to")
	fs.Var(metadata, "metadata", "a metadata pair key=value (repeat)")
	fs.StringVar(&mode, "prompt-mode", "", "prompt optimisation: manual, auto or template")
	fs.StringVar(&template, "template", "", "the prompt template (implies --prompt-mode template)")
	fs.Var(params, "param", "a template parameter name=value (repeat)")
	fs.BoolVar(&wait, "wait", false, "follow the task to its end")
	pos, err := parseArgs(fs, args, 1, 1, "a kind (image, video, transcribe or subtitles) is")
	if err != nil {
		return err
	}
	kind := pos[0]
	allowed, ok := submitFlags[kind]
	if !ok {
		return usagef("submit: unknown kind %q: want image, video, transcribe or subtitles", kind)
	}
	var wrong []string
	fs.Visit(func(f *flag.Flag) {
		if !slices.Contains(allowed, f.Name) && !slices.Contains(commonSubmitFlags, f.Name) {
			wrong = append(wrong, "--"+f.Name)
		}
	})
	if len(wrong) > 0 {
		return usagef("submit %s: %s not a flag of this kind (see --help)", kind, strings.Join(wrong, ", "))
	}
	switch mt.Priority(priority) {
	case "", mt.PriorityHigh, mt.PriorityNormal, mt.PriorityLow:
	default:
		return usagef("submit: --priority %q: must be high, normal or low", priority)
	}
	if mode == "" && template != "" {
		mode = "template"
	}
	var po *mt.PromptOptimization
	if mode != "" || len(params) > 0 {
		if mode == "" {
			return usagef("submit: --param needs --template")
		}
		po = &mt.PromptOptimization{Mode: mode, Template: template}
		if len(params) > 0 {
			po.Params = maps.Clone(params)
		}
	}
	if len(metadata) == 0 {
		metadata = nil
	}
	r, err := rf.connect("submit", stdout, stderr)
	if err != nil {
		return err
	}
	uploadID := ""
	if file != "" {
		up, err := r.api.UploadFile(ctx, file)
		if err != nil {
			return err
		}
		uploadID = up.ID
		if !r.json {
			fmt.Fprintf(stderr, "uploaded %s as %s (%s, %d bytes)\n", file, up.ID, up.ContentType, up.SizeBytes)
		}
	}
	prio := mt.Priority(priority)
	var t mt.Task
	switch kind {
	case "image":
		t, err = r.api.SubmitImage(ctx, mt.ImageRequest{Prompt: prompt, NegativePrompt: negative, Size: size, N: n, Style: style,
			Provider: provider, PromptOptimization: po, Priority: prio, WebhookURL: webhook, Metadata: metadata})
	case "video":
		t, err = r.api.SubmitVideo(ctx, mt.VideoRequest{Prompt: prompt, ImageURL: imageURL, ImageUploadID: uploadID, ImageTaskID: imageTask,
			DurationSeconds: duration, AspectRatio: aspect,
			Provider: provider, PromptOptimization: po, Priority: prio, WebhookURL: webhook, Metadata: metadata})
	case "transcribe":
		t, err = r.api.SubmitTranscription(ctx, mt.TranscriptionRequest{AudioURL: audioURL, UploadID: uploadID, Language: language, Prompt: prompt,
			Provider: provider, PromptOptimization: po, Priority: prio, WebhookURL: webhook, Metadata: metadata})
	case "subtitles":
		t, err = r.api.SubmitSubtitles(ctx, mt.SubtitlesRequest{AudioURL: audioURL, UploadID: uploadID, TranscriptionTaskID: transTask,
			Format: format, Language: language, MaxLineChars: maxLine, Prompt: prompt,
			Provider: provider, PromptOptimization: po, Priority: prio, WebhookURL: webhook, Metadata: metadata})
	}
	if err != nil {
		return err
	}
	if !wait {
		if r.json {
			return r.printJSON(t)
		}
		r.printf("%s\n", t.ID)
		return nil
	}
	if !r.json {
		fmt.Fprintf(stderr, "submitted %s\n", t.ID)
	}
	t, err = r.follow(ctx, t.ID, false)
	if err != nil {
		return err
	}
	if err := r.printTask(t); err != nil {
		return err
	}
	return ended(t)
}
