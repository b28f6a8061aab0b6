package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/blob"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/catalog"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/task"
	"github.com/videoai/mediatasks/shared/workflow/local"
	"github.com/videoai/mediatasks/shared/workflow/steps"
)

// buildProviders builds the configured providers (catalog.Build); an
// error is the operator's mistake: exit 2.
func buildProviders(cfg config.Config, obs provider.Observer, log *slog.Logger) (*provider.Registry, error) {
	r, err := catalog.Build(cfg.Providers, obs, log)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return r, nil
}

// startWorkflow wires the local workflow runner into a: the registry, the
// step actions and the engine on the data folder's database.
func startWorkflow(ctx context.Context, cfg config.Config, db *sqlitedb.DB, a *app.App, store task.Store, blobs blob.Store, log *slog.Logger) (*local.Runner, *provider.Registry, error) {
	providers, err := buildProviders(cfg, a.Metrics, log)
	if err != nil {
		return nil, nil, err
	}
	actions := steps.New(steps.Deps{App: a, Store: store, Blobs: blobs, Providers: providers, Now: time.Now, Log: log})
	runner, err := local.New(ctx, db, local.Options{
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
