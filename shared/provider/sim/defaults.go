package sim

import (
	"encoding/json"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/task"
)

// DefaultConfigs are the providers the platform runs when the operator
// configures none: one sim per task type, paced like a real provider so
// that a demo shows progress (an image in about 300 ms; a video over three
// polls a second apart; transcripts and subtitles after one poll).
func DefaultConfigs() []config.Provider {
	p := func(name string, t task.Type, opts string) config.Provider {
		return config.Provider{Name: name, Type: Type, TaskTypes: []task.Type{t}, Weight: 1, Options: json.RawMessage(opts)}
	}
	return []config.Provider{
		p("sim-image", task.TypeImageGeneration, `{"latency_ms":300}`),
		p("sim-video", task.TypeVideoGeneration, `{"latency_ms":100,"poll_steps":3,"poll_after_ms":1000}`),
		p("sim-transcribe", task.TypeAudioTranscription, `{"latency_ms":200,"poll_steps":1,"poll_after_ms":1000}`),
		p("sim-subtitles", task.TypeSubtitleGeneration, `{"latency_ms":200,"poll_steps":1,"poll_after_ms":1000}`),
	}
}
