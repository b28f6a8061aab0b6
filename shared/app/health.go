package app

import (
	"context"
	"fmt"
	"github.com/videoai/mediatasks/shared/storage"
	"time"

	"github.com/videoai/mediatasks/shared/queue"
	"github.com/videoai/mediatasks/shared/task"
)

// ComponentHealth is one component's state in /health.
type ComponentHealth struct {
	Status string `json:"status"` // "up", "down" or "idle"
	Error  string `json:"error,omitempty"`
	Detail any    `json:"detail,omitempty"`
	// Reason is what may be said of Error in public: set for a storage
	// fault ("storage full", "storage unavailable"), whose cause is no
	// secret and tells an operator what to do.
	Reason string `json:"-"`
}

// Health is the platform's state: OK is false when a component is down.
type Health struct {
	OK         bool                       `json:"-"`
	Status     string                     `json:"status"` // "ok" or "degraded"
	Components map[string]ComponentHealth `json:"components"`
	Providers  map[string]ComponentHealth `json:"providers"`
	CheckedAt  time.Time                  `json:"checked_at"`
}

// RunnerHealth is a runner that can tell whether its workflows can start
// (the Step Functions runner: its state machines answer).
type RunnerHealth interface {
	Health(ctx context.Context) error
}

// HealthCheck checks one more component for /health: its detail, or an
// error when it is down.
type HealthCheck func(ctx context.Context) (detail any, err error)

// Health checks the store, the queue, the blob store and the workers.
func (a *App) Health(ctx context.Context) Health {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	h := Health{OK: true, Components: map[string]ComponentHealth{}, Providers: map[string]ComponentHealth{}, CheckedAt: a.now().UTC()}
	check := func(name string, err error, detail any) {
		c := ComponentHealth{Status: "up", Detail: detail}
		if err != nil {
			c = ComponentHealth{Status: "down", Error: err.Error()}
			switch {
			case storage.Full(err):
				c.Reason = "storage full"
			case storage.Unavailable(err):
				c.Reason = "storage unavailable"
			}
			h.OK = false
		}
		h.Components[name] = c
	}
	check("store", a.store.Ping(ctx), nil)
	st, err := a.tasks.Stats(ctx)
	check("queue", err, queueDetail(st))
	check("blobs", a.blobs.Ping(ctx), nil)
	h.Components["workers"] = a.workersHealth()
	if r, ok := a.runner.(RunnerHealth); ok {
		check("workflows", r.Health(ctx), nil)
	}
	for name, hc := range a.healthChecks {
		detail, err := hc(ctx)
		check(name, err, detail)
	}
	if a.providerHealth != nil {
		for name, c := range a.providerHealth(ctx) {
			h.Providers[name] = c
		}
	}
	h.Status = "ok"
	if !h.OK {
		h.Status = "degraded"
	}
	return h
}

func queueDetail(st queue.Stats) map[string]any {
	visible := map[string]int{}
	for _, p := range task.Priorities {
		visible[string(p)] = st.Visible[p]
	}
	return map[string]any{"visible": visible, "dead_letters": st.Dead, "oldest_age_seconds": st.OldestVisibleAge.Seconds()}
}

func (a *App) workersHealth() ComponentHealth {
	if a.runner == nil {
		return ComponentHealth{Status: "idle", Detail: "no workflow runner is configured: tasks stay queued"}
	}
	return ComponentHealth{Status: "up", Detail: fmt.Sprintf("dispatcher with %d workers", a.limits.DispatcherConcurrent)}
}

// Stats summarises the user's tasks.
func (a *App) Stats(ctx context.Context, userID string) (task.Stats, error) {
	s, err := a.store.Stats(ctx, userID)
	if err != nil {
		return task.Stats{}, fmt.Errorf("stats: %w", err)
	}
	return s, nil
}
