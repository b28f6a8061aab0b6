// Package catalog lists the provider types a configuration may name and
// builds the registry of the configured providers, the same way for the
// local server and the cloud functions.
package catalog

import (
	"fmt"
	"log/slog"
	"maps"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/assemblyai"
	"github.com/videoai/mediatasks/shared/provider/fal"
	"github.com/videoai/mediatasks/shared/provider/ffmpeg"
	"github.com/videoai/mediatasks/shared/provider/httpapi"
	"github.com/videoai/mediatasks/shared/provider/openai"
	"github.com/videoai/mediatasks/shared/provider/piapi"
	"github.com/videoai/mediatasks/shared/provider/pocketsphinx"
	"github.com/videoai/mediatasks/shared/provider/replicate"
	"github.com/videoai/mediatasks/shared/provider/runway"
	"github.com/videoai/mediatasks/shared/provider/sdwebui"
	"github.com/videoai/mediatasks/shared/provider/sim"
	"github.com/videoai/mediatasks/shared/task"
)

// Factories are the provider types a configuration may name.
var Factories = map[string]provider.Factory{
	sim.Type:          sim.New,
	assemblyai.Type:   assemblyai.New,
	openai.Type:       openai.New,
	fal.Type:          fal.New,
	ffmpeg.Type:       ffmpeg.New,
	pocketsphinx.Type: pocketsphinx.New,
	replicate.Type:    replicate.New,
	runway.Type:       runway.New,
	piapi.Type:        piapi.New,
	sdwebui.Type:      sdwebui.New,
}

// Build builds the configured providers, or the defaults when none is
// configured (Defaults), so that every task type works with no account
// and no key. extra adds provider types to Factories (an
// embedding program's own, or a test's). An error is the operator's: a
// provider's bad options or unknown type.
func Build(cfgs []config.Provider, extra map[string]provider.Factory, obs provider.Observer, log *slog.Logger) (*provider.Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(cfgs) == 0 {
		cfgs = Defaults(log)
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
	giveStills(r)
	for _, tp := range task.Types {
		if len(r.Names(tp)) == 0 {
			log.Warn("no provider serves a task type: its submits are refused", "task_type", tp)
		}
	}
	return r, nil
}

// Defaults are the providers of a server configured with none: real work
// where this machine allows it (video on ffmpeg; transcription and
// subtitles on the pocketsphinx recogniser), images and whatever lacks its
// programs on the simulator, with a log line saying what to install.
func Defaults(log *slog.Logger) []config.Provider {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sims := map[task.Type]config.Provider{}
	for _, c := range sim.DefaultConfigs() {
		sims[c.TaskTypes[0]] = c
	}
	local := func(name, typ string, types ...task.Type) config.Provider {
		return config.Provider{Name: name, Type: typ, TaskTypes: types, Weight: 1}
	}
	video := local("ffmpeg", ffmpeg.Type, task.TypeVideoGeneration)
	speech := local("pocketsphinx", pocketsphinx.Type, task.TypeAudioTranscription, task.TypeSubtitleGeneration)
	out := []config.Provider{sims[task.TypeImageGeneration]}
	if err := ffmpeg.Available(video); err != nil {
		log.Warn("video runs on the simulator: ffmpeg is missing (apt-get install ffmpeg, or make run as root)", "err", err)
		out = append(out, sims[task.TypeVideoGeneration])
	} else {
		out = append(out, video)
	}
	if err := pocketsphinx.Available(speech); err != nil {
		log.Warn("transcription and subtitles run on the simulator: the recogniser is missing (apt-get install pocketsphinx pocketsphinx-en-us ffmpeg, or make run as root)", "err", err)
		out = append(out, sims[task.TypeAudioTranscription], sims[task.TypeSubtitleGeneration])
	} else {
		out = append(out, speech)
	}
	log.Info("no providers configured: the defaults run", "providers", names(out))
	return out
}

func names(cfgs []config.Provider) []string {
	out := make([]string, len(cfgs))
	for i, c := range cfgs {
		out[i] = c.Name + " (" + c.Type + ")"
	}
	return out
}

// giveStills lets the ffmpeg providers start a video that names no image
// from a still the image providers make of its prompt.
func giveStills(r *provider.Registry) {
	if len(r.Names(task.TypeImageGeneration)) == 0 {
		return
	}
	stills := ffmpeg.RegistryStills(r, httpapi.NewFetcher(httpapi.Settings{Timeout: time.Minute, MaxOutputBytes: maxStillBytes}))
	for _, name := range r.Names(task.TypeVideoGeneration) {
		if p, ok := r.Provider(name); ok {
			if f, ok := p.(*ffmpeg.FFmpeg); ok {
				f.SetStillMaker(stills)
			}
		}
	}
}

// maxStillBytes caps a still an image provider answers by URL.
const maxStillBytes = 64 << 20
