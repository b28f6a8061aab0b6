package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed while running
	exitUsage = 2 // bad flags, arguments, environment or configuration
)

// usageError is a mistake of the caller: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp: --help was asked for and printed; exit 0.
var errHelp = flag.ErrHelp

const mainUsage = `mediatasks: the asynchronous media-AI task platform on one machine.

Usage:
  mediatasks serve [--addr ADDR] [--data DIR] [--config FILE] [--webhook-allow-private]
  mediatasks keys create --data DIR --user NAME
  mediatasks load [--url URL] [--key-file FILE] [--rate N] [--duration D] [--webhook] [--json] ...
  mediatasks version

The API, on a running server (--url, --key, --key-file, --json on each):
  mediatasks submit image|video|transcribe|subtitles [--prompt P ...] [--file PATH] [--wait]
  mediatasks get ID | cancel ID | watch ID | download ID [-o DIR]
  mediatasks list [--status S] [--type T] [--limit N] [--all]
  mediatasks batch FILE.jsonl [--wait]
  mediatasks deliveries [TASK_ID] | retry DELIVERY_ID | webhooks secret|rotate
  mediatasks stats | health | prompts optimize|templates

Run "mediatasks COMMAND --help" for a command's flags.
`

// run runs the command line args (without the program name) and returns
// the exit code. getenv reads the environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mediatasks: %s\n", ue.msg)
		return exitUsage
	default:
		printError(stderr, err)
		return exitError
	}
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return usagef("a command is required")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		opts, err := parseServe(rest, getenv, stdout)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return serve(ctx, opts, getenv, stderr)
	case "keys":
		return keys(ctx, rest, stdout, stderr)
	case "load":
		opts, err := parseLoad(rest, getenv, stdout)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		return load(ctx, opts, stdout, stderr)
	case "version":
		fs := newFlagSet("version", "mediatasks version\n\nPrints the version of this build.\n", stdout)
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, mainUsage)
		return nil
	default:
		if remoteCmd, ok := remoteCommands[cmd]; ok {
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return remoteCmd(ctx, rest, getenv, stdout, stderr)
		}
		fmt.Fprint(stderr, mainUsage)
		return usagef("unknown command %q", cmd)
	}
}

// flagSet is a command's flags and the help it prints on --help.
type flagSet struct {
	*flag.FlagSet
	usage string
	out   io.Writer
}

// newFlagSet returns a flag set that reports errors instead of exiting
// and prints its help on out when asked.
func newFlagSet(name, usage string, out io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // the flag package calls it on every error: printed by parseFlags
	return &flagSet{FlagSet: fs, usage: usage, out: out}
}

func (fs *flagSet) printHelp() {
	fmt.Fprint(fs.out, fs.usage)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(fs.out, "\nFlags:")
		fs.SetOutput(fs.out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}

// parseFlags parses args; --help prints the help and returns errHelp,
// and any other mistake is a usage error.
func parseFlags(fs *flagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.printHelp()
		return errHelp
	}
	if err != nil {
		return usagef("%s: %v (see --help)", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// version is set at link time (-ldflags "-X main.version=v1.2.3"); the
// build's module version and VCS revision are used otherwise.
var version = ""

func versionString() string {
	v, rev, dirty := version, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	s := "mediatasks " + v
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "-dirty"
		}
		s += " " + rev
	}
	return s + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
