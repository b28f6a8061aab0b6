// Package catalog lists the provider types a configuration may name and
// builds the registry of the configured providers, the same way for the
// local server and the cloud functions.
package catalog

import (
	"fmt"
	"log/slog"
	"maps"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/assemblyai"
	"github.com/videoai/mediatasks/shared/provider/fal"
	"github.com/videoai/mediatasks/shared/provider/ffmpeg"
	"github.com/videoai/mediatasks/shared/provider/openai"
	"github.com/videoai/mediatasks/shared/provider/piapi"
	"github.com/videoai/mediatasks/shared/provider/replicate"
	"github.com/videoai/mediatasks/shared/provider/runway"
	"github.com/videoai/mediatasks/shared/provider/sdwebui"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/task"
)

// Factories are the provider types a configuration may name.
var Factories = map[string]provider.Factory{
	sim.Type:        sim.New,
	assemblyai.Type: assemblyai.New,
	openai.Type:     openai.New,
	fal.Type:        fal.New,
	ffmpeg.Type:     ffmpeg.New,
	replicate.Type:  replicate.New,
	runway.Type:     runway.New,
	piapi.Type:      piapi.New,
	sdwebui.Type:    sdwebui.New,
}

// Build builds the configured providers, or one simulated provider per
// task type when none is configured, so that every task type works with
// no account and no key. extra adds provider types to Factories (an
// embedding program's own, or a test's). An error is the operator's: a
// provider's bad options or unknown type.
func Build(cfgs []config.Provider, extra map[string]provider.Factory, obs provider.Observer, log *slog.Logger) (*provider.Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfgs) == 0 {
		cfgs = sim.DefaultConfigs()
		log.Info("no providers configured: every task type runs on a simulated provider")
	}
	factories := Factories
	if len(extra) > 0 {
		factories = maps.Clone(Factories)
		maps.Copy(factories, extra)
	}
	r, err := provider.New(cfgs, factories, provider.Options{Observer: obs, Log: log})
	if err != nil {
		return nil, fmt.Errorf("build providers: %w", err)
	}
	for _, tp := range task.Types {
		if len(r.Names(tp)) == 0 {
			log.Warn("no provider serves a task type: its submits are refused", "task_type", tp)
		}
	}
	return r, nil
}
