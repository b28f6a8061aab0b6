package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"

	mt "github.com/videoai/mediatasks/client"
)

// remoteEnvHelp is the connection part of every API command's help.
const remoteEnvHelp = `
Connection: --url or MEDIATASKS_URL (default http://127.0.0.1:8080); the key
from --key, MEDIATASKS_API_KEY, or --key-file (default ./data/api-key, when
present). --json prints the API's JSON: one object, or one a line for lists.
Exit codes: 0 done, 1 the API refused or failed, 2 a usage mistake.
`

// remote is what every API command shares: the client, the output, the
// flags it was given.
type remote struct {
	api    *mt.Client
	base   string // the server's base URL
	json   bool
	stdout io.Writer
	stderr io.Writer
}

// remoteFlags are the connection flags of an API command.
type remoteFlags struct {
	url, key, keyFile string
	json              bool
}

func addRemoteFlags(fs *flagSet, getenv func(string) string) *remoteFlags {
	f := &remoteFlags{}
	fs.StringVar(&f.url, "url", cmp.Or(getenv("MEDIATASKS_URL"), "http://"+defaultAddr), "the server's base URL [MEDIATASKS_URL]")
	fs.StringVar(&f.key, "key", getenv("MEDIATASKS_API_KEY"), "the API key or JWT [MEDIATASKS_API_KEY]")
	fs.StringVar(&f.keyFile, "key-file", "", "a file holding the API key (default ./data/api-key when present)")
	fs.BoolVar(&f.json, "json", false, "print the API's JSON (one object, or JSON lines for lists)")
	return f
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// connect builds the client from the flags.
func (f *remoteFlags) connect(name string, stdout, stderr io.Writer) (*remote, error) {
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("%s: --url %q: must be an http:// or https:// URL", name, f.url)
	}
	key := f.key
	if key == "" {
		path, explicit := f.keyFile, f.keyFile != ""
		if !explicit {
			path = defaultData + "/" + apiKeyFile
		}
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			key = strings.TrimSpace(string(b))
		case explicit:
			return nil, usagef("%s: --key-file: %v", name, err)
		}
	}
	base := strings.TrimRight(f.url, "/")
	return &remote{
		api:    mt.New(base, key, mt.WithUserAgent("mediatasks-cli/1")),
		base:   base,
		json:   f.json,
		stdout: stdout,
		stderr: stderr,
	}, nil
}

// parseArgs parses flags and positional arguments in any order and
// returns the positional ones; want is how many are needed (min, max).
func parseArgs(fs *flagSet, args []string, minArgs, maxArgs int, names string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, errHelp) {
				fs.printHelp()
				return nil, errHelp
			}
			return nil, usagef("%s: %v (see --help)", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) < minArgs {
		return nil, usagef("%s: %s required (see --help)", fs.Name(), names)
	}
	if len(pos) > maxArgs {
		return nil, usagef("%s: unexpected argument %q", fs.Name(), pos[maxArgs])
	}
	return pos, nil
}

// printJSON writes v as one line of JSON.
func (r *remote) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode output: %w", err)
	}
	_, err = fmt.Fprintf(r.stdout, "%s\n", b)
	return err
}

// printf writes human output.
func (r *remote) printf(format string, args ...any) {
	fmt.Fprintf(r.stdout, format, args...)
}

// printError writes a failed command's error on w: a problem of the API
// as its title and detail, then one "field: message" line per field.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "mediatasks: %v\n", err)
	var p *mt.Problem
	if !errors.As(err, &p) {
		return
	}
	for _, fe := range p.Errors {
		fmt.Fprintf(w, "%s: %s\n", fe.Field, fe.Message)
	}
	if p.Status == 401 {
		fmt.Fprintln(w, "the API key was refused: give a valid one with --key, MEDIATASKS_API_KEY or --key-file")
	}
	if p.Health != nil {
		for _, name := range sortedKeys(p.Health.Components) {
			if c := p.Health.Components[name]; c.Status == "down" {
				fmt.Fprintf(w, "%s: down: %s\n", name, c.Error)
			}
		}
	}
}

// remoteCommands are the commands that call a server's API.
var remoteCommands = map[string]func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error{
	"submit":     submitCmd,
	"get":        getCmd,
	"list":       listCmd,
	"cancel":     cancelCmd,
	"watch":      watchCmd,
	"batch":      batchCmd,
	"download":   downloadCmd,
	"deliveries": deliveriesCmd,
	"retry":      retryCmd,
	"webhooks":   webhooksCmd,
	"stats":      statsCmd,
	"health":     healthCmd,
	"prompts":    promptsCmd,
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress shows how far work has gone: a bar redrawn in place on a
// terminal, otherwise a plain line each time what it shows changes.
type progress struct {
	w    io.Writer
	tty  bool
	last string
	open bool // a bar is drawn and not ended by a newline
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w)}
}

const barWidth = 30

// show draws done (0 to 1) with a label and a status.
func (p *progress) show(label string, done float64, status string) {
	done = min(max(done, 0), 1)
	pct := int(done * 100)
	if p.tty {
		n := int(done * barWidth)
		fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %-10s", label, strings.Repeat("#", n), strings.Repeat(".", barWidth-n), pct, status)
		p.open = true
		return
	}
	line := fmt.Sprintf("%s %s %d%%", label, status, pct)
	if line != p.last {
		fmt.Fprintln(p.w, line)
		p.last = line
	}
}

// end finishes a bar's line.
func (p *progress) end() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}
