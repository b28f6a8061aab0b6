package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/videoai/mediatasks/shared/auth"
)

const keysUsage = `mediatasks keys create --data DIR --user NAME

Creates an API key for user NAME and prints it, alone, on standard output.
Only the key's hash is stored: the key cannot be shown again. The server
need not be stopped.
`

func validUserName(name string) error {
	if !auth.ValidUserName(name) {
		return usagef("user name %q: must be 1 to 64 characters of A-Z a-z 0-9 . _ @ -", name)
	}
	return nil
}

func keys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && isHelp(args[0]) {
			fmt.Fprint(stdout, keysUsage)
			return errHelp
		}
		fmt.Fprint(stderr, keysUsage)
		if len(args) == 0 {
			return usagef("keys: a subcommand is required (create)")
		}
		return usagef("keys: unknown subcommand %q", args[0])
	}
	fs := newFlagSet("keys create", keysUsage, stdout)
	data := fs.String("data", "", "the data folder of the server (required)")
	user := fs.String("user", "", "the user the key acts as: 1-64 characters of [A-Za-z0-9._@-] (required)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *data == "" {
		return usagef("keys create: --data is required")
	}
	if err := validUserName(*user); err != nil {
		return err
	}
	d, err := openData(ctx, *data, "", nil)
	if err != nil {
		return err
	}
	defer d.Close()
	key, err := createKey(ctx, d.store, *user)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, key)
	return err
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

// createKey makes a key for user and stores its hash.
func createKey(ctx context.Context, ks auth.KeyStore, user string) (string, error) {
	key, rec, err := auth.NewKey(user, time.Now().UTC())
	if err != nil {
		return "", err
	}
	if err := ks.CreateAPIKey(ctx, rec); err != nil {
		return "", fmt.Errorf("store api key: %w", err)
	}
	return key, nil
}

// firstKeyUser owns the key made for a data folder that has none.
const firstKeyUser = "local"

// ensureKey makes a first API key when the store has none, so that a new
// installation can be used at once: it is written to DATA/api-key (mode
// 0600) and only the file's path is logged.
func ensureKey(ctx context.Context, ks auth.KeyStore, dataPath string, log *slog.Logger) error {
	n, err := ks.CountAPIKeys(ctx)
	if err != nil {
		return fmt.Errorf("count api keys: %w", err)
	}
	if n > 0 {
		return nil
	}
	key, rec, err := auth.NewKey(firstKeyUser, time.Now().UTC())
	if err != nil {
		return err
	}
	path := filepath.Join(dataPath, apiKeyFile)
	// The file first: a key stored but never written out would be lost,
	// and leave the folder with a key nobody has.
	if err := writeReplace(path, []byte(key+"\n")); err != nil {
		return fmt.Errorf("write api key file: %w", err)
	}
	if err := ks.CreateAPIKey(ctx, rec); err != nil {
		return fmt.Errorf("store api key: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	log.InfoContext(ctx, "created the first API key, for user "+firstKeyUser+"; it is in "+abs,
		"user", firstKeyUser, "key_id", rec.ID, "path", abs)
	return nil
}
