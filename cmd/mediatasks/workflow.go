package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow"
	"github.com/videoai/mediatasks/shared/workflow/steps"
)

// providerFactories are the provider types a config may name.
var providerFactories = map[string]provider.Factory{
	"sim": sim.New,
}

// buildProviders builds the configured providers, or one sim provider per
// task type when the config lists none, so that every task type works on
// a fresh machine without an account or a key.
func buildProviders(cfg config.Config, obs provider.Observer, log *slog.Logger) (*provider.Registry, error) {
	cfgs := cfg.Providers
	if len(cfgs) == 0 {
		cfgs = sim.DefaultConfigs()
		log.Info("no providers configured: every task type runs on a simulated provider")
	}
	r, err := provider.New(cfgs, providerFactories, provider.Options{Observer: obs, Log: log})
	if err != nil {
		// A provider's bad options are the operator's mistake: exit 2.
		return nil, usagef("%v", err)
	}
	for _, tp := range task.Types {
		if len(r.Names(tp)) == 0 {
			log.Warn("no provider serves a task type: its submits are refused", "task_type", tp)
		}
	}
	return r, nil
}

// startWorkflow wires the local workflow runner into a: the registry, the
// step actions and the engine on the data folder's database.
func startWorkflow(ctx context.Context, cfg config.Config, db *sqlitedb.DB, a *app.App, store task.Store, blobs blob.Store, log *slog.Logger) (*workflow.Local, *provider.Registry, error) {
	providers, err := buildProviders(cfg, a.Metrics, log)
	if err != nil {
		return nil, nil, err
	}
	actions := steps.New(steps.Deps{App: a, Store: store, Blobs: blobs, Providers: providers, Now: time.Now, Log: log})
	runner, err := workflow.NewLocal(ctx, db, workflow.LocalOptions{
		Actions:          actions,
		Providers:        providers,
		Workers:          cfg.Workflow.Workers,
		BatchConcurrency: cfg.Workflow.BatchConcurrency,
		Now:              time.Now,
		Log:              log,
	})
	if err != nil {
		return nil, nil, err
	}
	a.SetRunner(runner)
	return runner, providers, nil
}

// providerCheck vets at submit that a provider serves the task type, and
// that a pinned one does.
func providerCheck(r *provider.Registry) func(task.Type, string) error {
	return func(typ task.Type, name string) error {
		if name == "" {
			if len(r.Names(typ)) == 0 {
				return fmt.Errorf("no provider on this server serves %s tasks", typ)
			}
			return nil
		}
		if r.Serves(name, typ) {
			return nil
		}
		serving := "none does"
		if names := r.Names(typ); len(names) > 0 {
			serving = "these do: " + strings.Join(names, ", ")
		}
		return fmt.Errorf("no provider named %q serves %s tasks (%s)", name, typ, serving)
	}
}
