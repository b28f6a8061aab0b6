package main

import (
	"context"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	mt "github.com/videoai/mediatasks/client"
)

const getUsage = `mediatasks get ID [--json]

Prints a task: its status, progress, provider, error and output files.
` + remoteEnvHelp

const listUsage = `mediatasks list [--status S] [--type T] [--limit N] [--all] [--json]

Lists your tasks, newest first: --limit of them (default 20), or every one
with --all. --type is image, video, transcribe, subtitles or a task type
name (image_generation ...).
` + remoteEnvHelp

const cancelUsage = `mediatasks cancel ID [--json]

Cancels a task; one that has already ended is refused (409, exit 1).
` + remoteEnvHelp

const watchUsage = `mediatasks watch ID [--json]

Follows a task's event stream until it ends, with a progress bar on a
terminal (a line per change otherwise; --json: one event a line). Exit code
0 when the task completed, 1 when it failed or was canceled.
` + remoteEnvHelp

const downloadUsage = `mediatasks download ID [-o DIR] [--json]

Writes every output file of a completed task into DIR (default .), named
ID-INDEX with the extension of its type (ID-0.png, ID-0.srt ...), and prints
their paths.
` + remoteEnvHelp

// taskTypes maps the command line's short names to task types.
var taskTypes = map[string]mt.TaskType{
	"image":      mt.ImageGeneration,
	"video":      mt.VideoGeneration,
	"transcribe": mt.AudioTranscription,
	"subtitles":  mt.SubtitleGeneration,
}

func parseTaskType(s string) (mt.TaskType, bool) {
	if t, ok := taskTypes[s]; ok {
		return t, true
	}
	for _, t := range taskTypes {
		if string(t) == s {
			return t, true
		}
	}
	return "", false
}

// oneTask parses a command taking one task id.
func oneTask(name, usage string, args []string, getenv func(string) string, stdout, stderr io.Writer, extra func(*flagSet)) (*remote, string, error) {
	fs := newFlagSet(name, usage, stdout)
	rf := addRemoteFlags(fs, getenv)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseArgs(fs, args, 1, 1, "a task id is")
	if err != nil {
		return nil, "", err
	}
	r, err := rf.connect(name, stdout, stderr)
	return r, pos[0], err
}

func getCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	r, id, err := oneTask("get", getUsage, args, getenv, stdout, stderr, nil)
	if err != nil {
		return err
	}
	t, err := r.api.GetTask(ctx, id)
	if err != nil {
		return err
	}
	return r.printTask(t)
}

func cancelCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	r, id, err := oneTask("cancel", cancelUsage, args, getenv, stdout, stderr, nil)
	if err != nil {
		return err
	}
	t, err := r.api.CancelTask(ctx, id)
	if err != nil {
		return err
	}
	if r.json {
		return r.printJSON(t)
	}
	r.printf("%s %s\n", t.ID, t.Status)
	return nil
}

// printTask prints a task as JSON or for a reader.
func (r *remote) printTask(t mt.Task) error {
	if r.json {
		return r.printJSON(t)
	}
	w := tabwriter.NewWriter(r.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "id:\t%s\n", t.ID)
	fmt.Fprintf(w, "type:\t%s\n", t.Type)
	fmt.Fprintf(w, "status:\t%s (%d%%)\n", t.Status, int(t.Progress*100))
	fmt.Fprintf(w, "priority:\t%s\n", t.Priority)
	if t.Provider != "" {
		fmt.Fprintf(w, "provider:\t%s (attempts: %d)\n", t.Provider, t.Attempts)
	}
	if t.BatchID != "" {
		fmt.Fprintf(w, "batch:\t%s\n", t.BatchID)
	}
	fmt.Fprintf(w, "created:\t%s\n", t.CreatedAt.Format(time.RFC3339))
	if t.CompletedAt != nil {
		fmt.Fprintf(w, "ended:\t%s (%s)\n", t.CompletedAt.Format(time.RFC3339), t.CompletedAt.Sub(t.CreatedAt).Round(time.Millisecond))
	}
	if t.Error != nil {
		fmt.Fprintf(w, "error:\t%s: %s\n", t.Error.Code, t.Error.Message)
	}
	if t.Output != nil {
		for i, f := range t.Output.Files {
			fmt.Fprintf(w, "file %d:\t%s, %d bytes\t%s\n", i, f.ContentType, f.SizeBytes, f.URL)
		}
		if t.Output.Text != "" {
			text := t.Output.Text
			if len(text) > 300 {
				text = text[:300] + "..."
			}
			fmt.Fprintf(w, "text:\t%s\n", strings.ReplaceAll(text, "\n", " "))
		}
	}
	return w.Flush()
}

func listCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list", listUsage, stdout)
	rf := addRemoteFlags(fs, getenv)
	status := fs.String("status", "", "only tasks in this status: queued, running, completed, failed or canceled")
	typ := fs.String("type", "", "only tasks of this type: image, video, transcribe or subtitles")
	limit := fs.Int("limit", 20, "how many tasks at most")
	all := fs.Bool("all", false, "every task, page after page")
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	f := mt.TaskFilter{Status: mt.Status(*status)}
	switch mt.Status(*status) {
	case "", mt.StatusQueued, mt.StatusRunning, mt.StatusCompleted, mt.StatusFailed, mt.StatusCanceled:
	default:
		return usagef("list: --status %q: must be queued, running, completed, failed or canceled", *status)
	}
	if *typ != "" {
		t, ok := parseTaskType(*typ)
		if !ok {
			return usagef("list: --type %q: must be image, video, transcribe or subtitles", *typ)
		}
		f.Type = t
	}
	if *limit < 1 {
		return usagef("list: --limit %d: must be at least 1", *limit)
	}
	f.Limit = min(*limit, 100)
	if *all {
		f.Limit = 100
	}
	r, err := rf.connect("list", stdout, stderr)
	if err != nil {
		return err
	}
	var w *tabwriter.Writer
	if !r.json {
		w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tTYPE\tSTATUS\tPROGRESS\tPROVIDER\tCREATED")
	}
	n := 0
	for t, err := range r.api.ListTasks(ctx, f) {
		if err != nil {
			return err // the table is not printed: a header alone would read as an empty list
		}
		if r.json {
			if err := r.printJSON(t); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d%%\t%s\t%s\n", t.ID, t.Type, t.Status, int(t.Progress*100), t.Provider, t.CreatedAt.Format(time.RFC3339))
		}
		n++
		if !*all && n >= *limit {
			break
		}
	}
	if w != nil {
		return w.Flush()
	}
	return nil
}

// follow reads a task's events until it ends, showing its progress (or,
// with --json, printing each event), and returns it as it ended.
func (r *remote) follow(ctx context.Context, id string, events bool) (mt.Task, error) {
	p := newProgress(r.stdout)
	defer p.end()
	label := id
	if len(label) > 8 && p.tty {
		label = label[:8]
	}
	for ev, err := range r.api.Events(ctx, id) {
		if err != nil {
			return mt.Task{}, err
		}
		switch {
		case events && r.json:
			if err := r.printJSON(map[string]any{"id": ev.ID, "type": ev.Type, "task": ev.Task}); err != nil {
				return mt.Task{}, err
			}
		case !r.json:
			p.show(label, ev.Task.Progress, string(ev.Task.Status))
		}
		if ev.Type.EndsTask() {
			return ev.Task, nil
		}
	}
	// The task had ended before its stream told it.
	t, err := r.api.GetTask(ctx, id)
	if err == nil && !r.json {
		p.show(label, t.Progress, string(t.Status))
	}
	return t, err
}

// ended is the error of a task that did not complete: exit code 1.
func ended(t mt.Task) error {
	switch t.Status {
	case mt.StatusCompleted:
		return nil
	case mt.StatusFailed:
		if t.Error != nil {
			return fmt.Errorf("task %s failed: %s: %s", t.ID, t.Error.Code, t.Error.Message)
		}
		return fmt.Errorf("task %s failed", t.ID)
	default:
		return fmt.Errorf("task %s %s", t.ID, t.Status)
	}
}

func watchCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	r, id, err := oneTask("watch", watchUsage, args, getenv, stdout, stderr, nil)
	if err != nil {
		return err
	}
	t, err := r.follow(ctx, id, true)
	if err != nil {
		return err
	}
	return ended(t)
}

func downloadCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var dir string
	r, id, err := oneTask("download", downloadUsage, args, getenv, stdout, stderr, func(fs *flagSet) {
		fs.StringVar(&dir, "o", ".", "the folder to write the files into (made when missing)")
	})
	if err != nil {
		return err
	}
	t, err := r.api.GetTask(ctx, id)
	if err != nil {
		return err
	}
	if t.Status != mt.StatusCompleted || t.Output == nil {
		return fmt.Errorf("download %s: the task is %s, not completed", id, t.Status)
	}
	if t.Output.FilesRemoved {
		return fmt.Errorf("download %s: the files were removed at the end of their retention", id)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("download %s: %w", id, err)
	}
	for i, f := range t.Output.Files {
		path := filepath.Join(dir, t.ID+"-"+strconv.Itoa(i)+extension(f.ContentType))
		n, err := r.api.DownloadFile(ctx, f.URL, path)
		if err != nil {
			return fmt.Errorf("download %s file %d: %w", id, i, err)
		}
		if r.json {
			if err := r.printJSON(map[string]any{"task_id": t.ID, "index": i, "path": path, "content_type": f.ContentType, "size_bytes": n}); err != nil {
				return err
			}
		} else {
			r.printf("%s\t%s, %d bytes\n", path, f.ContentType, n)
		}
	}
	return nil
}

// extension names a file of media type ct.
func extension(ct string) string {
	mtype, _, _ := mime.ParseMediaType(ct)
	switch mtype {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "video/mp4":
		return ".mp4"
	case "video/webm":
		return ".webm"
	case "audio/wav", "audio/x-wav", "audio/wave":
		return ".wav"
	case "audio/mpeg":
		return ".mp3"
	case "text/vtt":
		return ".vtt"
	case "application/x-subrip", "text/srt", "application/srt":
		return ".srt"
	case "application/json":
		return ".json"
	case "text/plain":
		return ".txt"
	}
	if exts, _ := mime.ExtensionsByType(mtype); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}
