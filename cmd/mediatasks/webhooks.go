package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/videoai/mediatasks/shared/app"
	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/store/sqlitestore"
	"github.com/videoai/mediatasks/shared/webhook"
)

// startWebhooks builds the deliverer over the store's durable deliveries:
// the store wakes it after each commit that created deliveries.
func startWebhooks(ctx context.Context, cfg config.Config, allowPrivate bool, store *sqlitestore.Store, a *app.App, log *slog.Logger) (*webhook.Deliverer, error) {
	d, err := webhook.New(webhook.Options{
		Store:        store,
		Present:      a.PresentEvent,
		Schedule:     cfg.Webhooks.RetrySchedule,
		Timeout:      cfg.Webhooks.Timeout,
		AllowPrivate: allowPrivate,
		Now:          time.Now,
		Log:          log,
	})
	if err != nil {
		return nil, err
	}
	store.OnDeliveries(d.Notify)
	// This process is the only one delivering from this database:
	// attempts a crash cut short are due again now, not after their lease.
	if n, err := store.ReleaseDeliveryLeases(ctx, time.Now()); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("webhooks: deliveries interrupted by the last stop are due again", "count", n)
	}
	a.Metrics.Registry.MustRegister(d.Collector())
	return d, nil
}
