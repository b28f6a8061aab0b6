package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	mt "github.com/videoai/mediatasks/client"
)

const deliveriesUsage = `mediatasks deliveries [TASK_ID] [--batch ID] [--status S] [--limit N] [--json]

Lists webhook deliveries, newest first: all yours, a task's, or a batch's.
--status is pending, delivered, exhausted, skipped or blocked.
` + remoteEnvHelp

const retryUsage = `mediatasks retry DELIVERY_ID [--json]

Delivers a webhook again, now, with the same webhook-id.
` + remoteEnvHelp

const webhooksUsage = `mediatasks webhooks secret|rotate [--json]

secret prints your webhook signing secret; rotate makes a new one (the old
one keeps signing beside it for 24 h) and prints it.
` + remoteEnvHelp

const statsUsage = `mediatasks stats [--json]

Prints your figures: tasks by type and status, success rate, providers'
durations, spend and the prompt cache's hit rate.
` + remoteEnvHelp

const healthUsage = `mediatasks health [--json]

Prints the server's state and each component's and provider's; exit code 1
when a component is down (503). Needs no key.
` + remoteEnvHelp

const promptsUsage = `mediatasks prompts optimize --prompt P [--type image|video|transcribe|subtitles]
    [--negative-prompt N] [--prompt-mode auto|manual|template] [--template T] [--param k=v ...] [--provider P] [--json]
mediatasks prompts templates [--json]

optimize shows what prompt optimisation would make of a prompt, without
submitting a task; templates lists the server's prompt templates.
` + remoteEnvHelp

func deliveriesCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("deliveries", deliveriesUsage, stdout)
	rf := addRemoteFlags(fs, getenv)
	batch := fs.String("batch", "", "a batch's deliveries")
	status := fs.String("status", "", "only deliveries in this status")
	limit := fs.Int("limit", 20, "how many at most")
	pos, err := parseArgs(fs, args, 0, 1, "")
	if err != nil {
		return err
	}
	f := mt.DeliveryFilter{BatchID: *batch, Status: *status, Limit: min(max(*limit, 1), 100)}
	if len(pos) == 1 {
		f.TaskID = pos[0]
	}
	if f.TaskID != "" && f.BatchID != "" {
		return usagef("deliveries: give a task id or --batch, not both")
	}
	if *limit < 1 {
		return usagef("deliveries: --limit %d: must be at least 1", *limit)
	}
	r, err := rf.connect("deliveries", stdout, stderr)
	if err != nil {
		return err
	}
	var w *tabwriter.Writer
	if !r.json {
		w = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tEVENT\tSUBJECT\tSTATUS\tATTEMPTS\tLAST\tURL")
	}
	n := 0
	for d, err := range r.api.ListDeliveries(ctx, f) {
		if err != nil {
			return err // the table is not printed: a header alone would read as an empty list
		}
		if r.json {
			if err := r.printJSON(d); err != nil {
				return err
			}
		} else {
			last := ""
			if d.LastAttempt != nil {
				last = d.LastAttempt.Outcome
				if d.LastAttempt.StatusCode != 0 {
					last += fmt.Sprintf(" (%d)", d.LastAttempt.StatusCode)
				}
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.EventType, d.SubjectID, d.Status, d.AttemptCount, last, d.URL)
		}
		if n++; n >= *limit {
			break
		}
	}
	if w != nil {
		return w.Flush()
	}
	return nil
}

func retryCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("retry", retryUsage, stdout)
	rf := addRemoteFlags(fs, getenv)
	pos, err := parseArgs(fs, args, 1, 1, "a delivery id is")
	if err != nil {
		return err
	}
	r, err := rf.connect("retry", stdout, stderr)
	if err != nil {
		return err
	}
	d, err := r.api.RetryDelivery(ctx, pos[0])
	if err != nil {
		return err
	}
	if r.json {
		return r.printJSON(d)
	}
	r.printf("%s %s (attempts: %d)\n", d.ID, d.Status, d.AttemptCount)
	return nil
}

func webhooksCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("webhooks", webhooksUsage, stdout)
	rf := addRemoteFlags(fs, getenv)
	pos, err := parseArgs(fs, args, 1, 1, "a subcommand (secret or rotate) is")
	if err != nil {
		return err
	}
	if pos[0] != "secret" && pos[0] != "rotate" {
		return usagef("webhooks: unknown subcommand %q: want secret or rotate", pos[0])
	}
	r, err := rf.connect("webhooks", stdout, stderr)
	if err != nil {
		return err
	}
	var s mt.WebhookSecret
	if pos[0] == "secret" {
		s, err = r.api.WebhookSecret(ctx)
	} else {
		s, err = r.api.RotateWebhookSecret(ctx)
	}
	if err != nil {
		return err
	}
	if r.json {
		return r.printJSON(s)
	}
	r.printf("%s\n", s.Secret)
	if len(s.Previous) > 0 && s.PreviousValidUntil != nil {
		fmt.Fprintf(stderr, "%d previous secret(s) still sign until %s\n", len(s.Previous), s.PreviousValidUntil.Format(time.RFC3339))
	}
	return nil
}

func statsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("stats", statsUsage, stdout)
	rf := addRemoteFlags(fs, getenv)
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	r, err := rf.connect("stats", stdout, stderr)
	if err != nil {
		return err
	}
	s, err := r.api.Stats(ctx)
	if err != nil {
		return err
	}
	if r.json {
		return r.printJSON(s)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "tasks:\t%d (succeeded %d, failed %d, success rate %.1f%%)\n", s.Total, s.Succeeded, s.Failed, s.SuccessRate*100)
	for _, typ := range sortedKeys(typeKeys(s.Counts)) {
		fmt.Fprintf(w, "  %s:", typ)
		for _, st := range sortedKeys(statusKeys(s.Counts[mt.TaskType(typ)])) {
			fmt.Fprintf(w, "\t%s %d", st, s.Counts[mt.TaskType(typ)][mt.Status(st)])
		}
		fmt.Fprintln(w)
	}
	for _, name := range sortedKeys(s.Providers) {
		p := s.Providers[name]
		fmt.Fprintf(w, "provider %s:\tcompleted %d, failed %d, mean %.2fs, p95 %.2fs\n", name, p.Completed, p.Failed, p.MeanSeconds, p.P95Seconds)
	}
	fmt.Fprintf(w, "spend:\t$%.4f\n", s.SpendUSD)
	fmt.Fprintf(w, "prompts:\toptimized %d, cache hits %d (%.1f%%)\n", s.Prompts.Optimized, s.Prompts.CacheHits, s.Prompts.CacheHitRate*100)
	return w.Flush()
}

func typeKeys(m map[mt.TaskType]map[mt.Status]int) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[string(k)] = true
	}
	return out
}

func statusKeys(m map[mt.Status]int) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[string(k)] = true
	}
	return out
}

func healthCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("health", healthUsage, stdout)
	rf := addRemoteFlags(fs, getenv)
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	r, err := rf.connect("health", stdout, stderr)
	if err != nil {
		return err
	}
	h, err := r.api.Health(ctx)
	if err != nil {
		return err
	}
	if r.json {
		return r.printJSON(h)
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "status:\t%s\n", h.Status)
	for _, name := range sortedKeys(h.Components) {
		c := h.Components[name]
		fmt.Fprintf(w, "%s:\t%s\t%s\n", name, c.Status, c.Error)
	}
	for _, name := range sortedKeys(h.Providers) {
		c := h.Providers[name]
		fmt.Fprintf(w, "provider %s:\t%s\t%s\n", name, c.Status, c.Error)
	}
	return w.Flush()
}

func promptsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("prompts", promptsUsage, stdout)
	rf := addRemoteFlags(fs, getenv)
	typ := fs.String("type", "image", "the task type: image, video, transcribe or subtitles")
	prompt := fs.String("prompt", "", "the prompt (optimize)")
	negative := fs.String("negative-prompt", "", "the negative prompt (optimize)")
	mode := fs.String("prompt-mode", "auto", "manual, auto or template (optimize)")
	template := fs.String("template", "", "the template (implies --prompt-mode template)")
	provider := fs.String("provider", "", "the provider to optimise for")
	params := pairs{}
	fs.Var(params, "param", "a template parameter name=value (repeat)")
	pos, err := parseArgs(fs, args, 1, 1, "a subcommand (optimize or templates) is")
	if err != nil {
		return err
	}
	switch pos[0] {
	case "optimize", "templates":
	default:
		return usagef("prompts: unknown subcommand %q: want optimize or templates", pos[0])
	}
	tt, ok := parseTaskType(*typ)
	if !ok {
		return usagef("prompts: --type %q: must be image, video, transcribe or subtitles", *typ)
	}
	r, err := rf.connect("prompts", stdout, stderr)
	if err != nil {
		return err
	}
	if pos[0] == "templates" {
		ts, err := r.api.Templates(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		for _, t := range ts {
			if r.json {
				if err := r.printJSON(t); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(w, "%s\tv%d\t%v\t%s\n", t.Name, t.Version, t.TaskTypes, t.Description)
		}
		return w.Flush()
	}
	m := *mode
	if *template != "" {
		m = "template"
	}
	po := mt.PromptOptimization{Mode: m, Template: *template}
	if len(params) > 0 {
		po.Params = params
	}
	o, err := r.api.PromptPreview(ctx, mt.PromptPreview{TaskType: tt, Prompt: *prompt, NegativePrompt: *negative, PromptOptimization: po, Provider: *provider})
	if err != nil {
		return err
	}
	if r.json {
		return r.printJSON(o)
	}
	r.printf("%s\n", o.Final)
	if o.NegativePrompt != "" {
		fmt.Fprintf(stderr, "negative: %s\n", o.NegativePrompt)
	}
	fmt.Fprintf(stderr, "mode %s, stages %v, cache hit %v\n", o.Mode, o.Stages, o.CacheHit)
	return nil
}
