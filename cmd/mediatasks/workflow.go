package main

import (
	"context"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/platform"
	"github.com/videoai/mediatasks/shared/sqlitedb"
	"github.com/videoai/mediatasks/shared/workflow/local"
)

// retentionInterval is how often ended executions past their keep are
// deleted.
const retentionInterval = 10 * time.Minute

// localRunner runs the workflows on the embedded engine, in the data
// folder's database, with its executions kept local.KeepExecutions.
func localRunner(ctx context.Context, db *sqlitedb.DB, cfg config.Config) platform.NewRunner {
	return func(d platform.RunnerDeps) (app.Runner, []platform.Service, error) {
		r, err := local.New(ctx, db, local.Options{
			Actions:              d.Actions,
			Workers:              cfg.Workflow.Workers,
			BatchConcurrency:     cfg.Workflow.BatchConcurrency,
			MaxInProgress:        cfg.Workflow.MaxInProgress,
			MaxInProgressPerType: cfg.Workflow.MaxInProgressPerType,
			Now:                  d.Now,
			Log:                  d.Log,
		})
		if err != nil {
			return nil, nil, err
		}
		return r, []platform.Service{
			{Name: "workflow engine", Run: r.Run},
			{Name: "execution retention", Run: func(ctx context.Context) error {
				r.RunRetention(ctx, local.KeepExecutions, retentionInterval, d.Now)
				return nil
			}},
		}, nil
	}
}
