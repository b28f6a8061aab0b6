package ffmpeg_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/videoai/mediatasks/shared/config"
	"github.com/videoai/mediatasks/shared/provider"
	"github.com/videoai/mediatasks/shared/provider/ffmpeg"
	"github.com/videoai/mediatasks/shared/task"
)

// A video rendered on this machine: start, poll until done, and the
// clip and its poster come back as the result's two files.
func Example() {
	cfg := config.Provider{Name: "ffmpeg", Type: ffmpeg.Type, TaskTypes: []task.Type{task.TypeVideoGeneration},
		Options: json.RawMessage(`{"max_jobs": 1, "timeout_seconds": 120}`)}
	if err := ffmpeg.Available(cfg); err != nil {
		fmt.Println("not here:", err) // the platform falls back to the sim
		return
	}
	p, err := ffmpeg.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	req := provider.Request{TaskID: "tsk_1", Type: task.TypeVideoGeneration,
		Input: json.RawMessage(`{"prompt": "rain on a window", "duration_seconds": 5, "aspect_ratio": "16:9"}`)}
	resp, err := p.Start(ctx, req)
	job := resp.Job
	for err == nil && !resp.Done() {
		time.Sleep(resp.PollAfter)
		resp, err = p.Poll(ctx, req, job)
	}
	if err != nil {
		fmt.Println(provider.ErrorName(err), err)
		return
	}
	for _, f := range resp.Result.Files {
		fmt.Println(f.ContentType, len(f.Data) > 0)
	}
	fmt.Println("simulated still:", resp.Result.Extra["simulated_still"])
}
